"""Key ``v``: the market for one symbol: each venue's quote (sizes, prices, the data's age, a stale one
marked), the consolidated best bid and offer (NBBO) and our working orders there with their queue.

``[`` and ``]`` (or Tab and Shift+Tab) move to the previous or next symbol; ``h``, ``f`` and ``r`` halt,
flatten or resume the symbol shown and ``o`` opens an order ticket for it (ui/orders.py; each asks
first); ``v`` or Escape closes the view, which reopens on the same symbol. It redraws from the
console's latest snapshot ten times a second, as every pane does.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.columns import Columns
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from hft_console.domain import Quote
from hft_console.engine.snapshot import Snapshot
from hft_console.ui.blotter import queue_text
from hft_console.ui.format import compact
from hft_console.ui.orders import Operator, symbol_command

STALE_NS = 1_000_000_000  # a quote older than this (engine time) is marked stale
MARKET_CSS = """
MarketScreen { align: center middle; }
MarketScreen #dialog { width: 100; max-width: 98%; height: auto; max-height: 98%; border: thick $accent;
    background: $surface; padding: 0 1; }
MarketScreen #title { text-style: bold; width: 100%; content-align: center middle; }
MarketScreen #hint { color: $text-muted; width: 100%; height: 1; }
"""


def age_text(ns: int) -> str:
    """How old a quote is: '850µs', '12ms', '3.2s'."""
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.0f}ms"
    return f"{ns / 1e9:.1f}s"


def nbbo(quotes: list[Quote | None]) -> tuple[float, int, float, int] | None:
    """Best bid, its size over the venues at it, best offer, its size; None while a side shows nothing."""
    bid = max((q[1] for q in quotes if q is not None and q[3] > 0), default=None)
    ask = min((q[2] for q in quotes if q is not None and q[4] > 0), default=None)
    if bid is None or ask is None:
        return None
    bsz = sum(q[3] for q in quotes if q is not None and q[1] == bid)
    asz = sum(q[4] for q in quotes if q is not None and q[2] == ask)
    return bid, bsz, ask, asz


def market_text(snap: Snapshot, sym: int) -> tuple[str, Table]:
    """The title (symbol and NBBO) and the venue table for symbol index ``sym``."""
    symbol = snap.positions[sym].symbol
    n_ven = len(snap.venues)
    quotes: list[Quote | None] = list(snap.quotes[sym * n_ven : (sym + 1) * n_ven]) if snap.quotes else [None] * n_ven
    best = nbbo(quotes)
    held = snap.held[sym] if sym < len(snap.held) else ""
    label = f"{symbol} [{held}]" if held else symbol
    title = f"{label}  NBBO — (a side shows nothing)"
    if best is not None:
        b, bs, a, as_ = best
        title = f"{label}  NBBO {b:.2f} × {compact(bs)}  |  {a:.2f} × {compact(as_)}  spread {(a - b) * 100:.1f}¢"
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("Venue", "Bid sz", "Bid", "Ask", "Ask sz", "Age"):
        table.add_column(name, justify="left" if name == "Venue" else "right", no_wrap=True)
    # the one column that gives way in a narrow view (80 columns): its orders flow onto more lines, each
    # whole, where squeezing every column would cut the prices
    table.add_column("Our orders (side price qty ahead/lvl)")
    for venue, q in zip(snap.venues, quotes, strict=True):
        ours = [o for o in snap.working if o.symbol == symbol and o.venue == venue.name]
        orders = Columns(
            [Text(f"{o.side[0]} {o.price:.2f} {compact(o.leaves)} {queue_text(o)}") for o in ours], padding=(0, 2, 0, 0)
        )
        if q is None:
            table.add_row(venue.name, "", "—", "—", "", "", orders)
            continue
        age = max(0, snap.engine_ns - q[0])
        stale = age > STALE_NS
        at_bid = best is not None and q[1] == best[0]
        at_ask = best is not None and q[2] == best[2]
        table.add_row(
            venue.name, compact(q[3]), Text(f"{q[1]:.2f}", style="bold green" if at_bid else ""),
            Text(f"{q[2]:.2f}", style="bold red" if at_ask else ""), compact(q[4]),
            Text(age_text(age) + (" stale" if stale else ""), style="yellow" if stale else ""), orders,
        )  # fmt: skip
    return title, table


class MarketScreen(ModalScreen[None]):
    """The market view over the console: one instance, installed once, keeps its symbol between opens."""

    DEFAULT_CSS = MARKET_CSS
    BINDINGS = [
        Binding("v,escape", "close", "Close"),
        Binding("right_square_bracket,tab", "move(1)", "Next symbol"),
        Binding("left_square_bracket,shift+tab", "move(-1)", "Previous symbol"),
        Binding("h", "symbol('halt')", "Halt symbol"),
        Binding("f", "symbol('flatten')", "Flatten symbol"),
        Binding("r", "symbol('resume')", "Resume symbol"),
        Binding("o", "ticket", "Order"),
    ]

    def __init__(self, snapshot: Callable[[], Snapshot | None], operator: Operator | None = None, sym: int = 0) -> None:
        """``operator``: the console's dialog and command queue (None: a view without the trading keys)."""
        super().__init__()
        self.snapshot, self.operator, self.sym = snapshot, operator, sym
        self.drawn: tuple[Snapshot | None, int, tuple[int, int] | None] = (None, -1, None)  # what is on screen

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("", id="title")
            yield Static("", id="venues")
            yield Label("[ ] Tab: symbol · h halt · f flatten · r resume · o order · v Esc: close", id="hint")

    def on_mount(self) -> None:
        self.set_interval(0.1, self.redraw)

    def on_screen_resume(self) -> None:
        self.drawn = (None, -1, None)
        self.redraw()

    def redraw(self) -> None:
        if not self.is_current:
            return
        snap = self.snapshot()
        if snap is None or not snap.positions:
            self.query_one("#title", Label).update("no market data yet")
            return
        self.sym %= len(snap.positions)
        if snap is self.drawn[0] and self.sym == self.drawn[1]:
            return
        title, table = market_text(snap, self.sym)
        # a layout pass over the screen only when the table's rows may have changed (another symbol, our
        # orders come or go): a rich Table laid out ten times a second costs the engine a tenth of its speed
        shape = (self.sym, sum(1 for o in snap.working if o.symbol == snap.positions[self.sym].symbol))
        relayout = shape != self.drawn[2]
        self.drawn = (snap, self.sym, shape)
        self.query_one("#title", Label).update(title, layout=False)
        self.query_one("#venues", Static).update(table, layout=relayout)

    def symbol_shown(self) -> str | None:
        snap = self.snapshot()
        return snap.positions[self.sym % len(snap.positions)].symbol if snap is not None and snap.positions else None

    def action_symbol(self, kind: str) -> None:
        symbol = self.symbol_shown()
        if self.operator is not None and symbol is not None:
            symbol_command(self.operator, kind, symbol)

    def action_ticket(self) -> None:
        symbol = self.symbol_shown()
        if self.operator is not None and symbol is not None:
            self.operator.open_ticket(symbol)

    def action_move(self, step: int) -> None:
        self.sym += step
        self.redraw()

    def action_close(self) -> None:
        self.dismiss(None)
