"""The operator console: panes over the live engine, keyboard control, kill switch.

The engine runs on its own thread (``Engine.run``); the console never touches engine state directly.
It reads the engine's latest published snapshot on a fixed timer and sends every operator action
through the engine's command queue, where it is applied between events and journaled.

Every way to end the session goes through one gate (``action_quit_console``): ``q``, ``ctrl+q``,
``ctrl+c`` and the palette's "Quit" ask first while positions are open. A signal (SIGINT, SIGTERM,
SIGHUP) ends the session without asking, since nobody may be there to answer (``end_by_signal``).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import threading
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Static

from hft_console.backtest.startup import SessionInfo
from hft_console.engine.engine import Engine
from hft_console.engine.snapshot import Snapshot
from hft_console.ui import terminal
from hft_console.ui.alerts import AlertToasts
from hft_console.ui.blotter import BlotterPane
from hft_console.ui.body import pane_body
from hft_console.ui.keybar import KEYS, KeyBar
from hft_console.ui.layout import MIN_SIZE, Layout, plan
from hft_console.ui.market import MarketScreen
from hft_console.ui.panes import Pane, PnlPane, StatusBar
from hft_console.ui.screens import ConfirmScreen, HelpScreen, LimitEditor
from hft_console.ui.startup import StartupScreen
from hft_console.ui.tape import TapePane
from hft_console.ui.theme import apply_theme
from hft_console.ui.trading import OperatorActions
from hft_console.ui.views import open_view

FULL_GC_EVERY_S = 30.0
PANES = ("tape", "heatmap", "risk", "router", "pnl")  # the ids of the panes the layout places
ZOOM = ("tape", "heatmap", "risk", "router", "pnl", "blotter")  # keys 1-6, in this order
LAID_OUT = (*PANES, "blotter")  # and the blotter, which shows only while the operator has it open
# Textual's own App actions: these are routed to the console's (the methods are overridden below) or
# harmless; every other one (theme, screenshot, suspend, screen switching, ...) is refused by check_action.
ROUTED_ACTIONS = {"quit": "quit_console", "help_quit": "quit_console", "show_help_panel": "help"}
HARMLESS_ACTIONS = frozenset({"command_palette", "focus_next", "focus_previous"})


class ConsoleApp(OperatorActions):
    CSS_PATH = Path(__file__).with_name("console.tcss")
    ALLOW_IN_MAXIMIZED_VIEW = "#status, #keys"
    ESCAPE_TO_MINIMIZE = False  # Escape goes through action_zoom, which lays the panes out again
    TITLE = "hft-console"
    BINDINGS = [
        Binding("k", "halt", "Kill"),
        Binding("K", "flatten", "Flatten"),
        Binding("r", "resume", "Resume"),
        Binding("l", "limits", "Limits"),
        Binding("m", "cycle_router", "Router"),
        Binding("p", "pause", "Pause"),
        Binding("b", "blotter", "Orders"),
        Binding("o", "order", "Order", show=False),
        Binding("s", "view('save')", "Save", show=False),
        Binding("e", "view('events')", "Events", show=False),
        Binding("v", "view('market')", "Market", show=False),
        Binding("c", "view('charts')", "Charts", show=False),
        Binding("slash", "view('filter')", "Filter", show=False),
        Binding("a", "ack_alerts", "Ack", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_console", "Quit"),
        Binding("ctrl+q,ctrl+c", "quit_console", "Quit", show=False, priority=True),
        Binding("pagedown", "tape('older')", show=False),
        Binding("pageup", "tape('newer')", show=False),
        Binding("home", "tape('newest')", show=False),
        Binding("end", "tape('oldest')", show=False),
        *(Binding(str(i), f"zoom('{pane}')", show=False) for i, pane in enumerate(ZOOM, 1)),
        Binding("escape", "zoom('')", show=False),
    ]
    TRADING_ACTIONS = frozenset({"halt", "flatten", "resume", "limits", "cycle_router", "pause", "order"})
    ALLOWED_ACTIONS = frozenset(
        {b.action.split("(")[0] for b in BINDINGS if isinstance(b, Binding)} | set(ROUTED_ACTIONS) | HARMLESS_ACTIONS
    )

    def __init__(
        self,
        engine: Engine,
        *,
        startup: SessionInfo | None = None,
        deterministic: bool = False,
        refresh_hz: float = 10.0,
        theme: str = "default",
    ) -> None:
        """``startup``: the session's facts (``backtest.startup.session_info``), shown on the start-up
        screen before the engine starts; None starts the engine at once."""
        super().__init__()
        self.engine = engine
        self.startup = startup
        self.deterministic = deterministic
        self.refresh_hz = refresh_hz
        self.theme_name = theme  # settings.THEMES (ui/theme.py)
        self.engine_thread: threading.Thread | None = None
        self._initial_pause = engine.strategy.paused
        self.engine_error: BaseException | None = None
        self.quitting = False
        self.exit_signal: int | None = None  # the signal that ended the session, if one did
        self.terminal_gone = False
        self.abandoned = False  # ended before the session started: no journal, no summary.json
        self._loop_ref: asyncio.AbstractEventLoop | None = None
        self.router_pending: str | None = None
        self._shown: Snapshot | None = None  # what the panes show (the status line may be newer)
        self._status_snap: Snapshot | None = None
        self._layout: Layout | None = None
        self._finished_noted = False
        self._switch_interval = sys.getswitchinterval()
        self.confirm = ConfirmScreen()
        self.limit_editor: LimitEditor | None = None
        self.blotter = False  # the working-order blotter is open (key b)
        self.alert_toasts = AlertToasts(self)  # the engine's alerts as toasts until acknowledged (key a)

    def get_driver_class(self) -> type[Driver]:
        return terminal.surviving_driver(super().get_driver_class())

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield from pane_body(TapePane(id="tape", classes="pane"), PnlPane(id="pnl", classes="pane"))
        yield Static(id="too-small")
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self._loop_ref = asyncio.get_running_loop()
        self.install_screen(self.confirm, "confirm")
        # the engine's latest: the panes' snapshot holds still while a view (a modal screen) is open
        self.install_screen(MarketScreen(lambda: self.engine.snapshot, self), "market")
        self.query_one(StatusBar).paused = self._initial_pause
        apply_theme(self, self.theme_name)
        # The garbage collector holds the GIL: a collection over Textual's render caches stalls the
        # engine thread too (tens of ms for the young generations, up to ~100 ms for all). While the
        # engine runs, it collects at the end of its batches (never mid-decision), everything only when
        # asked here, while no dialog is open, so a kill-switch confirmation never waits behind a full
        # collection; before and after the engine's run this thread collects.
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
        self.refresh_bindings()
        if self.exit_signal is not None:  # a signal came while the console was starting
            self.end_by_signal(self.exit_signal)
        elif self.engine.finished:
            self.refresh_panes()
        elif self.startup is not None:
            self.push_screen(StartupScreen(self.startup, self.engine.settings), lambda _: self.start_engine())
        else:
            self.start_engine()

    def on_resize(self, event: Resize) -> None:
        self.apply_layout(event.size.width, event.size.height)

    def apply_layout(self, width: int = 0, height: int = 0) -> None:
        """Pick the layout for this size (the terminal's when not given) and the latest content; change the
        screen only when the layout changes."""
        snap = self._shown or self.engine.snapshot
        if not width:
            width, height = self.size
        needs = {name: self.query_one(f"#{name}", Pane).needs(snap) if snap else (0, 0) for name in LAID_OUT}
        layout = plan(width, height, needs, self.blotter)
        if layout == self._layout:
            return
        self._layout = layout
        main = self.screen_stack[0]
        with self.batch_update():
            for kind in ("wide", "compact", "small"):
                main.set_class(layout.kind == kind, kind)
            for name in LAID_OUT:
                pane = self.query_one(f"#{name}", Pane)
                if name in layout.shown and not pane.display and self._shown is not None:
                    pane.render_snapshot(self._shown, self.deterministic)  # never an empty frame, dialog or not
                pane.display = name in layout.shown or pane is main.maximized
            self.query_one("#right").styles.width = layout.right_width if layout.kind == "wide" else "100%"
            self.query_one("#too-small", Static).update(
                f"hft-console needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}; this terminal is {width}×{height}.\n"
                "Make it larger, or press q to quit."
            )

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

    @property
    def dialog_open(self) -> bool:
        return any(isinstance(s, ModalScreen) for s in self.screen_stack[1:])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Trading keys work only while the engine runs (shown disabled before and after); of Textual's
        own actions only the routed and harmless ones run; the palette does not open over a dialog,
        which has the operator's attention."""
        if action not in self.ALLOWED_ACTIONS:
            return False
        if action in self.TRADING_ACTIONS and not self.engine_running:
            return None
        return not (action == "command_palette" and self.dialog_open)

    def _collect_young(self) -> None:
        if not self.engine_running:
            gc.collect(1)

    def _collect_all(self) -> None:
        if len(self.screen_stack) > 1:
            return
        if self.engine_running:
            self.engine.full_collection_requested = True
        else:
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

    def refresh_panes(self) -> None:
        """At ``refresh_hz``: the status line always shows the latest snapshot, even under a dialog (an
        operator deciding on the kill switch must not read an old P&L); the panes behind a dialog hold
        still, greyed as stale, so the dialog's keys stay quick, and catch up once it closes."""
        if self.quitting and not self.engine_running:
            self.exit()
            return
        if not self.terminal_gone and terminal.output_lost(self._driver) and not terminal.terminal_alive():
            self.end_by_signal(signal.SIGHUP)  # the terminal hung up, whether its SIGHUP reached us or not
        try:
            status = self.query_one(StatusBar)
        except NoMatches:  # the app is closing and its screen's widgets are already gone
            return
        if self.engine_error is not None and not status.dead:
            status.dead = f"ENGINE STOPPED: {self.engine_error!r}"
            status.update(Text(f" {status.dead} — the journal holds what was committed; q quits ",
                               style="bold white on red"))  # fmt: skip
            self.refresh_bindings()
        snap = self.engine.snapshot
        if snap is None:
            return
        self.alert_toasts.update(snap)  # a new alert shows and rings, under a dialog too
        if snap is not self._status_snap or status.expire_note():
            self._status_snap = snap
            status.render_snapshot(snap, self.deterministic)
        stale = self.dialog_open and self._shown is not None
        self.query_one("#body").set_class(stale, "stale")
        if snap is self._shown or stale:
            return
        self._shown = snap
        with self.batch_update():
            self.apply_layout()
            for pane in self.query(Pane):
                if not isinstance(pane, StatusBar) and pane.display:
                    pane.render_snapshot(snap, self.deterministic)
        if snap.finished and not self._finished_noted:
            self._finished_noted = True
            self.refresh_bindings()
            if not self.quitting and self.engine_error is None:
                status.note("session over; q quits", seconds=None)

    def action_tape(self, where: str) -> None:
        """PgDn/PgUp/Home/End: the blotter's pages while it is open, else the tape's."""
        if self.blotter:
            blotter = self.query_one(BlotterPane)
            page = max(1, blotter.size.height - 1)
            blotter.page_by({"older": page, "newer": -page, "newest": -(1 << 40)}.get(where, 1 << 40))
            return
        tape = self.query_one(TapePane)
        if where == "newest":
            tape.show_newest()
        elif where == "oldest":
            tape.show_oldest()
        else:
            tape.page_by((tape.page - 1 if tape.page > 1 else 1) * (1 if where == "older" else -1))

    def action_ack_alerts(self) -> None:
        self.alert_toasts.acknowledge(self.send)

    def action_blotter(self) -> None:
        self.blotter = not self.blotter
        self.apply_layout()

    def action_zoom(self, name: str) -> None:
        """Keys 1-6: that pane over the whole body, the same key (or Escape) back to the layout."""
        main = self.screen_stack[0]
        pane = self.query_one(f"#{name}", Pane) if name else None
        if pane is None or main.maximized is pane:
            main.minimize()
        else:
            pane.display = True
            if self._shown is not None:
                pane.render_snapshot(self._shown, self.deterministic)
            main.maximize(pane, container=False)
        self._layout = None
        self.apply_layout()

    def action_view(self, which: str) -> None:
        """Keys s, e, v and /: save the screen, the event log, the market view, the tape's filter (views.py)."""
        open_view(self, which, self.engine.run_dir, lambda: self._shown)

    def action_help(self) -> None:
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(KEYS), "help")
        if not isinstance(self.screen, HelpScreen):
            self.push_screen("help")

    def action_quit_console(self) -> None:
        """The one way out for the operator: asks first while positions are open."""
        positions = self._shown.positions if self._shown else ()
        if self.engine_running and any(p.position for p in positions):
            open_ = ", ".join(f"{p.symbol} {p.position:+,}" for p in positions if p.position)
            self.ask("QUIT", f"Positions are open ({open_}). End the session and quit anyway?", self._stop)
        else:
            self._stop()

    async def action_quit(self) -> None:
        """Textual's own quit (ctrl+q by default, the palette's "Quit") goes through the same gate."""
        self.action_quit_console()

    def action_help_quit(self) -> None:
        self.action_quit_console()

    def action_show_help_panel(self) -> None:
        self.action_help()

    def signal_received(self, signum: int) -> None:
        """From a signal handler (main thread, any moment): end the session on the app's own loop."""
        if self.exit_signal is None:
            self.exit_signal = signum
        loop = self._loop_ref
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self.end_by_signal, signum)

    def end_by_signal(self, signum: int) -> None:
        """End the session as ``q`` does, without asking: in-flight orders complete, the journal and
        summary.json are written. After SIGHUP with the terminal gone nothing more is drawn."""
        self.exit_signal = self.exit_signal or signum
        headless = self.is_headless
        if signum == signal.SIGHUP and not self.terminal_gone and not headless and not terminal.terminal_alive():
            self.terminal_gone = True
            terminal.detach_terminal()
        if not self.quitting:
            self._stop()

    def _stop(self) -> None:
        self.quitting = True
        if self.engine_running:
            self.send("stop")
        else:
            if self.engine_thread is None and not self.engine.finished:
                # before the session started nothing was traded: as headless does, nothing is kept and
                # the same run directory can be used again
                self.engine.abandon()
                self.abandoned = True
            self.exit()
