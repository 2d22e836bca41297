"""The operator console: panes over the live engine, keyboard control, kill switch.

The engine runs on its own thread (``Engine.run``); the console never touches engine state directly.
It reads the engine's latest published snapshot on a fixed timer and sends every operator action
through the engine's command queue, where it is applied between events and journaled.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen

from hft_console.domain import Command
from hft_console.engine import Engine
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.snapshot import Snapshot
from hft_console.ui.panes import HeatmapPane, KeyBar, Pane, PnlPane, RiskPane, RouterPane, StatusBar, TapePane
from hft_console.ui.screens import ConfirmScreen, HelpScreen, LimitEditor
from hft_console.ui.startup import StartupScreen

FULL_GC_EVERY_S = 30.0
KEYS = [
    ("k", "kill switch: halt (cancel orders in flight, refuse new ones); y to confirm"),
    ("K", "flatten every position, then halt; y to confirm"),
    ("r", "resume trading (ACTIVE); y to confirm"),
    ("l", "edit a risk limit"),
    ("m", "switch to the next routing policy"),
    ("p", "pause / resume the strategy (orders in flight still complete)"),
    ("?", "this help"),
    ("q", "quit (asks when positions are open)"),
    ("ctrl+q", "quit, the same way"),
    ("ctrl+p", "command palette"),
]


class ConsoleApp(App[None]):
    CSS_PATH = Path(__file__).with_name("console.tcss")
    TITLE = "hft-console"
    BINDINGS = [
        Binding("k", "halt", "Kill"),
        Binding("K", "flatten", "Flatten"),
        Binding("r", "resume", "Resume"),
        Binding("l", "limits", "Limits"),
        Binding("m", "cycle_router", "Router"),
        Binding("p", "pause", "Pause"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_console", "Quit"),
        Binding("ctrl+q", "quit_console", "Quit", show=False, priority=True),
    ]
    TRADING_ACTIONS = frozenset({"halt", "flatten", "resume", "limits", "cycle_router", "pause"})

    def __init__(
        self, engine: Engine, *, startup: bool = True, deterministic: bool = False, refresh_hz: float = 10.0
    ) -> None:
        super().__init__()
        self.engine = engine
        self.startup = startup
        self.deterministic = deterministic
        self.refresh_hz = refresh_hz
        self.engine_thread: threading.Thread | None = None
        self._initial_pause = engine.strategy.paused
        self.engine_error: BaseException | None = None
        self.quitting = False
        self.router_pending: str | None = None
        self._shown: Snapshot | None = None
        self._finished_noted = False
        self._switch_interval = sys.getswitchinterval()
        self.confirm = ConfirmScreen()
        self.limit_editor: LimitEditor | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield TapePane(id="tape", classes="pane")
                yield HeatmapPane(id="heatmap", classes="pane")
            with Vertical(id="right"):
                yield RiskPane(id="risk", classes="pane")
                yield RouterPane(id="router", classes="pane")
                yield PnlPane(id="pnl", classes="pane")
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self.install_screen(self.confirm, "confirm")
        self.query_one(StatusBar).paused = self._initial_pause
        # The garbage collector holds the GIL: a full collection over Textual's render caches stalls
        # the engine thread too (up to ~100 ms measured). The console collects on its own schedule
        # instead: young generations every second, everything only while no dialog is open, so a
        # kill-switch confirmation never waits behind a full collection.
        gc.collect()
        gc.freeze()
        gc.disable()
        # The engine thread and this one share the GIL; trading it every millisecond (not every 5)
        # gets an operator's command to the engine within about a millisecond of the key's action.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        self.set_interval(1 / self.refresh_hz, self.refresh_panes)
        self.set_interval(1.0, self._collect_young)
        self.set_interval(FULL_GC_EVERY_S, self._collect_all)
        if not self.deterministic:
            self.notify(
                "Keys: k kill switch · K flatten · r resume · l limits · m router · p pause · ? help", timeout=6
            )
        self.refresh_bindings()
        if self.engine.finished:
            self.refresh_panes()
        elif self.startup:
            self.push_screen(StartupScreen(self.engine), lambda _: self.start_engine())
        else:
            self.start_engine()

    def on_resize(self, event: Resize) -> None:
        self.screen_stack[0].set_class(event.size.width < 100 or event.size.height < 30, "compact")

    def refresh_bindings(self) -> None:
        super().refresh_bindings()
        if self._running and self.screen_stack:
            keys = [
                (b.key if b.key != "question_mark" else "?", b.description, self.check_action(b.action, ()) is True)
                for b in self.BINDINGS
                if isinstance(b, Binding) and b.show
            ]
            for bar in self.screen_stack[0].query(KeyBar):
                bar.show_keys(keys)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Trading keys work only while the engine runs; shown disabled before and after."""
        if action in self.TRADING_ACTIONS and not self.engine_running:
            return None
        return True

    def _collect_young(self) -> None:
        gc.collect(1)

    def _collect_all(self) -> None:
        if len(self.screen_stack) == 1:
            gc.collect()
            gc.freeze()

    def on_unmount(self) -> None:
        """Hand the process back as it was: the collector's and the interpreter's defaults."""
        gc.unfreeze()
        gc.enable()
        sys.setswitchinterval(self._switch_interval)

    def start_engine(self) -> None:
        if self.engine_thread is None and not self.engine.finished:
            self.engine_thread = threading.Thread(target=self._run_engine, name="engine", daemon=True)
            self.engine_thread.start()
            self.refresh_bindings()

    def _run_engine(self) -> None:
        try:
            self.engine.run()
        except BaseException as exc:  # shown to the operator; the journal has what was committed
            self.engine_error = exc

    @property
    def engine_running(self) -> bool:
        return self.engine_thread is not None and self.engine_thread.is_alive()

    def refresh_panes(self) -> None:
        if self.quitting and not self.engine_running:
            self.exit()
            return
        if self.engine_error is not None and not self.query_one(StatusBar).dead:
            bar = self.query_one(StatusBar)
            bar.dead = f"ENGINE STOPPED: {self.engine_error!r}"
            bar.update(Text(f" {bar.dead} — the journal holds what was committed; q quits ", style="bold white on red"))
            self.notify(f"The engine stopped: {self.engine_error!r}.", severity="error", timeout=30)
            self.refresh_bindings()
        snap = self.engine.snapshot
        if snap is None or snap is self._shown:
            return
        if len(self.screen_stack) > 1 and self._shown is not None:
            return  # a dialog has the operator's attention: keep its keys quick, catch up after
        self._shown = snap
        with self.batch_update():
            for pane in self.query(Pane):
                if not (isinstance(pane, StatusBar) and pane.dead):
                    pane.render_snapshot(snap, self.deterministic)
        if snap.finished and not self._finished_noted:
            self._finished_noted = True
            self.refresh_bindings()
            if not self.quitting and not self.deterministic and self.engine_error is None:
                self.notify("Session finished. The journal and summary.json are written; q quits.", timeout=15)

    def ask(self, title: str, message: str, on_yes: Callable[[], None], danger: bool = True) -> None:
        """Show the one confirmation dialog, reconfigured for this question."""
        if self.confirm.is_active:
            return
        self.confirm.configure(title, message, on_yes, danger)
        self.push_screen("confirm")

    def send(self, kind: str, **args: object) -> bool:
        """Queue a command for the engine; refused (and said so) when no engine is running."""
        if kind != "stop" and not self.engine_running:
            self.notify("No session is running: nothing was sent.", severity="warning")
            return False
        self.engine.submit(Command(kind, dict(args), source="console"))
        return True

    def _confirm(self, title: str, message: str, kind: str, note: str) -> None:
        def go() -> None:
            if not self.send(kind):
                return
            self.query_one(StatusBar).extra = note
            self.notify(note, severity="warning" if kind != "resume" else "information")

        self.ask(title, message, go, danger=kind != "resume")

    def action_halt(self) -> None:
        self._confirm(
            "KILL SWITCH", "Halt all trading now? Orders in flight are cancelled, new orders are refused.\n"
            "Positions stay as they are.", "halt", "halt sent",
        )  # fmt: skip

    def action_flatten(self) -> None:
        self._confirm(
            "FLATTEN, THEN HALT", "Close every position (only reducing orders allowed), then halt?",
            "flatten", "flattening: REDUCING until flat, then HALTED",
        )  # fmt: skip

    def action_resume(self) -> None:
        self._confirm("RESUME", "Resume trading (state ACTIVE)?", "resume", "resume sent")

    def action_limits(self) -> None:
        def apply(name: str, value: float) -> None:
            if self.send("set_limit", name=name, value=value):
                self.notify(f"{name} set to {value:,g}")

        if self.limit_editor is None:
            self.limit_editor = LimitEditor(self.engine.risk.limits, self.engine.risk.caps, apply)
            self.install_screen(self.limit_editor, "limits")
        self.limit_editor.configure(self.engine.risk.limits, self.engine.risk.caps)
        self.push_screen("limits")

    def action_cycle_router(self) -> None:
        # cycle from what this console last asked for, so quick presses step through the list
        current = self.router_pending or (self._shown.router if self._shown else self.engine.settings.session.router)
        nxt = ROUTER_NAMES[(ROUTER_NAMES.index(current) + 1) % len(ROUTER_NAMES)]
        if not self._switch_router(nxt):
            return
        self.query_one(StatusBar).extra = f"router → {nxt}"
        self.notify(f"routing policy: {current} → {nxt}")

    def _switch_router(self, name: str) -> bool:
        if not self.send("set_router", name=name):
            return False
        self.router_pending = name
        return True

    def action_pause(self) -> None:
        paused = not self.query_one(StatusBar).paused
        if not self.send("pause" if paused else "unpause"):
            return
        self.query_one(StatusBar).paused = paused
        if self._shown is not None:
            self.query_one(StatusBar).show(self._shown, self.deterministic)

    def action_help(self) -> None:
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(KEYS), "help")
        self.push_screen("help")

    def action_quit_console(self) -> None:
        positions = self._shown.positions if self._shown else ()
        if self.engine_running and any(p.position for p in positions):
            open_ = ", ".join(f"{p.symbol} {p.position:+,}" for p in positions if p.position)
            self.ask("QUIT", f"Positions are open ({open_}). End the session and quit anyway?", self._stop)
        else:
            self._stop()

    def _stop(self) -> None:
        self.quitting = True
        if self.engine_running:
            self.send("stop")
        else:
            self.exit()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Kill switch: halt", "Cancel orders in flight and refuse new ones", self.action_halt)
        yield SystemCommand("Flatten then halt", "Close every position, then halt", self.action_flatten)
        yield SystemCommand("Resume trading", "Back to ACTIVE", self.action_resume)
        yield SystemCommand("Edit a risk limit", "Open the limit editor", self.action_limits)
        yield SystemCommand("Pause / resume the strategy", "Stop or restart new orders", self.action_pause)
        for name in ROUTER_NAMES:
            yield SystemCommand(f"Router: {name}", f"Route with {name}", lambda n=name: self._switch_router(n))
