"""Console benchmark: the engine's throughput with the Textual console attached (headless Textual,
engine thread on the simulated clock) against the same session headless; key-press-to-screen time;
kill-switch time from the confirming key to the engine state, with the journal checked after; the
tick-to-order decision latency (``decision_latency_us``) of wall-clock sessions with the console
attached, per router (``--routers``, ``--wall-s`` each; learned routers with numpy and jit inference).

    python benchmarks/console.py [--duration 60] [--presses 20] [--wall-s 30] [--routers best-price,dqn,ppo]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from learning import contention, contention_text
from machine import machine

from hft_console.domain import EngineState
from hft_console.engine.engine import Engine
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings, load_settings
from hft_console.ui.app import ConsoleApp
from hft_console.ui.panes import StatusBar


def settings(clock: str, duration: float, router: str = "best-price", inference: str = "jit") -> Settings:
    flags = {"session.mode": "production", "session.clock": clock, "session.duration_s": duration,
             "session.seed": 3, "session.symbols": "AAPL,MSFT,GOOGL", "session.router": router,
             "session.inference": inference}  # fmt: skip
    return load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)


async def wait_until(pilot: Any, condition: Any, timeout: float = 60.0) -> None:
    end = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError
        await pilot.pause(0.001)


async def with_ui(tmp: Path, duration: float) -> float:
    engine = Engine(settings("sim", duration), tmp / "ui")
    app = ConsoleApp(engine)
    async with app.run_test(size=(120, 40)):
        while not engine.finished:  # poll gently: the benchmark must not load the UI thread itself
            await asyncio.sleep(0.05)
    return engine.ticks / engine.wall_elapsed


async def keys_and_kill_switch(tmp: Path, presses: int) -> tuple[list[float], list[float], list[float], int]:
    """Keys are posted as the terminal driver would (``simulate_key``); times run to the pane's new
    content (key) and to the engine's state (kill switch), polled every millisecond."""
    engine = Engine(settings("wall", 3600), tmp / "keys")
    app = ConsoleApp(engine)
    key_ms: list[float] = []
    halt_ms: list[float] = []

    async def until(condition: Any, timeout: float = 5.0) -> None:
        end = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError
            await asyncio.sleep(0.001)

    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: engine.flow.orders > 5)
        bar = app.query_one(StatusBar)
        for _ in range(presses):
            want = not bar.paused
            started = time.perf_counter()
            app.simulate_key("p")
            await until(lambda w=want: ("PAUSED" in str(bar.content)) == w)
            key_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)
        await until(lambda: not engine.strategy.paused)
        for _ in range(presses):
            app.simulate_key("k")
            await until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
            await asyncio.sleep(0.1)  # the operator reads the dialog
            started = time.perf_counter()
            app.simulate_key("y")
            await until(lambda: engine.risk.state is EngineState.HALTED)
            halt_ms.append((time.perf_counter() - started) * 1000)
            await pilot.press("r", "y")
            await until(lambda: engine.risk.state is EngineState.ACTIVE)
            await asyncio.sleep(0.2)
        await pilot.press("q")
        if app.screen.__class__.__name__ == "ConfirmScreen":
            await pilot.press("y")
        await wait_until(pilot, lambda: engine.finished)
    applied = [ns / 1e6 for ns in engine.commands.apply_ns]
    assert engine.run_dir is not None
    db = sqlite3.connect(engine.run_dir / "journal.sqlite")
    late = 0
    halts = [r[0] for r in db.execute("select ts_ns from events where kind='STATE' and reason='HALTED'")]
    resumes = [r[0] for r in db.execute("select ts_ns from events where kind='STATE' and reason='ACTIVE'")]
    for h, r in zip(halts, resumes, strict=False):
        late += db.execute("select count(*) from orders where ts_ns > ? and ts_ns < ?", (h, r)).fetchone()[0]
    return key_ms, halt_ms, applied, late


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60.0, help="simulated seconds for the throughput runs")
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--wall-s", type=float, default=30.0, help="length of each wall-clock decision session")
    ap.add_argument("--routers", default="best-price,dqn,ppo", help="routers of the wall-clock sessions")
    ap.add_argument("--decisions-only", action="store_true", help="only the wall-clock decision sessions")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"wall clock, console attached ({args.wall_s:.0f} s each): tick-to-order decision and the router's "
              "own time, µs (goal: decision p99 <= 100)")  # fmt: skip
        for router in args.routers.split(","):
            for inference in ("numpy", "jit") if router in ("dqn", "ppo") else ("numpy",):
                n, (d50, d99, i50, i99), load = asyncio.run(wall_decisions(tmp, router, inference, args.wall_s))
                print(f"  {router:<11}{inference:<6} n {n:>4}  decision p50 {d50:6.1f} p99 {d99:6.1f}"
                      f"  router p50 {i50:6.1f} p99 {i99:6.1f}  ({load})")  # fmt: skip
        if args.decisions_only:
            return
        headless = Engine(settings("sim", args.duration), tmp / "headless")
        headless.run()
        base = headless.ticks / headless.wall_elapsed
        ui = asyncio.run(with_ui(tmp, args.duration))
        print(f"engine throughput headless      {base:>12,.0f} ticks/s")
        print(f"engine throughput console 10 Hz {ui:>12,.0f} ticks/s  ({ui / base:.0%} of headless; goal >= 70%)")
        key_ms, halt_ms, applied, late = asyncio.run(keys_and_kill_switch(tmp, args.presses))
    for label, values, goal in (
        ("key press to pane content (p)", key_ms, "<= 100"),
        ("kill switch: y to engine HALTED", halt_ms, "<= 50"),
        ("any command: submit to applied", applied, "<= 50"),
    ):
        p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
        p50 = statistics.median(values)
        print(f"{label:<32} p50 {p50:6.1f}  p95 {p95:6.1f}  max {max(values):6.1f} ms  (goal {goal} ms)")
    print(f"orders sent while halted         {late} (goal 0)")


if __name__ == "__main__":
    main()
