"""The one rounding rule for money shown to people: console, headless output and reports.

A figure is first rounded to 4 decimal places, as ``summary.json`` records it, so that binary float
noise (-7.58500000001 or -7.58499999999) never decides a half cent; the result is then rounded to the
shown precision half away from zero (-7.585 -> -7.59, 7.585 -> 7.59), the convention of a trade
ticket. Every place that shows dollars goes through :func:`dollars` or :func:`money`, so the console,
the printed summary and ``summary.json`` always agree.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

RECORDED_PLACES = 4  # what summary.json keeps


def rounded(value: float, places: int = 2) -> Decimal:
    """``value`` at ``places`` decimals by the rule above (ROUND_HALF_UP is half away from zero)."""
    recorded = Decimal(repr(round(value, RECORDED_PLACES)))
    return recorded.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def dollars(value: float, places: int = 2) -> str:
    """An unsigned amount with thousands separators: 5000000 -> '5,000,000.00'; 'n/a' when not finite."""
    if not math.isfinite(value):
        return "n/a"
    return f"{abs(rounded(value, places)):,.{places}f}"


def amount(value: float, plus: bool = False, places: int = 2) -> str:
    """A signed amount without '$' (for a column headed in $): '-7.59', '1,234.57', '+0.50' with ``plus``."""
    if not math.isfinite(value):
        return "n/a"
    q = rounded(value, places)
    sign = "-" if q < 0 else "+" if plus else ""
    return f"{sign}{abs(q):,.{places}f}"


def money(value: float, signed: bool = True) -> str:
    """'+$1,234.57' / '-$7.59' ('$' next to the number); ``signed=False`` drops only the '+'. Zero is '+$0.00'.

    The sign is the rounded figure's, so -0.001 shows as '+$0.00', never as '-$0.00'.
    """
    if not math.isfinite(value):
        return "n/a"
    cents = rounded(value)
    text = f"${abs(cents):,.2f}"
    if cents < 0:
        return "-" + text
    return "+" + text if signed else text


def sign_of(value: float) -> int:
    """-1, 0 or 1: the sign of ``value`` as shown in cents (colours follow what is shown)."""
    if not math.isfinite(value):
        return 0
    cents = rounded(value)
    return (cents > 0) - (cents < 0)
