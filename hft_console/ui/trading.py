"""The operator's trading keys, apart from the console's lifecycle and layout (app.py): the kill switch,
flatten, resume, the limit editor, the router, pause, the order ticket; the one confirmation dialog and
the one way a command reaches the engine (``send``); the command palette's entries.

``ConsoleApp`` (app.py) is the one subclass: the attributes declared here are set in its ``__init__``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from textual.app import App, SystemCommand
from textual.screen import Screen

from hft_console.domain import Command
from hft_console.engine.engine import Engine
from hft_console.engine.snapshot import Snapshot
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.ui.orders import OrderTicket
from hft_console.ui.panes import StatusBar
from hft_console.ui.screens import ConfirmScreen, LimitEditor, limit_text
from hft_console.ui.theme import apply_theme


class OperatorActions(App[None]):
    engine: Engine
    engine_thread: threading.Thread | None
    confirm: ConfirmScreen
    limit_editor: LimitEditor | None
    router_pending: str | None
    _shown: Snapshot | None
    theme_name: str

    def set_theme(self, name: str) -> None:
        self.theme_name = name
        apply_theme(self, name)

    def action_quit_console(self) -> None:
        """The console's quit gate (app.py)."""

    def action_help(self) -> None:
        """The console's key help (app.py)."""

    @property
    def engine_running(self) -> bool:
        return self.engine_thread is not None and self.engine_thread.is_alive()

    def ask(self, title: str, message: str, on_yes: Callable[[], None], danger: bool = True) -> None:
        """Show the one confirmation dialog, reconfigured for this question."""
        if self.confirm.is_active:
            return
        self.confirm.configure(title, message, on_yes, danger)
        self.push_screen("confirm")

    def send(self, kind: str, **args: object) -> bool:
        """Queue a command for the engine; refused (and said so) when no engine is running."""
        if kind != "stop" and not self.engine_running:
            self.query_one(StatusBar).note("no session is running: nothing was sent")
            return False
        self.engine.submit(Command(kind, dict(args), source="console"))
        return True

    def confirm_command(self, title: str, message: str, kind: str, note: str) -> None:
        def go() -> None:
            if self.send(kind):
                self.query_one(StatusBar).note(note)

        self.ask(title, message, go, danger=kind != "resume")

    def action_halt(self) -> None:
        self.confirm_command(
            "KILL SWITCH", "Halt all trading now? Orders in flight are cancelled, new orders are refused.\n"
            "Positions stay as they are.", "halt", "halt sent",
        )  # fmt: skip

    def action_flatten(self) -> None:
        self.confirm_command(
            "FLATTEN, THEN HALT", "Close every position (only reducing orders allowed), then halt?",
            "flatten", "flattening: REDUCING until flat, then HALTED",
        )  # fmt: skip

    def action_resume(self) -> None:
        self.confirm_command("RESUME", "Resume trading (state ACTIVE)?", "resume", "resume sent")

    def action_limits(self) -> None:
        def apply(name: str, value: float) -> None:
            if self.send("set_limit", name=name, value=value):
                self.query_one(StatusBar).note(f"{name} set to {limit_text(name, value)}")

        if self.limit_editor is None:
            self.limit_editor = LimitEditor(self.engine.risk.limits, self.engine.risk.caps, apply)
            self.install_screen(self.limit_editor, "limits")
        self.limit_editor.configure(self.engine.risk.limits, self.engine.risk.caps)
        self.push_screen("limits")

    def action_cycle_router(self) -> None:
        # cycle from what this console last asked for, so quick presses step through the list
        current = self.router_pending or (self._shown.router if self._shown else self.engine.settings.session.router)
        nxt = ROUTER_NAMES[(ROUTER_NAMES.index(current) + 1) % len(ROUTER_NAMES)]
        self.switch_router(nxt)

    def switch_router(self, name: str) -> bool:
        if not self.send("set_router", name=name):
            return False
        self.router_pending = name
        self.query_one(StatusBar).note(f"router → {name}")
        return True

    def action_pause(self) -> None:
        status = self.query_one(StatusBar)
        paused = not status.paused
        if not self.send("pause" if paused else "unpause"):
            return
        status.paused = paused
        status.redraw()

    def open_ticket(self, symbol: str = "") -> None:
        """The order ticket (key o; o in the market view starts it with that symbol)."""
        snap = self._shown
        if snap is None or not self.engine_running:
            self.query_one(StatusBar).note("no session is running: no order ticket")
            return
        symbols, venues = [p.symbol for p in snap.positions], [v.name for v in snap.venues]
        start = f"{symbol} " if symbol else ""
        if not self.is_screen_installed("ticket"):
            self.install_screen(OrderTicket(self, symbols, venues, self.engine.tick, start), "ticket")
        ticket = self.get_screen("ticket")
        assert isinstance(ticket, OrderTicket)
        ticket.configure(start)
        self.push_screen(ticket)

    def action_order(self) -> None:
        self.open_ticket()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette offers the console's actions only; Textual's own (theme, screenshot, keys panel,
        maximize) are not offered, and its "Quit" and "Keys" are the console's."""
        yield SystemCommand("Quit", "End the session and quit (asks when positions are open)",
                            self.action_quit_console)  # fmt: skip
        yield SystemCommand("Keys", "Every key the console answers to", self.action_help)
        other = "default" if self.theme_name == "colour-blind" else "colour-blind"
        yield SystemCommand(f"Theme: {other}", "Colour-blind safe: blue/orange for gain/loss (Okabe-Ito)",
                            lambda: self.set_theme(other))  # fmt: skip
        if not self.engine_running:
            return
        yield SystemCommand("Kill switch: halt", "Cancel orders in flight and refuse new ones", self.action_halt)
        yield SystemCommand("Flatten then halt", "Close every position, then halt", self.action_flatten)
        yield SystemCommand("Resume trading", "Back to ACTIVE", self.action_resume)
        yield SystemCommand("Edit a risk limit", "Open the limit editor", self.action_limits)
        yield SystemCommand("Order ticket", "Send an order of your own", self.open_ticket)
        yield SystemCommand("Pause / resume the strategy", "Stop or restart new orders", self.action_pause)
        for name in ROUTER_NAMES:
            yield SystemCommand(f"Router: {name}", f"Route with {name}", lambda n=name: self.switch_router(n))
