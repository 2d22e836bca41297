"""Console benchmark: the engine's throughput on the simulated clock headless and with the Textual
console (headless Textual, 120×40) open on each view, in one run, alternating; the time from a key to
the first frame that shows its effect, for the view keys; the kill switch from the confirming key to
the engine state, with the journal checked after; the tick-to-order decision latency
(``decision_latency_us``) of wall-clock sessions with the console attached, per router (``--routers``,
``--wall-s`` each; learned routers with numpy and jit inference; ``--routers ''`` skips them).

    python benchmarks/console.py [--duration 60] [--rounds 2] [--presses 20] [--wall-s 30]
                                 [--routers best-price,dqn,ppo] [--decisions-only]

Goals (issue 18): the busiest view keeps >= 80% of the headless throughput; key to screen p99 <= 50 ms;
kill switch to HALTED p99 <= 50 ms. The machine line and the load average (start and end) are printed
beside the figures: on a shared machine only figures of one run compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learning import contention, contention_text
from machine import machine
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Label

from hft_console.domain import EngineState
from hft_console.engine.engine import Engine
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings, load_settings
from hft_console.ui.app import ConsoleApp
from hft_console.ui.charts import ChartsScreen
from hft_console.ui.events import EventLogScreen
from hft_console.ui.market import MarketScreen
from hft_console.ui.orders import OrderTicket
from hft_console.ui.panes import StatusBar
from hft_console.ui.screens import ConfirmScreen
from hft_console.ui.tape import TapeFilter

GOAL_SHARE = 0.80  # of the headless throughput, on the busiest view
GOAL_MS = 50.0  # p99, key to screen and kill switch to HALTED
Probe = Callable[[ConsoleApp], bool]


def settings(clock: str, duration: float, router: str = "best-price", inference: str = "jit") -> Settings:
    flags = {"session.mode": "production", "session.clock": clock, "session.duration_s": duration,
             "session.seed": 3, "session.symbols": "AAPL,MSFT,GOOGL", "session.router": router,
             "session.inference": inference}  # fmt: skip
    return load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)


def pct(values: list[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method: within the values; of 20, p99 lies near the largest)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def shown(app: ConsoleApp, selector: str, screen: type[Any] | None = None) -> Widget | None:
    """The widget ``selector`` on the current screen (of type ``screen``) once the compositor placed it."""
    if screen is not None and not isinstance(app.screen, screen):
        return None
    try:
        widget = app.screen.query_one(selector)
    except NoMatches:
        return None
    return widget if widget.region.height > 0 else None


def text_of(app: ConsoleApp, selector: str) -> str:
    widget = shown(app, selector)
    return str(widget.content) if isinstance(widget, Label) else ""


# the views: the key, what it is, and when its content is on the screen (all on the current screen)
VIEWS: dict[str, tuple[str, Probe]] = {
    "v": ("market view", lambda a: shown(a, "#venues", MarketScreen) is not None and "NBBO" in text_of(a, "#title")),
    "c": ("charts", lambda a: shown(a, "#pnl", ChartsScreen) is not None and a.screen.drawn is not None),  # type: ignore[attr-defined]
    "e": ("event log", lambda a: shown(a, "#lines", EventLogScreen) is not None and "events" in text_of(a, "#title")),
    "b": ("blotter open", lambda a: a.blotter and shown(a, "#blotter") is not None),
    "4": ("zoomed pane", lambda a: (w := shown(a, "#router")) is not None and w.region.width == a.size.width),
    "slash": ("tape filter", lambda a: shown(a, "#filter", TapeFilter) is not None),
    "o": ("order ticket", lambda a: shown(a, "#ticket", OrderTicket) is not None),
}  # fmt: skip
THROUGHPUT_VIEWS = ("", "v", "c", "e", "b", "4")  # "": the main screen
OPEN: dict[str, Probe] = {  # the view is open, content or not (before the engine's first snapshot)
    "": lambda a: len(a.screen_stack) == 1,
    "v": lambda a: isinstance(a.screen, MarketScreen),
    "c": lambda a: isinstance(a.screen, ChartsScreen),
    "e": lambda a: isinstance(a.screen, EventLogScreen),
    "b": lambda a: a.blotter and len(a.screen_stack) == 1,
    "4": lambda a: a.screen_stack[0].maximized is not None and len(a.screen_stack) == 1,
}


class HeldConsole(ConsoleApp):
    """The console whose engine starts only when released: the view under test is open from the
    session's first tick, so the session's ticks/s is the view's."""

    released = False

    def start_engine(self) -> None:
        if self.released:
            super().start_engine()


class Frames:
    """The time of the first composed frame of the current screen that satisfies ``probe``. Textual has no
    public hook for "a frame was composed", so this wraps ``App._display``, which the screen calls with
    each update after composing it (headless, the update is composed; only the terminal write is skipped)."""

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app
        self.probe: Probe | None = None
        self.hit = 0.0
        self.seen = asyncio.Event()
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if self.probe is not None and renderable is not None and screen is app.screen and self.probe(app):
                self.hit, self.probe = time.perf_counter(), None
                self.seen.set()

        setattr(app, "_display", display)  # noqa: B010 (mypy refuses assigning to a method)

    async def key_to_screen(self, key: str, probe: Probe) -> float:
        """ms from the key's event posted (as the terminal driver posts it) to the first frame with ``probe``."""
        self.seen.clear()
        self.probe = probe
        started = time.perf_counter()
        self.app.simulate_key(key)
        await asyncio.wait_for(self.seen.wait(), 10.0)
        return (self.hit - started) * 1000


async def until(condition: Callable[[], bool], timeout: float = 10.0, every: float = 0.001) -> None:
    end = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError
        await asyncio.sleep(every)


def headless_rate(tmp: Path, duration: float, name: str) -> float:
    gc.collect()
    engine = Engine(settings("sim", duration), tmp / name)
    engine.run()
    return engine.ticks / engine.wall_elapsed


async def console_rate(tmp: Path, duration: float, name: str, key: str) -> tuple[float, bool]:
    """Ticks/s of a session with the console open on view ``key`` ("": the main screen) from its first
    tick; and whether the view was still open at the end."""
    gc.collect()
    engine = Engine(settings("sim", duration), tmp / name)
    app = HeldConsole(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        probe = OPEN[key]
        if key:
            await pilot.press(key)
        await until(lambda: probe(app), every=0.01)
        app.released = True
        app.start_engine()
        while not engine.finished:  # poll gently: the benchmark must not load the UI thread itself
            await asyncio.sleep(0.05)
        still = probe(app)
    return engine.ticks / engine.wall_elapsed, still


def throughput(tmp: Path, duration: float, rounds: int) -> None:
    """Every configuration once a round, the order reversed every other round (drift over the run falls
    on all alike); the median of the rounds."""
    configs = ("headless", *THROUGHPUT_VIEWS)
    rates: dict[str, list[float]] = {c: [] for c in configs}
    closed: set[str] = set()
    loads = []
    for r in range(rounds):
        for config in configs if r % 2 == 0 else configs[::-1]:
            name = f"tp-{r}-{config or 'main'}"
            if config == "headless":
                rates[config].append(headless_rate(tmp, duration, name))
            else:
                rate, still = asyncio.run(console_rate(tmp, duration, name, config))
                rates[config].append(rate)
                closed |= set() if still else {config}
        loads.append(f"{os.getloadavg()[0]:.1f}")
    base = statistics.median(rates["headless"])
    print(f"engine throughput, simulated clock, {duration:g} s sessions, {rounds} rounds alternating, ticks/s "
          f"(median; each round's; load after each round {', '.join(loads)}):")  # fmt: skip
    share: dict[str, float] = {}
    for config in configs:
        rate = statistics.median(rates[config])
        label = "headless" if config == "headless" else "console: " + (
            f"{VIEWS[config][0]} ({config})" if config else "main screen")  # fmt: skip
        ratio = "" if config == "headless" else f"{rate / base:5.0%}"
        each = " ".join(f"{x / 1000:,.0f}k" for x in rates[config])
        note = "  (the view had closed by the end)" if config in closed else ""
        print(f"  {label:<28}{rate:>10,.0f} {ratio:>5}  [{each}]{note}")
        if config != "headless":
            share[config] = rate / base
    busiest = min(share, key=lambda c: share[c])
    name = f"{VIEWS[busiest][0]} ({busiest})" if busiest else "main screen"
    verdict = "PASS" if share[busiest] >= GOAL_SHARE else "FAIL"
    print(f"busiest view: {name}, {share[busiest]:.0%} of headless (goal >= {GOAL_SHARE:.0%}): {verdict}")


async def keys_and_kill_switch(tmp: Path, presses: int) -> tuple[dict[str, list[float]], list[float], list[float], int]:
    """A wall-clock session with the console: key to screen for ``p`` and each view key (``presses``
    each, the view closed again between presses), then ``presses`` kill switches (y to HALTED, the
    engine's state polled every millisecond) each followed by a resume; from the journal, the orders
    sent while halted."""
    engine = Engine(settings("wall", 3600), tmp / "keys")
    app = ConsoleApp(engine)
    keys: dict[str, list[float]] = {k: [] for k in ("p", *VIEWS)}
    halt_ms: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        frames = Frames(app)
        await until(lambda: engine.flow.orders > 5, timeout=60.0)
        bar = app.query_one(StatusBar)
        main = app.screen_stack[0]
        for _ in range(presses):
            for key, (_, probe) in VIEWS.items():
                keys[key].append(await frames.key_to_screen(key, probe))
                app.simulate_key("b" if key == "b" else "4" if key == "4" else "escape")
                await until(lambda: len(app.screen_stack) == 1 and not app.blotter and main.maximized is None)
                await asyncio.sleep(0.05)
            want = not bar.paused
            keys["p"].append(await frames.key_to_screen("p", lambda _: ("PAUSED" in str(bar.content)) == want))  # noqa: B023
            await asyncio.sleep(0.05)
        if bar.paused:
            await pilot.press("p")
        await until(lambda: not engine.strategy.paused)
        for _ in range(presses):
            app.simulate_key("k")
            await until(lambda: isinstance(app.screen, ConfirmScreen))
            await asyncio.sleep(0.1)  # the operator reads the dialog
            started = time.perf_counter()
            app.simulate_key("y")
            await until(lambda: engine.risk.state is EngineState.HALTED)
            halt_ms.append((time.perf_counter() - started) * 1000)
            await pilot.press("r", "y")
            await until(lambda: engine.risk.state is EngineState.ACTIVE)
            await asyncio.sleep(0.2)
        await pilot.press("q")
        if isinstance(app.screen, ConfirmScreen):
            await pilot.press("y")
        await until(lambda: engine.finished, timeout=60.0, every=0.01)
    applied = [ns / 1e6 for ns in engine.commands.apply_ns]
    assert engine.run_dir is not None
    db = sqlite3.connect(engine.run_dir / "journal.sqlite")
    late = 0
    halts = [r[0] for r in db.execute("select ts_ns from events where kind='STATE' and reason='HALTED'")]
    resumes = [r[0] for r in db.execute("select ts_ns from events where kind='STATE' and reason='ACTIVE'")]
    for h, r in zip(halts, resumes, strict=False):
        late += db.execute("select count(*) from orders where ts_ns > ? and ts_ns < ?", (h, r)).fetchone()[0]
    db.close()
    return keys, halt_ms, applied, late


async def wall_decisions(tmp: Path, router: str, inference: str, seconds: float) -> tuple[int, list[float], str]:
    """A wall-clock session with the console attached (10 Hz panes, the console's GIL and collector
    settings): its decisions and tick-to-order p50/p99 decision latency, p50/p99 of the router's
    own time per decision (``inference_us``), µs, and the machine's load over it."""
    engine = Engine(settings("wall", seconds, router, inference), tmp / f"wall-{router}-{inference}")
    app = ConsoleApp(engine)
    since = contention()
    async with app.run_test(size=(120, 40)):
        while not engine.finished:  # poll gently: the benchmark must not load the UI thread itself
            await asyncio.sleep(0.05)
    figures = [
        statistics.quantiles([ns / 1000 for ns in values], n=100)[q - 1]
        for values in (engine.flow.decision_ns, engine.router.inference_ns)
        for q in (50, 99)
    ]
    return len(engine.flow.decision_ns), figures, contention_text(since)


def timing_line(label: str, values: list[float]) -> str:
    verdict = "PASS" if pct(values, 99) <= GOAL_MS else "FAIL"
    return (f"  {label:<30} p50 {statistics.median(values):6.1f}  p99 {pct(values, 99):6.1f}  "
            f"max {max(values):6.1f} ms  {verdict}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60.0, help="simulated seconds of each throughput session")
    ap.add_argument("--rounds", type=int, default=2, help="throughput sessions per configuration, alternating")
    ap.add_argument("--presses", type=int, default=20, help="presses of each key, and kill switches")
    ap.add_argument("--wall-s", type=float, default=30.0, help="length of each wall-clock decision session")
    ap.add_argument("--routers", default="best-price,dqn,ppo", help="routers of the wall-clock sessions ('': none)")
    ap.add_argument("--decisions-only", action="store_true", help="only the wall-clock decision sessions")
    args = ap.parse_args()
    for flag, value in (("--duration", args.duration), ("--rounds", args.rounds), ("--presses", args.presses),
                        ("--wall-s", args.wall_s)):  # fmt: skip
        if not value > 0:
            ap.exit(2, f"console.py: error: {flag} {value}: expected a number above 0\n")
    print(f"machine: {machine()}")
    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        routers = [r for r in args.routers.split(",") if r]
        if routers:
            print(f"wall clock, console attached ({args.wall_s:.0f} s each): tick-to-order decision and the "
                  "router's own time, µs (goal: decision p99 <= 100)")  # fmt: skip
        for router in routers:
            for inference in ("numpy", "jit") if router in ("dqn", "ppo") else ("numpy",):
                n, (d50, d99, i50, i99), machine_load = asyncio.run(wall_decisions(tmp, router, inference, args.wall_s))
                print(f"  {router:<11}{inference:<6} n {n:>4}  decision p50 {d50:6.1f} p99 {d99:6.1f}"
                      f"  router p50 {i50:6.1f} p99 {i99:6.1f}  ({machine_load})")  # fmt: skip
        if not args.decisions_only:
            throughput(tmp, args.duration, args.rounds)
            keys, halt_ms, applied, late = asyncio.run(keys_and_kill_switch(tmp, args.presses))
            print(f"key to screen, wall clock, {args.presses} presses each (goal p99 <= {GOAL_MS:.0f} ms):")
            print(timing_line("p pause (status line)", keys["p"]))
            for key, (what, _) in VIEWS.items():
                print(timing_line(f"{'/' if key == 'slash' else key} {what}", keys[key]))
            worst = max(pct(v, 99) for v in keys.values())
            print(f"  slowest key p99 {worst:.1f} ms: {'PASS' if worst <= GOAL_MS else 'FAIL'}")
            print(f"kill switch, {args.presses} times (goal p99 <= {GOAL_MS:.0f} ms):")
            print(timing_line("y to engine HALTED", halt_ms))
            print(timing_line("any command: submit to applied", applied))
            print(f"  orders sent while halted {late} (goal 0): {'PASS' if late == 0 else 'FAIL'}")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
