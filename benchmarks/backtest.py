"""Backtest benchmark: replay through the full pipeline on the simulated clock, where the time goes
per tick, and a Monte Carlo of many scenarios.

    python benchmarks/backtest.py [--replay-seconds 60] [--scenarios 1000] [--workers 0]

Replay: a production-mode session is recorded once (3 symbols, 6 venues), then replayed through
normaliser, book, strategy, router, risk, venues, portfolio and an in-memory journal, in one process.
Events are quote updates plus venue events (arrivals and reports). The stage table times the array
stages of the pipeline on the same ticks. The Monte Carlo runs ``hft-console backtest``'s code path
with every core (``--workers 0``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from machine import machine

from hft_console.backtest.run import run_backtest
from hft_console.backtest.scenarios import BACKTEST_BATCH_MS
from hft_console.engine.engine import Engine
from hft_console.market.book import batch_nbbo
from hft_console.market.normalizer import OK, Normalizer
from hft_console.market.replay import ReplayMarket
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings, load_settings
from hft_console.strategies.imbalance import ImbalanceStrategy


def settings_for(mode: str, **flags: object) -> Settings:
    base: dict[str, object] = {"session.mode": mode, "session.clock": "sim", "session.seed": 3}
    base.update(flags)
    return load_settings(base, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)


def replay(tmp: Path, seconds: float) -> None:
    rec = tmp / "ticks.parquet"
    s = settings_for("production", **{"session.duration_s": seconds, "data.record": str(rec)})
    Engine(s, tmp / "record").run()
    s = settings_for("production", **{"session.duration_s": seconds, "data.source": f"replay:{rec}"})
    s = replace(s, market=replace(s.market, batch_ms=BACKTEST_BATCH_MS))
    started = time.perf_counter()
    market = ReplayMarket(rec, None, [v.name for v in s.venues])
    loaded = time.perf_counter() - started
    best = None
    for _ in range(3):
        engine = Engine(s, None, market=market.rewound())
        t0 = time.perf_counter()
        engine.run()
        wall = time.perf_counter() - t0
        events = engine.ticks + engine.flow.events
        best = max(best or 0.0, events / wall)
    print(f"replay: {market.n_events:,} quotes ({seconds:g} s recorded, production mode), file read in {loaded:.2f} s")
    print(f"replay through the full pipeline: {best:,.0f} events/s (best of 3, one process)")
    stages(s, market)


def stages(s: Settings, market: ReplayMarket) -> None:
    """ns per tick of each array stage, on the replayed ticks in 1 s batches."""
    n_sym, n_ven = len(market.symbols), len(s.venues)
    norm, strat = Normalizer(n_sym, n_ven, s.normalizer), ImbalanceStrategy(n_sym, s.strategy)
    src = market.rewound()
    spent = dict.fromkeys(("read batch", "normalise", "NBBO", "signal"), 0.0)
    ticks, t1 = 0, 0
    while not src.exhausted:
        t1 += 1_000_000_000
        a = time.perf_counter()
        b = src.next_batch(t1)
        before = list(norm.last_tick)
        c = time.perf_counter()
        verdict = norm.check_batch(b.ts, b.stream, b.bid, b.ask, b.bid_size, b.ask_size)
        d = time.perf_counter()
        book = batch_nbbo(np.flatnonzero(verdict == OK), b.ts, b.stream, b.bid, b.ask, b.bid_size, b.ask_size, before,
                          n_ven)  # fmt: skip
        e = time.perf_counter()
        rows = np.flatnonzero(book.valid)
        strat.signal_batch(book.sym[rows], book.ts[rows], book.bid_size[rows], book.ask_size[rows])
        f = time.perf_counter()
        for key, dt in zip(spent, (c - a, d - c, e - d, f - e), strict=True):
            spent[key] += dt
        ticks += len(b)
    print("array stages, ns per tick: " + ", ".join(f"{k} {v / ticks * 1e9:,.0f}" for k, v in spent.items()))


def monte_carlo(n: int, workers: int) -> None:
    s = settings_for("fast")
    report = run_backtest(s, [s.session.router], n, s.backtest.duration_s, workers, False)
    print(
        f"monte carlo: {n:,} scenarios x {report['duration_s']:g} s (fast mode, {report['workers']} workers): "
        f"{report['wall_s']:.1f} s wall, {report['events']:,} events, {report['events_per_s']:,.0f} events/s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--replay-seconds", type=float, default=60.0)
    ap.add_argument("--scenarios", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        replay(Path(tmp), args.replay_seconds)
    monte_carlo(args.scenarios, args.workers)


if __name__ == "__main__":
    main()
