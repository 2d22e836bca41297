"""The blotter: every working order of the session (``Snapshot.working``), one row each, toggled with ``b``.

Rows come in the snapshot's fixed order (``engine.snapshot.blotter_key``: symbol, buys before sells, best
price first, then order id), so a row never jumps while its order lives; columns only grow, as on the
trades tape. Like every pane it redraws only when its text changes.

While it is open, ``/`` filters it (every word must match the order's venue, symbol, side, type or state:
``NYSE partial``, ``AAPL pend``) and PgDn/PgUp/Home/End page it. Both cover the first
``WORKING_SHOWN`` working orders the snapshot lists; the rest are counted in the title.
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

    filter: str = ""  # key / while open: only orders matching every word; empty: all
    first_row: int = 0  # the first row shown, of the orders the filter lets through (paging)

    def matches(self, o: WorkingOrderView) -> bool:
        """Every word of the filter names the order's venue, symbol, side (BUY/B, SELL/S), type (IOC, LIMIT,
        POST, PEG), state (open, partial, pending or pend, cxl, rpl, or the state's own name), any case."""
        label = STATE_LABEL.get(o.state, o.state.lower())
        names = {o.venue, o.symbol, o.side, o.side[0], o.order_type, TYPE_LABEL.get(o.order_type, o.order_type),
                 o.state, *label.split(), *(("PENDING",) if o.state.startswith("PENDING") else ())}  # fmt: skip
        names = {n.upper() for n in names}
        return all(word in names for word in self.filter.upper().replace(",", " ").split())

    def shown_orders(self, snap: Snapshot) -> tuple[WorkingOrderView, ...]:
        return tuple(o for o in snap.working if self.matches(o)) if self.filter else snap.working

    def set_filter(self, text: str) -> None:
        self.filter, self.first_row = text.strip(), 0
        self.redraw()

    def page_by(self, rows: int) -> None:
        """Positive: further down the list; Home (``-inf``) the top, End the last page."""
        total = len(self.shown_orders(self.last[0])) if self.last is not None else 0
        page = max(1, self.size.height - 1)
        self.first_row = max(0, min(self.first_row + rows, total - page))
        self.redraw()

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
        orders = self.shown_orders(snap)
        self.first_row = max(0, min(self.first_row, len(orders) - page))
        view = orders[self.first_row : self.first_row + page]
        total = len(snap.working) + snap.working_more
        cells = [self.cells(o) for o in view]
        widths = self._grow(snap, cells)
        r = snap.resting
        title = [f"Working orders  {total:,}  ({r.orders:,} resting)", f"Working orders  {total:,}", "Orders"]
        if self.filter:
            title = [f"Orders  {len(orders):,} of {total:,} · /{self.filter}", f"Orders /{self.filter}", *title]
        self.border_title = fit(title, self.frame_text_width)
        more = len(orders) - len(view) + (0 if self.filter else snap.working_more)
        where = f"rows {self.first_row + 1:,}–{self.first_row + len(view):,} · " if self.first_row else ""
        hint = (
            [f"{where}{more:,} more not shown · b hides", f"{more:,} more not shown", f"+{more:,}"]
            if more
            else ["b hides"]
        )
        self.border_subtitle = fit(hint, self.frame_text_width)
        rows = [header(*zip(self.HEADS, widths, self.ALIGN, strict=True))]
        if not view:
            rows.append(Text(f"no working order matches /{self.filter}" if self.filter else EMPTY, style="grey50"))
        for row in cells:
            rows.append(columns(list(zip(row, widths, self.ALIGN, strict=True))))
        self.put(lines(rows))
