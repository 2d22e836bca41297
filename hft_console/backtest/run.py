"""Run a backtest: every (scenario, router) pair through the real engine on the simulated clock,
spread over processes, with a progress bar. Each run keeps nothing on disk."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from typing import Any

from hft_console.backtest.report import build_report
from hft_console.backtest.scenarios import STRATEGY_VARIANTS, Scenario, make_scenarios, scenario_settings
from hft_console.engine.engine import Engine
from hft_console.market.open import data_quality, open_source
from hft_console.market.replay import ReplayMarket
from hft_console.market.source import DataError, MarketSource
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings

_shared_market: dict[str, Any] = {}


def _market_for(settings: Settings, seed: int) -> MarketSource | None:
    """Replay files are parsed once per process and rewound for each run; other sources are
    opened per run (Yahoo reads its on-disk cache, filled before the workers start)."""
    src = settings.data.source
    if not src.startswith("replay:"):
        return None
    cached = _shared_market.get(src)
    if cached is None:
        cached = open_source(replace(settings, data=replace(settings.data, record="")), seed)
        _shared_market[src] = cached
    if not isinstance(cached, ReplayMarket):
        raise TypeError(f"{src}: expected a ReplayMarket, got {type(cached).__name__}")
    return cached.rewound()


def run_one(job: tuple[Settings, Scenario, str, float, str]) -> dict[str, Any]:
    """One engine session; the figures the report needs, nothing else (results cross processes)."""
    settings, sc, router, duration_s, strategy = job
    s = scenario_settings(settings, sc, router, duration_s, strategy)
    engine = Engine(s, None, market=_market_for(s, sc.seed))
    engine.run()
    flow, p = engine.flow, engine.portfolio
    path = [*engine.pnl_history, p.total]
    return {
        "scenario": sc.index,
        "router": router,
        "strategy": strategy,
        "regime": sc.regime,
        "pnl": p.total,
        "fees": p.fees,
        "path": path,
        "events": engine.ticks + engine.trades_seen + flow.events,
        "orders": flow.orders,
        "venues": [v.name for v in engine.venues],
        "qty_sent": flow.qty_sent,
        "qty_filled": flow.qty_filled,
        "cost_price": flow.cost_price,
        "cost_fees": flow.cost_fees,
        "notional_filled": flow.notional_filled,
        "notional_sent": flow.notional_sent,
        "cost_missed": flow.cost_missed,
        "duration_s": engine.session_end_ns / 1e9,  # market time simulated: a shorter replay ends early
        "round_trip_us": flow.round_trip_us,
        "answered": flow.answered,
        "orders_by_venue": [v.orders for v in engine.venues],
        "risk_denials": flow.denials,
        "fees_taker": flow.fees_taker,
        "rebates_maker": flow.rebates_maker,
        "passive_orders": flow.passive_orders,
        "passive_fills": flow.passive_fills,
        "passive_filled_orders": flow.passive_filled_orders,
        "adverse_bps_qty": flow.adverse_bps_qty,
        "adverse_qty": flow.adverse_qty,
        "data_quality": data_quality(engine.market),  # the same data in every run: the report keeps one
        "wall_s": engine.wall_elapsed,
    }


def resolve_strategies(settings: Settings, text: str) -> list[str]:
    """The strategies a comma-separated list names, in order, once each (STRATEGY_VARIANTS names); an
    empty list the session's. Raises ValueError naming an unknown one."""
    names = [r.strip() for r in text.split(",") if r.strip()]
    if not names:
        return [settings.strategy.name if settings.strategy.join == "take" else f"{settings.strategy.name}-post"]
    unknown = [n for n in names if n not in STRATEGY_VARIANTS]
    if unknown:
        raise ValueError(
            f"backtest.strategies: {unknown[0]!r} is not a strategy: expected {', '.join(STRATEGY_VARIANTS)}"
        )
    return list(dict.fromkeys(names))


def resolve_routers(settings: Settings, text: str) -> list[str]:
    """The routers a comma-separated list names, in order, once each; ``all`` is every router, an
    empty list the session's router."""
    names = [r.strip() for r in text.split(",") if r.strip()]
    if not names:
        return [settings.session.router]
    if "all" in names:
        return list(ROUTER_NAMES)
    return list(dict.fromkeys(names))


def prepare(settings: Settings, duration_s: float) -> tuple[list[str], float | None]:
    """Fail fast in the parent, before any worker starts: the data must open (and be cached). The
    symbols the runs trade (the configured ones, or those in a replay file) and the session second at
    which recorded data ends (None: it does not end)."""
    src = settings.data.source
    if src == "finnhub":
        raise DataError("backtest", "finnhub is a live feed; backtest needs synthetic, replay:PATH or yahoo", 2)
    if src == "synthetic":
        return list(settings.session.symbols), None
    opened = replace(
        settings, data=replace(settings.data, record=""), session=replace(settings.session, duration_s=duration_s)
    )
    market = open_source(opened, settings.session.seed)
    market.close()
    end_ns: int | None = getattr(market, "end_ns", None)
    return list(market.symbols), (end_ns / 1e9 if end_ns else None)


def run_backtest(
    settings: Settings,
    routers: list[str],
    n_scenarios: int,
    duration_s: float,
    workers: int,
    progress: bool,
    on_progress: Callable[[int, int], None] | None = None,
    strategies: list[str] | None = None,
) -> dict[str, Any]:
    """``n_scenarios`` scenarios of ``duration_s`` market seconds for every router, on ``workers``
    processes (0: one per CPU core; 1: in this process), and every further strategy in ``strategies``
    (the first is the one the routers run) with the first router. ``progress``: a progress bar on a terminal;
    ``on_progress(done, total)`` after each run. Returns the report (``report.build_report``) with what
    was asked for. Raises DataError when the data cannot be opened (before any run starts)."""
    strategies = strategies or [""]
    scenarios, results, wall_s, symbols = _run_all(
        settings, routers, strategies, n_scenarios, duration_s, workers, progress, on_progress
    )
    meta = {
        "data": settings.data.source,
        "mode": settings.session.mode,
        "seed": settings.session.seed,
        "duration_s": duration_s,  # asked for; the report's duration_s is what the runs simulated
        "symbols": symbols,
        "workers": workers or os.cpu_count() or 1,
    }
    return build_report(scenarios, results, routers, wall_s, meta, strategies)


def _run_all(
    settings: Settings,
    routers: list[str],
    strategies: list[str],
    n_scenarios: int,
    duration_s: float,
    workers: int,
    progress: bool,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[list[Scenario], list[dict[str, Any]], float, list[str]]:
    symbols, data_end_s = prepare(settings, duration_s)
    if data_end_s is not None:  # every run ends with the data: what depends on the length must know it
        duration_s = min(duration_s, data_end_s)
    scenarios = make_scenarios(settings, n_scenarios)
    jobs = [(settings, sc, r, duration_s, strategies[0]) for sc in scenarios for r in routers]
    jobs += [(settings, sc, routers[0], duration_s, st) for sc in scenarios for st in strategies[1:]]
    workers = workers or os.cpu_count() or 1
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    bar = _Progress(len(jobs), progress)
    try:
        if workers == 1 or len(jobs) == 1:
            for job in jobs:
                results.append(run_one(job))
                bar.advance()
                if on_progress is not None:
                    on_progress(len(results), len(jobs))
        else:
            # spawn, not fork: worker processes must not inherit threads or a JAX runtime
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
                chunk = max(1, min(16, len(jobs) // (workers * 8)))
                for result in pool.map(run_one, jobs, chunksize=chunk):
                    results.append(result)
                    bar.advance()
                    if on_progress is not None:
                        on_progress(len(results), len(jobs))
    finally:
        bar.close()
    return scenarios, results, time.perf_counter() - started, symbols


class _Progress:
    """A rich progress bar on a terminal; silence otherwise (scripts read the JSON)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.progress: Any = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=Console(stderr=True),
            )  # fmt: skip
            self.task = self.progress.add_task("runs", total=total)
            self.progress.start()

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
