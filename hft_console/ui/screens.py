"""Modal screens: confirmations, the limit editor and the key help."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from hft_console.execution.risk import LIMIT_NAMES, validate_limit
from hft_console.money import dollars
from hft_console.settings import RiskSettings
from hft_console.ui.format import quantity

# what each limit counts, shown beside every value in the editor
LIMIT_UNITS = {
    "max_position": "shares per symbol",
    "max_notional": "$ gross notional",
    "max_order_qty": "shares per order",
    "max_orders_per_s": "orders/s",
    "max_loss": "$ loss (circuit breaker)",
    "max_price_deviation_bps": "bps from the mid",
}


# what each pane shows and what its colours mean (the help's second part)
PANES_HELP = [
    (
        "Status line",
        "risk state (ACTIVE green, REDUCING yellow, HALTED red; PAUSED while the strategy is paused), "
        "mode, data, clock, session progress, ticks/s, router, total P&L",
    ),
    (
        "Trades",
        "our fills, newest on top: time, symbol, side (BUY green, SELL red), qty, price, the trade's "
        "P&L (green gain, red loss) and the running total; / filters, PgUp/PgDn page",
    ),
    (
        "Venue latency",
        "each venue's status and round trips per second of the last buckets, coloured by p95 "
        "against its calm round trip: green ≤1.5×, yellow ≤3×, orange ≤6×, red above, X a timeout; "
        "then p50/p95/p99 and the expected round trip",
    ),
    (
        "Risk",
        "every limit's usage as a gauge (green, yellow past 70%, red past 90%) with used/limit, the "
        "risk state, breaches and denials, resting exposure",
    ),
    (
        "Router",
        "the routing policy's view per venue: pulls, reward (minus cost in bps), recent share; a "
        "learned router's forecast and inference time",
    ),
    (
        "P&L and positions",
        "total, fees, realised and unrealised P&L, the P&L sparkline, and each symbol's "
        "position, average price and P&L",
    ),
    (
        "Alerts",
        "a toast per alert from [alerts] in the config, with the bell: red for loss and a stale feed, yellow "
        "for a venue's latency p99, the fill rate and queue ahead; it stays until a acknowledges it",
    ),
    (
        "Blotter (b)",
        "working orders: state (yellow pending, cyan partly filled), queue ahead / shares at the price, age; "
        "while open, / filters it (venue, symbol, side, type, state) and PgUp/PgDn page it",
    ),
]


def limit_text(name: str, value: float) -> str:
    """A limit's value as people write it, with its unit: '$5,000,000', '10,000 shares', '200 orders/s'."""
    unit = LIMIT_UNITS.get(name, "")
    if unit.startswith("$"):
        return f"${quantity(value) if float(value).is_integer() else dollars(value)}"
    return f"{quantity(value)} {unit.split()[0]}" if unit else quantity(value)


MODAL_CSS = """
ConfirmScreen, LimitEditor, HelpScreen, TapeFilter { align: center middle; }
#dialog { width: 72; height: auto; max-width: 95%; border: thick $accent; background: $surface; padding: 1 2; }
#dialog.danger { border: thick $error; }
#title { text-style: bold; width: 100%; content-align: center middle; }
#buttons { height: auto; margin-top: 1; align-horizontal: right; }
#buttons Button { margin-left: 2; }
#error { color: $error; height: auto; }
#current { color: $text-muted; width: 100%; height: auto; }
HelpScreen #dialog { width: 80; max-height: 100%; }
HelpScreen #help-body { height: auto; max-height: 70vh; }
"""


class ConfirmScreen(ModalScreen[bool]):
    """y confirms and runs ``on_yes`` at once (before the screen goes away); n or Escape cancels.

    The console installs one instance and reconfigures it for each question: Textual keeps a little
    of every screen it has shown and removed (measured: about a thousand objects per push), so
    dialogs are reused rather than rebuilt.
    """

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("y", "yes", "Confirm"), Binding("n,escape", "no", "Cancel")]

    def __init__(self, title: str = "", message: str = "", on_yes: Callable[[], None] | None = None,
                 danger: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.title_text, self.message, self.danger = title, message, danger
        self.on_yes: Callable[[], None] = on_yes or (lambda: None)

    def configure(self, title: str, message: str, on_yes: Callable[[], None], danger: bool = True) -> None:
        self.title_text, self.message, self.on_yes, self.danger = title, message, on_yes, danger
        if self.is_mounted:
            self._show()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("", id="title")
            yield Static("", id="message")
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        self.query_one("#title", Label).update(self.title_text)
        self.query_one("#message", Static).update(self.message)
        self.query_one("#dialog").set_class(self.danger, "danger")
        self.query_one("#yes", Button).variant = "error" if self.danger else "primary"

    def action_yes(self) -> None:
        self.on_yes()
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_yes()
        else:
            self.action_no()


class LimitEditor(ModalScreen[tuple[str, float] | None]):
    """Pick a limit, type a value, Enter to apply. A refused value shows why and changes nothing."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, limits: RiskSettings, caps: RiskSettings, apply: Callable[[str, float], None]) -> None:
        super().__init__()
        self.limits, self.caps, self.apply = limits, caps, apply

    def configure(self, limits: RiskSettings, caps: RiskSettings) -> None:
        """Fresh values for a reused editor: the current limits, an empty field, no error."""
        self.limits, self.caps = limits, caps
        if self.is_mounted:
            select = self.query_one("#limit", Select)
            chosen = select.value
            select.set_options(self._options())
            select.value = chosen if chosen in LIMIT_NAMES else LIMIT_NAMES[0]
            self.query_one("#value", Input).value = ""
            self.query_one("#error", Label).update("")
            self._show_current()
            self.query_one("#value", Input).focus()

    def _options(self) -> list[tuple[str, str]]:
        return [(f"{name}  (now {limit_text(name, getattr(self.limits, name))})", name) for name in LIMIT_NAMES]

    def compose(self) -> ComposeResult:
        options = self._options()
        with Vertical(id="dialog"):
            yield Label("Edit a risk limit", id="title")
            yield Select(options, value=LIMIT_NAMES[0], allow_blank=False, id="limit")
            yield Label("", id="current")
            yield Input(placeholder="new value", id="value")
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Apply (Enter)", variant="primary", id="apply")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self._show_current()
        self.query_one("#value", Input).focus()

    def _show_current(self) -> None:
        name = str(self.query_one("#limit", Select).value)
        self.query_one("#current", Label).update(
            f"current {limit_text(name, getattr(self.limits, name))} · hard cap "
            f"{limit_text(name, getattr(self.caps, name))}\nunit: {LIMIT_UNITS.get(name, '')}"
        )
        self.query_one("#value", Input).placeholder = f"new value ({LIMIT_UNITS.get(name, '')}), e.g. 5,000"

    def on_select_changed(self, event: Select.Changed) -> None:
        self._show_current()
        self.query_one("#error", Label).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.action_cancel()

    def action_apply(self) -> None:
        name = str(self.query_one("#limit", Select).value)
        raw = self.query_one("#value", Input).value
        value, error = validate_limit(name, raw, self.caps)
        if error is not None or value is None:
            self.query_one("#error", Label).update(error or "refused")
            return
        self.apply(name, value)
        self.dismiss((name, value))

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key the console answers to, then what each pane shows and what its colours mean.
    PgUp/PgDn, Home/End and the arrows scroll; any other key closes it."""

    DEFAULT_CSS = MODAL_CSS
    SCROLL_KEYS = {"pageup": "scroll_page_up", "pagedown": "scroll_page_down", "home": "scroll_home",
                   "end": "scroll_end", "up": "scroll_up", "down": "scroll_down"}  # fmt: skip

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, text in self.keys:
            table.add_row(key, text)
        table.add_row("", "")
        for pane, text in PANES_HELP:
            table.add_row(Text(pane, style="bold"), text)
        with Vertical(id="dialog"):
            yield Label("Keys and panes", id="title")
            with VerticalScroll(id="help-body"):
                yield Static(table)
            yield Label("PgUp/PgDn scroll · Ctrl+P: command palette · any other key closes", id="current")

    def on_key(self, event: Key) -> None:
        event.stop()  # a key scrolls or closes the help and does nothing else
        event.prevent_default()
        scroll = self.SCROLL_KEYS.get(event.key)
        if scroll is not None:
            getattr(self.query_one("#help-body", VerticalScroll), scroll)(animate=False)
            return
        self.dismiss(None)
