"""The operator's own hand: an order ticket (key ``o``) and per-symbol halt, flatten and resume (keys
``h``, ``f``, ``r`` in the market view). Each asks for confirmation, then goes to the engine as a command
(execution/manual.py carries it out through the same risk checks and journals it as the operator's).

The ticket is one line, as an order line on a trading screen is typed::

    buy 100 AAPL                    market (IOC at the touch), the router picks the venues
    sell 200 msft limit 401.25      IOC at that limit
    b 50 AAPL post 189.90 at NYSE   rests at 189.90 on NYSE until filled or cancelled

Words: ``buy``/``b``/``sell``/``s``, a quantity, a symbol, ``market``/``mkt`` (the default), ``limit``/``lmt``
PRICE or ``post`` PRICE, and ``at VENUE`` (or a bare venue name), or ``router`` (the default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from hft_console.execution.manual import ManualOrder, parse_order

TICKET_CSS = """
OrderTicket { align: center middle; }
OrderTicket #dialog { width: 76; height: auto; max-width: 96%; border: thick $warning; background: $surface;
    padding: 0 1; }
OrderTicket #title { text-style: bold; width: 100%; }
OrderTicket #preview { height: auto; }
OrderTicket #preview.bad { color: $error; }
OrderTicket #hint { color: $text-muted; height: auto; }
"""
SIDES = {"buy": "buy", "b": "buy", "sell": "sell", "s": "sell"}
KINDS = {"market": "market", "mkt": "market", "limit": "limit", "lmt": "limit", "post": "post"}


class Operator(Protocol):
    """What the console offers these screens: its one confirmation dialog and its command queue."""

    def ask(self, title: str, message: str, on_yes: Callable[[], None], danger: bool = True) -> None: ...

    def send(self, kind: str, **args: object) -> bool: ...

    def open_ticket(self, symbol: str = "") -> None: ...


def ticket_args(text: str, symbols: list[str], venues: list[str]) -> dict[str, object] | str:
    """The command arguments of a typed ticket line, or what in it is not understood."""
    args: dict[str, object] = {"type": "market", "venue": "router"}
    words = text.replace("@", " at ").split()
    by_venue = {v.upper(): v for v in venues}
    i = 0
    while i < len(words):
        word, low = words[i], words[i].lower()
        nxt = words[i + 1] if i + 1 < len(words) else None
        if low in SIDES and "side" not in args:
            args["side"] = SIDES[low]
        elif word.replace(",", "").replace("_", "").isdigit() and "qty" not in args:
            args["qty"] = word
        elif low in KINDS:
            args["type"] = KINDS[low]
            if args["type"] != "market":
                if nxt is None:
                    return f"{word}: a price must follow"
                args["limit"], i = nxt, i + 1
        elif low == "at":
            if nxt is None:
                return "at: a venue (or router) must follow"
            args["venue"], i = by_venue.get(nxt.upper(), "router" if nxt.lower() == "router" else nxt), i + 1
        elif low == "router" or word.upper() in by_venue:
            args["venue"] = "router" if low == "router" else by_venue[word.upper()]
        elif word.upper() in symbols and "symbol" not in args:
            args["symbol"] = word.upper()
        else:
            return f"{word!r} is not a side, quantity, symbol, order type, price or venue"
        i += 1
    for field, example in (("side", "buy or sell"), ("qty", "a number of shares"), ("symbol", ", ".join(symbols))):
        if field not in args:
            return f"no {field}: expected {example}"
    return args


def ticket_text(order: ManualOrder, symbols: list[str], venues: list[str]) -> str:
    """One line an operator confirms: 'BUY 100 AAPL LIMIT 190.01 (IOC) at NASDAQ'."""
    how = {"market": "MARKET (IOC at the touch)", "limit": "LIMIT {:.2f} (IOC)", "post": "LIMIT {:.2f} (rests, DAY)"}
    kind = how[order.kind].format(order.limit)
    where = "the router picks the venues" if order.venue < 0 else f"at {venues[order.venue]}"
    if order.kind == "post" and order.venue < 0:
        where = "the posting rule picks the venue"
    return f"{order.side.label} {order.qty:,} {symbols[order.sym]} {kind}, {where}"


class OrderTicket(ModalScreen[None]):
    """Type a ticket; Enter asks for confirmation, then sends it; Escape closes without sending."""

    DEFAULT_CSS = TICKET_CSS
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, operator: Operator, symbols: list[str], venues: list[str], tick: float, start: str = "") -> None:
        super().__init__()
        self.operator, self.symbols, self.venues, self.tick, self.start = operator, symbols, venues, tick, start
        self.sent = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("ORDER TICKET (the operator's own order, through the risk checks)", id="title")
            # the symbol the market view filled in stays: typing goes after it, not over it
            yield Input(self.start, placeholder="buy 100 AAPL limit 190.01 at NYSE", id="ticket", select_on_focus=False)
            yield Static("", id="preview")
            venues = " ".join(self.venues)
            yield Static(
                f"side qty symbol [market | limit PRICE | post PRICE] [at VENUE | router]\nvenues: {venues}\n"
                "Enter: review and confirm · Esc: close",
                id="hint",
            )

    def on_mount(self) -> None:
        self.preview(self.start)

    def configure(self, start: str) -> None:
        """Open again with ``start`` typed (the console installs one ticket and reuses it: a new screen
        on every press costs a key tens of milliseconds)."""
        self.start, self.sent = start, False
        if self.is_mounted:
            field = self.query_one(Input)
            field.value = start
            field.cursor_position = len(start)
            self.preview(start)

    def parsed(self, text: str) -> ManualOrder | str:
        args = ticket_args(text, self.symbols, self.venues)
        return args if isinstance(args, str) else parse_order(args, self.symbols, self.venues, self.tick)

    def preview(self, text: str) -> ManualOrder | str:
        order = self.parsed(text)
        shown = self.query_one("#preview", Static)
        shown.set_class(isinstance(order, str), "bad")
        shown.update(order if isinstance(order, str) else ticket_text(order, self.symbols, self.venues))
        return order

    def on_input_changed(self, event: Input.Changed) -> None:
        self.preview(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        order = self.preview(event.value)
        if isinstance(order, str):
            self.app.bell()
            return
        args = ticket_args(event.value, self.symbols, self.venues)
        assert isinstance(args, dict)
        text = ticket_text(order, self.symbols, self.venues)

        def go() -> None:
            self.sent = self.operator.send("order", **args)

        self.operator.ask("SEND ORDER", f"{text}?", go, danger=True)

    def on_screen_resume(self) -> None:
        """Back from the confirmation: a sent ticket closes (its result comes as a note on the status line)."""
        if self.sent:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


SYMBOL_COMMANDS = {
    "halt": ("HALT {s}", "Halt {s}? Its resting orders are cancelled; the strategy sends nothing in it."),
    "flatten": ("FLATTEN {s}, THEN HALT IT", "Take {s}'s position off through the router, then halt {s}?"),
    "resume": ("RESUME {s}", "Let the strategy trade {s} again?"),
}


def symbol_command(operator: Operator, kind: str, symbol: str) -> None:
    """Ask, then send ``halt_symbol``, ``flatten_symbol`` or ``resume_symbol`` for ``symbol``."""
    title, message = (part.format(s=symbol) for part in SYMBOL_COMMANDS[kind])

    def go() -> None:
        operator.send(f"{kind}_symbol", symbol=symbol)

    operator.ask(title, message, go, danger=kind != "resume")
