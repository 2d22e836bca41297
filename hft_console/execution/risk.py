"""Pre-trade risk on every child order, and the engine's trading state.

Checks run in a fixed order and the first failure denies the order with a reason code: order size,
price against the consolidated mid, position per symbol (orders in flight included), gross portfolio
notional, order rate (a rolling one-second window that denies, never queues, so a kill switch cannot
be outrun by a backlog), and the trading state last. Orders that reduce exposure (toward zero, never
through it) pass the position and notional checks even above a limit, so a desk over its limit can
always get back under it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import fields, replace

from hft_console.domain import EngineState
from hft_console.settings import RiskSettings

LIMIT_REASONS = ("MAX_ORDER_QTY", "PRICE_DEVIATION", "POSITION_LIMIT", "NOTIONAL_LIMIT", "ORDER_RATE")
DENY_REASONS = (*LIMIT_REASONS, "HALTED", "REDUCING")
LIMIT_NAMES = tuple(f.name for f in fields(RiskSettings))


class RiskManager:
    """Pre-trade checks and limits. ``state`` is read here and written only by the engine's
    ``TradingDesk`` (engine/commands.py), which journals every change."""

    def __init__(self, limits: RiskSettings, caps: RiskSettings) -> None:
        self.limits, self.caps = limits, caps
        self.state = EngineState.ACTIVE
        self.denied = dict.fromkeys(DENY_REASONS, 0)
        self.breaker_trips = 0
        self.sent: deque[int] = deque()

    @property
    def breaches(self) -> int:
        """Limits hit: denials by a limit check plus circuit-breaker trips. Orders refused only
        because trading is halted or reducing are denials, not breaches."""
        return sum(self.denied[r] for r in LIMIT_REASONS) + self.breaker_trips

    def orders_last_second(self, now_ns: int) -> int:
        sent = self.sent
        while sent and sent[0] <= now_ns - 1_000_000_000:
            sent.popleft()
        return len(sent)

    def check(
        self,
        now_ns: int,
        side: int,
        qty: int,
        limit_price: float,
        position: int,
        working_buy: int,
        working_sell: int,
        mid: float,
        gross_notional: float,
    ) -> str | None:
        """None when the order may go, else the reason it is denied (and counted).

        ``working_*`` are shares in flight in the symbol; ``mid`` its consolidated mid;
        ``gross_notional`` the whole portfolio's at the consolidated mids, orders in flight included.
        An order that moves the position toward zero without crossing it passes the position and
        notional checks even above a limit.
        """
        reason = self._first_failure(
            now_ns, side, qty, limit_price, position, working_buy, working_sell, mid, gross_notional
        )
        if reason is None:
            self.sent.append(now_ns)
        else:
            self.denied[reason] += 1
        return reason

    def _first_failure(
        self,
        now_ns: int,
        side: int,
        qty: int,
        limit_price: float,
        pos: int,
        working_buy: int,
        working_sell: int,
        mid: float,
        gross_notional: float,
    ) -> str | None:
        lim = self.limits
        if qty > lim.max_order_qty:
            return "MAX_ORDER_QTY"
        if mid <= 0 or abs(limit_price - mid) / mid * 1e4 > lim.max_price_deviation_bps:
            return "PRICE_DEVIATION"
        before = pos + working_buy if side > 0 else pos - working_sell
        worst = before + side * qty
        reduces = (before > 0 and 0 <= worst < before) or (before < 0 and before < worst <= 0)
        if not reduces and abs(worst) > lim.max_position:
            return "POSITION_LIMIT"
        if not reduces and gross_notional + qty * mid > lim.max_notional:
            return "NOTIONAL_LIMIT"
        if self.orders_last_second(now_ns) >= lim.max_orders_per_s:
            return "ORDER_RATE"
        if self.state is EngineState.HALTED:
            return "HALTED"
        if self.state is EngineState.REDUCING:
            # worst case: orders in flight that reduce may all fill, those that add may all miss
            reducible = pos - working_sell if side < 0 else -pos - working_buy
            if qty > reducible:
                return "REDUCING"
        return None

    def breaker_hit(self, total_pnl: float) -> bool:
        """True when total P&L is below -max_loss while trading is not halted: a trip, counted. The
        caller halts (engine/commands.py ``TradingDesk.on_breaker``, the one place the trading state
        changes), so a trip is seen once."""
        if total_pnl < -self.limits.max_loss and self.state is not EngineState.HALTED:
            self.breaker_trips += 1
            return True
        return False

    def set_limit(self, name: str, raw: object) -> str | None:
        """Apply an operator's limit edit; None when accepted, else why it was refused (nothing changes)."""
        value, error = validate_limit(name, raw, self.caps)
        if error is not None or value is None:
            return error
        self.limits = replace(self.limits, **{name: value})  # type: ignore[arg-type]
        return None


INTEGER_LIMITS = ("max_position", "max_order_qty", "max_orders_per_s")


def validate_limit(name: str, raw: object, caps: RiskSettings) -> tuple[float | None, str | None]:
    """Parse an operator's value for limit ``name``: (value, None) or (None, why it is refused).

    Accepts numbers or text with thousands separators; refuses non-numbers, zero or less, fractions
    where shares or counts are meant, and anything above the hard cap in ``[risk_caps]``.
    """
    if name not in LIMIT_NAMES:
        return None, f"unknown limit {name!r}: expected one of {', '.join(LIMIT_NAMES)}"
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return None, f"{name}: {raw!r} is not a number"
    try:
        value = float(raw.replace(",", "").replace("_", "").strip()) if isinstance(raw, str) else float(raw)
    except ValueError:
        return None, f"{name}: {raw!r} is not a number"
    if value != value or value <= 0:
        return None, f"{name}: {raw!r} must be greater than 0"
    if name in INTEGER_LIMITS and not value.is_integer():
        return None, f"{name}: {raw!r} must be a whole number"
    cap = getattr(caps, name)
    if value > cap:
        plain = f"{cap:,.4f}".rstrip("0").rstrip(".")  # 50,000,000 rather than 5e+07
        return None, f"{name}: {raw!r} is above the hard cap {plain}"
    return (int(value) if name in INTEGER_LIMITS else value), None
