"""The blotter: every working order of the session (``Snapshot.working``), one row each, toggled with ``b``.

Rows come in the snapshot's fixed order (``engine.snapshot.blotter_key``: symbol, buys before sells, best
price first, then order id), so a row never jumps while its order lives; columns only grow, as on the
trades tape. Like every pane it redraws only when its text changes.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from hft_console.engine.snapshot import Snapshot, WorkingOrderView
from hft_console.money import dollars
from hft_console.ui.format import columns, compact, grow_widths, lines
from hft_console.ui.panes import FRAME_H, FRAME_W, TAPE_MIN_ROWS, Pane, fit, header

# orders the blotter shows at least, or the layout gives it more room; as many as the tape's trades, since
# the two split their column evenly (both 1fr) and neither may fall below what it needs
BLOTTER_MIN_ROWS = TAPE_MIN_ROWS
EMPTY = "no working orders"
# short names for the order states a working order can be in (OrderStatus values), so the column stays narrow
STATE_LABEL = {
    "PENDING_NEW": "pend new",  # sent, not acknowledged yet
    "ACCEPTED": "open",
    "PARTIALLY_FILLED": "partial",
    "PENDING_CANCEL": "pend cxl",
    "PENDING_REPLACE": "pend rpl",
    "REPLACED": "replaced",
}
TYPE_LABEL = {"POST_ONLY": "POST", "MID_PEG": "PEG"}  # IOC and LIMIT as they are
ORDER_STATE_STYLE = {"PENDING_NEW": "yellow", "PARTIALLY_FILLED": "cyan", "PENDING_CANCEL": "yellow",
               "PENDING_REPLACE": "yellow"}  # fmt: skip


def age_text(ms: float) -> str:
    """An order's age as a desk reads it: '850ms', '12.3s', '4m05s', '1h02m'."""
    if ms < 1000:
        return f"{ms:.0f}ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f}s"
    m, s_int = divmod(int(s), 60)
    return f"{m}m{s_int:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def queue_text(o: WorkingOrderView) -> str:
    """Shares ahead / shares displayed at its price ('1.2k/3.4k'); '—' while it has not joined a queue (a
    take, or a post not yet accepted); 'ahead/—' behind the touch, where the feed shows no size."""
    if o.order_type == "IOC" or o.state == "PENDING_NEW":
        return "—"
    if o.level_total < 0:
        return f"{compact(o.queue_ahead)}/—"
    return f"{compact(o.queue_ahead)}/{compact(o.level_total)}"


class BlotterPane(Pane):
    """Venue, symbol, side, type, price, size, filled, state, queue ahead / level total and age of every
    working order; the title counts them, the subtitle says how many did not fit."""

    HEADS = ("Venue", "Sym", "B/S", "Type", "Price", "Qty", "Fill", "State", "Ahead/lvl", "Age")
    ALIGN = ("<", "<", "<", "<", ">", ">", ">", "<", ">", ">")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._widths = [len(h) for h in self.HEADS]
        # room for typical values from the start (type LIMIT, price 100.00, state "pend new", age "12m03s")
        self._widths[3:10] = [5, 6, 5, 5, 8, 9, 6]

    @staticmethod
    def cells(o: WorkingOrderView) -> list[str | Text]:
        buy = o.side == "BUY"
        return [
            o.venue,
            o.symbol,
            Text("B" if buy else "S", style="green" if buy else "red"),
            TYPE_LABEL.get(o.order_type, o.order_type),
            dollars(o.price),
            f"{o.qty:,}",
            f"{o.filled:,}" if o.filled else "",
            Text(STATE_LABEL.get(o.state, o.state.lower()), style=ORDER_STATE_STYLE.get(o.state, "")),
            queue_text(o),
            age_text(o.age_ms),
        ]

    def _grow(self, snap: Snapshot, rows: list[list[str | Text]]) -> list[int]:
        """Column widths: wide enough for every value seen so far (they only grow, so nothing jumps)."""
        w = self._widths
        w[0] = max([w[0], *(len(v.name) for v in snap.venues)])
        w[1] = max([w[1], *(len(p.symbol) for p in snap.positions)])
        return grow_widths(w, rows)

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        return sum(self._grow(snap, [])) + len(self.HEADS) - 1 + FRAME_W, 1 + BLOTTER_MIN_ROWS + FRAME_H

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        page = max(1, self.size.height - 1)
        view = snap.working[:page]
        total = len(snap.working) + snap.working_more
        cells = [self.cells(o) for o in view]
        widths = self._grow(snap, cells)
        r = snap.resting
        self.border_title = fit(
            [f"Working orders  {total:,}  ({r.orders:,} resting)", f"Working orders  {total:,}", "Orders"],
            self.frame_text_width,
        )
        more = total - len(view)
        hint = [f"{more:,} more not shown · b hides", f"{more:,} more not shown", f"+{more:,}"] if more else ["b hides"]
        self.border_subtitle = fit(hint, self.frame_text_width)
        rows = [header(*zip(self.HEADS, widths, self.ALIGN, strict=True))]
        if not view:
            rows.append(Text(EMPTY, style="grey50"))
        for row in cells:
            rows.append(columns(list(zip(row, widths, self.ALIGN, strict=True))))
        self.put(lines(rows))
