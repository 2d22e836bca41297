"""Rich renderables for the panes: pure functions of snapshot values, so they are easy to test."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from hft_console import money as rule

SPARK = "▁▂▃▄▅▆▇█"
# the heatmap's four bands (p95 against the calm round trip: <=1.5x, <=3x, <=6x, above); ui/theme.py swaps them.
# 256-colour names, which the ANSI theme does not remap, hence a table of their own
HEAT_STYLES = ["on green4", "on yellow3", "on dark_orange", "on red3"]
STATE_STYLE = {"ACTIVE": "bold black on green", "REDUCING": "bold black on yellow", "HALTED": "bold white on red"}


def money(value: float, width: int = 0) -> Text:
    """Signed dollars by the one rounding rule (hft_console.money), green above zero, red below."""
    sign = rule.sign_of(value)
    style = "green" if sign > 0 else "red" if sign < 0 else ""
    return Text(rule.money(value).rjust(width), style=style)


def pnl_cell(value: float, width: int = 11) -> Text:
    """Trade P&L with a green or red background, as on the seed's tape."""
    sign = rule.sign_of(value)
    style = "black on green" if sign > 0 else "white on red" if sign < 0 else ""
    return Text(rule.money(value).rjust(width), style=style)


def gauge(fraction: float, width: int) -> Text:
    """A usage bar: green below 70%, yellow below 90%, red from there (and beyond 100%)."""
    width = max(width, 1)
    filled = min(width, round(max(fraction, 0.0) * width))
    style = "green" if fraction < 0.7 else "yellow" if fraction < 0.9 else "bold red"
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="grey37")


def sparkline(values: Sequence[float], width: int) -> Text:
    """Block-character sparkline of the last ``width`` values, green when the last is >= 0."""
    data = list(values)[-width:]
    if not data:
        return Text("")
    lo, hi = min(data), max(data)
    span = hi - lo or 1.0
    chars = "".join(SPARK[min(7, int((v - lo) / span * 7.999))] for v in data)
    return Text(chars, style="green" if data[-1] >= 0 else "red")


def latency_style(p95_us: float | None, calm_rt_us: float, timeouts: int) -> tuple[str, str]:
    """Heatmap cell (character, style): p95 against the venue's calm round trip; X for timeouts."""
    if timeouts and p95_us is None:
        return "X", "bold white on magenta"
    if p95_us is None:
        return "·", "grey30"
    ratio = p95_us / calm_rt_us if calm_rt_us > 0 else 1.0
    calm, slow, slower, slowest = HEAT_STYLES
    style = calm if ratio <= 1.5 else slow if ratio <= 3 else slower if ratio <= 6 else slowest
    return ("x" if timeouts else " "), style


def heat_row(cells: Sequence[tuple[float | None, float | None, int, int] | None], calm_rt_us: float) -> Text:
    row = Text()
    for cell in cells:
        if cell is None:
            row.append("·", style="grey30")
            continue
        char, style = latency_style(cell[1], calm_rt_us, cell[3])
        row.append(char, style=style)
    return row


def compact(value: float, money: bool = False) -> str:
    """12,345 -> 12.3k; 5,000,000 -> 5.0M: gauges fit narrow panes (rounded by the one money rule)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    prefix = "$" if money else ""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if rule.rounded(value / div, 1) >= 1:
            return f"{sign}{prefix}{rule.dollars(value / div, 1)}{unit}"
    return f"{sign}{prefix}{rule.dollars(value, 0)}"


def quantity(value: float) -> str:
    """A limit or count as people write it: 5000000 -> '5,000,000', 2.5 -> '2.5' (never '5e+06')."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def micros(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:,.1f}ms" if value >= 10_000 else f"{value:,.0f}µs"


def clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def session_time(ts_ns: int, hours: bool = True) -> str:
    """Session time with milliseconds: '00:01:04.839', or '01:04.839' without hours (sessions under an hour)."""
    ms = ts_ns // 1_000_000
    text = f"{clock(ms // 1000)}.{ms % 1000:03d}"
    return text if hours else text[3:]


Cell = tuple["str | Text", int, str]  # value, width, "<" or ">"


def columns(cells: Sequence[Cell]) -> Text:
    """One fixed-width row: far cheaper to render at 10 Hz than a rich Table."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, (value, width, align) in enumerate(cells):
        text = value.copy() if isinstance(value, Text) else Text(value)
        text.truncate(width, overflow="ellipsis")
        pad = " " * (width - text.cell_len)
        if align == ">":
            out.append(pad)
            out.append_text(text)
        else:
            out.append_text(text)
            out.append(pad)
        if i < len(cells) - 1:
            out.append(" ")
    return out


def lines(rows: Sequence[Text]) -> Text:
    return Text("\n", no_wrap=True).join(rows)


def grow_widths(widths: list[int], rows: Sequence[Sequence[str | Text]]) -> list[int]:
    """Widen ``widths`` (in place) to fit every cell of ``rows``; columns only grow, so nothing jumps."""
    for row in rows:
        for i, cell in enumerate(row):
            n = cell.cell_len if isinstance(cell, Text) else len(cell)
            if n > widths[i]:
                widths[i] = n
    return widths
