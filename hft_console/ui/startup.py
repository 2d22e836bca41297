"""Start-up: the seed's three phases, each with a progress bar, over a :class:`SessionInfo`.

Infrastructure shows every venue's order-entry probes (``SessionInfo.venues``, drawn when the session
command built it), one a step; intelligence shows the routing policy and runs the short pre-session
backtest (unless --skip-backtest) on a worker thread, its progress on the bar and its result in the
phase; execution starts the engine. Skipping ahead does not wait for the backtest: its result arrives
as a notification. A venue that does not answer is reported with what it means for the session.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import partial

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Label, ProgressBar, Static

from hft_console.backtest.startup import SessionInfo, backtest_line
from hft_console.settings import Settings
from hft_console.stats import percentiles
from hft_console.ui.layout import MIN_SIZE

RESULT_HOLD_S = 1.5
STEP_S = 0.02


class StartupScreen(Screen[None]):
    DEFAULT_CSS = """
    StartupScreen { align: center middle; }
    #phases { width: 90; max-width: 100%; height: auto; max-height: 100%; border: round $accent; padding: 0 2; }
    #phases.roomy { padding: 1 2; }
    .phase { text-style: bold; margin-top: 1; }
    .detail { color: $text-muted; height: auto; }
    .failed { color: $error; }
    #startup-too-small { display: none; width: 100%; height: 100%; content-align: center middle; text-align: center; }
    StartupScreen.small #phases { display: none; }
    StartupScreen.small #startup-too-small { display: block; }
    """
    BINDINGS = [Binding("enter,space", "finish", "Skip ahead")]

    def __init__(self, info: SessionInfo, settings: Settings) -> None:
        """``settings``: the session's, which the pre-session backtest runs on."""
        super().__init__()
        self.info, self.settings = info, settings
        self.steps: list[Callable[[], None]] = []
        self.probe_rt: dict[str, list[float]] = {}
        self.down: list[str] = []
        self.backtest_running = False
        self.backtest_line = ""
        self.skipped = False  # the operator skipped ahead: a backtest still running reports as a notification
        self.hold_until = 0.0  # the backtest's result stays readable a moment before the console opens

    def compose(self) -> ComposeResult:
        n_probes = sum(len(v.round_trips_us) for v in self.info.venues)
        yield Static("", id="startup-too-small")
        with Vertical(id="phases"):
            yield Label("HFT CONSOLE - starting the session", id="title")
            yield Label("1  Infrastructure: venues and first latency measurements", classes="phase")
            yield ProgressBar(total=n_probes, show_eta=False, id="p1")
            yield Static("", classes="detail", id="d1")
            yield Label("2  Intelligence: routing policy and backtest", classes="phase")
            yield ProgressBar(total=2, show_eta=False, id="p2")
            yield Static("", classes="detail", id="d2")
            yield Label("3  Execution: engine, risk and journal", classes="phase")
            yield ProgressBar(total=1, show_eta=False, id="p3")
            yield Static("", classes="detail", id="d3")

    def on_mount(self) -> None:
        self.console = self.app  # kept: once this screen is dismissed it has no app to ask for
        for venue in self.info.venues:
            for rt_us in venue.round_trips_us:
                self.steps.append(partial(self._probe, venue.name, rt_us))
        self.steps.append(self._policy)
        self.steps.append(self._backtest)
        self.steps.append(self._execution)
        self._timer = self.set_interval(STEP_S, self._next)

    def on_resize(self, event: Resize) -> None:
        width, height = event.size
        self.set_class(width < MIN_SIZE[0] or height < MIN_SIZE[1], "small")
        self.query_one("#phases").set_class(height >= MIN_SIZE[1] + 4, "roomy")
        self.query_one("#startup-too-small", Static).update(
            f"hft-console needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}; this terminal is {width}×{height}.\n"
            "Make it larger, or press q to quit."
        )

    def _next(self) -> None:
        if self.backtest_running or time.monotonic() < self.hold_until:
            return
        if self.steps:
            self.steps.pop(0)()
        elif self.app.screen is self:  # never pop a dialog the operator opened on top
            self._timer.stop()
            self.dismiss(None)

    def action_finish(self) -> None:
        self.skipped = True
        self.hold_until = 0.0
        while self.steps:
            self.steps.pop(0)()
        self.backtest_running = False  # do not wait for it (even one this started): its result comes later

    def _probe(self, venue: str, rt_us: float | None) -> None:
        if rt_us is None:
            if venue not in self.down:
                self.down.append(venue)
        else:
            self.probe_rt.setdefault(venue, []).append(rt_us)
        self.query_one("#p1", ProgressBar).advance(1)
        parts = []
        for name, rts in self.probe_rt.items():
            parts.append(f"{name} {percentiles(rts)['p50']:,.0f}µs")
        text = "connected: " + "  ".join(parts)
        if self.down:
            text += f"\nno answer from {', '.join(self.down)}: orders there will time out and routers will see it"
        detail = self.query_one("#d1", Static)
        detail.update(text)
        detail.set_class(bool(self.down), "failed")

    def _policy_text(self) -> str:
        info = self.info
        fallback = f" ({info.warnings[0]})" if info.warnings else ""
        if info.router_kind == "baseline":
            what = "a baseline policy, nothing to load"
        elif info.router_kind == "bandit":
            what = "a bandit, learning online from every answered order"
        else:
            what = f"checkpoint trained {info.trained_at}, {info.inference} inference"
        return f"router {info.router}: {what}{fallback}"

    def _policy(self) -> None:
        self.query_one("#p2", ProgressBar).advance(1)
        self.query_one("#d2", Static).update(self._policy_text())

    def _backtest(self) -> None:
        runs = self.info.backtest_scenarios
        if not runs:
            self.query_one("#p2", ProgressBar).advance(1)
            self.query_one("#d2", Static).update(f"{self._policy_text()}\nbacktest: skipped (--skip-backtest)")
            return
        self.query_one("#p2", ProgressBar).update(total=1 + runs)
        self.query_one("#d2", Static).update(f"{self._policy_text()}\nbacktest: {runs} short scenarios running")
        self.backtest_running = True
        # the app's worker, not this screen's: a screen's workers are cancelled when it goes, and the
        # operator may skip ahead while the backtest runs
        self.console.run_worker(self._run_backtest, thread=True, group="backtest", exit_on_error=False)

    def _run_backtest(self) -> None:
        line = backtest_line(self.settings, self._from_thread(self._backtest_progress))
        self._from_thread(self._backtest_done)(line)

    def _from_thread(self, fn: Callable[..., None]) -> Callable[..., None]:
        def call(*args: object) -> None:
            with contextlib.suppress(RuntimeError):  # the app is closing: nobody left to tell
                self.console.call_from_thread(fn, *args)

        return call

    def _backtest_progress(self, done: int, total: int) -> None:
        with contextlib.suppress(NoMatches):  # the operator skipped ahead; the screen is gone
            self.query_one("#p2", ProgressBar).update(progress=1 + done)

    def _backtest_done(self, line: str) -> None:
        """The result shows in phase 2; only when the operator skipped ahead (this screen is gone) does it
        come as a notification, over the trades tape."""
        self.backtest_line = line
        if self.skipped:
            self.console.notify(line, title="pre-session backtest", timeout=15)
            return
        self.backtest_running = False
        self.hold_until = time.monotonic() + RESULT_HOLD_S
        self.query_one("#d2", Static).update(f"{self._policy_text()}\n{line}")

    def _execution(self) -> None:
        info = self.info
        self.query_one("#p3", ProgressBar).advance(1)
        self.query_one("#d3", Static).update(
            f"{', '.join(info.symbols)} on {len(info.venues)} venues, {info.clock} clock, "
            f"{info.duration_ns / 1e9:g} s of {info.data}; journal in {info.run_dir}"
        )
