"""Run a backtest: every (scenario, router) pair through the real engine on the simulated clock,
spread over an executor's workers (local processes or Ray tasks: ``compute/``), with a progress bar.
Each run keeps nothing on disk and sends back only its figures."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.backtest.report import build_report
from hft_console.backtest.scenarios import STRATEGY_VARIANTS, Scenario, make_scenarios, scenario_settings
from hft_console.compute.executor import Executor, JobFailure, fetch, open_executor
from hft_console.engine.engine import Engine
from hft_console.market.lobster import split_venue
from hft_console.market.open import data_quality, data_stats, open_source
from hft_console.market.source import DataError, MarketSource
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings

_shared_market: dict[str, Any] = {}


class RunsFailed(RuntimeError):
    """Every run raised: no figure to report. ``failed``: each run's scenario, seed, router, strategy, error."""

    def __init__(self, failed: list[dict[str, Any]]) -> None:
        self.failed = failed
        super().__init__(f"every run failed ({len(failed)}); the first: {failed[0]['error'] if failed else '?'}")


RECORDED = ("replay:", "lobster:", "hftbacktest:")  # file sources: parsed once per process, rewound per run


def _market_for(settings: Settings, seed: int) -> MarketSource | None:
    """Recorded data (replay, LOBSTER, hftbacktest files) is parsed once per process and rewound for
    each run; other sources are opened per run (Yahoo reads its on-disk cache, filled before the
    workers start)."""
    src = settings.data.source
    if not src.startswith(RECORDED):
        return None
    cached = _shared_market.get(src)
    if cached is None:
        cached = open_source(replace(settings, data=replace(settings.data, record="")), seed)
        _shared_market[src] = cached
    rewound = getattr(cached, "rewound", None)
    if rewound is None:
        raise TypeError(f"{src}: expected a source that rewinds, got {type(cached).__name__}")
    market: MarketSource = rewound()
    return market


def data_files(src: str) -> tuple[str, list[tuple[str, Path]], str]:
    """A recorded source's files, to ship to a node that may not have them: (prefix, [(name in the
    shipped folder, file)], the source's body with its paths made relative to that folder). A LOBSTER
    message file travels with its orderbook file, a folder with every file in it; several sources
    each in a subfolder of their own (two days or venues may share a file name)."""
    prefix = next(p for p in RECORDED if src.startswith(p))
    body = src.removeprefix(prefix)
    if prefix == "replay:":
        path = Path(body)
        return prefix, [(path.name, path)], path.name
    files: list[tuple[str, Path]] = []
    parts: list[str] = []
    for k, item in enumerate(i for i in body.split(",") if i):
        text, venue = split_venue(item) if prefix == "lobster:" else (item, "")
        path, at = Path(text), f"@{venue}" if venue else ""
        if prefix == "lobster:" and path.is_dir():
            files += [(f"{k}/{p.name}", p) for p in sorted(path.iterdir()) if p.is_file()]
            parts.append(f"{k}{at}")
            continue
        book = path.with_name(path.name.replace("_message_", "_orderbook_"))
        extra = [book] if prefix == "lobster:" and book != path and book.exists() else []
        files += [(f"{k}/{p.name}", p) for p in (path, *extra)]
        parts.append(f"{k}/{path.name}{at}")
    return prefix, files, ",".join(parts)


def share_data(src: str) -> tuple[str, list[tuple[str, bytes]], str]:
    """What a remote node needs to replay ``src``: (prefix, [(name, bytes)], the body relative to them)."""
    prefix, files, body = data_files(src)
    return prefix, [(name, p.read_bytes()) for name, p in files], body


def local_data(settings: Settings, shared: Any) -> Settings:
    """``settings`` reading recorded data a job was handed through the executor (``share_data``, put in
    Ray's object store once): written once per worker process under the temporary directory, in a folder
    named by its content, so a node that never had the files replays the same bytes."""
    prefix, files, body = fetch(shared)
    digest = hashlib.sha256(b"".join(n.encode() + b"\0" + d for n, d in files)).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "hft-console-data" / digest
    for name, data in files:
        path = folder / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(path.name + f".{os.getpid()}.part")
            part.write_bytes(data)
            part.replace(path)  # atomic: another worker on this node may be writing the same file
    if prefix == "replay:":
        return replace(settings, data=replace(settings.data, source=f"replay:{folder / body}"))
    local = []
    for item in body.split(","):
        text, venue = split_venue(item) if prefix == "lobster:" else (item, "")
        local.append(str(folder / text) + (f"@{venue}" if venue else ""))
    return replace(settings, data=replace(settings.data, source=prefix + ",".join(local)))


def run_one(job: tuple[Any, ...]) -> dict[str, Any]:
    """One engine session; the figures the report needs, nothing else (results cross processes).
    ``job``: (settings, scenario, router, duration_s, strategy[, shared replay data])."""
    settings, sc, router, duration_s, strategy = job[:5]
    if len(job) > 5 and job[5] is not None:
        settings = local_data(settings, job[5])
    s = scenario_settings(settings, sc, router, duration_s, strategy)
    engine = Engine(s, None, market=_market_for(s, sc.seed))
    equity = _Equity(engine.duration_ns)
    engine.on_batch.append(equity)
    engine.run()
    flow, p = engine.flow, engine.portfolio
    path = [*engine.pnl_history, p.total]
    round_trips = [_p50_p95(x) for x in engine.monitor.samples]
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
        "data_stats": data_stats(engine.market),
        "wall_s": engine.wall_elapsed,
        "equity": equity.values(p.total),
        "rt_p50_us": [p50 for p50, _ in round_trips],
        "rt_p95_us": [p95 for _, p95 in round_trips],
    }


EQUITY_POINTS = 40  # P&L samples per run for the report's equity curves (--html): cheap, and enough to draw


class _Equity:
    """A run's P&L ($) at ``EQUITY_POINTS`` evenly spaced session times: each sample is taken at the
    first batch end at or after its time (engine time, so the same on any clock)."""

    def __init__(self, duration_ns: int) -> None:
        self.step = duration_ns / EQUITY_POINTS
        self.due = self.step
        self.samples = [0.0]

    def __call__(self, engine: Engine) -> None:
        while engine.now_ns >= self.due and len(self.samples) < EQUITY_POINTS:
            self.samples.append(engine.portfolio.total)
            self.due += self.step

    def values(self, final: float) -> list[float]:
        """``EQUITY_POINTS + 1`` values at k/N of the session, k = 0..N; the last is the P&L at the end,
        once every order in flight was answered (the report's ``pnl``)."""
        missing = EQUITY_POINTS - len(self.samples)  # a session stopped early: its P&L stays where it ended
        return [round(x, 4) for x in (*self.samples, *[final] * missing, final)]


def _p50_p95(samples: list[float]) -> tuple[float | None, float | None]:
    """A venue's round-trip p50 and p95 (linear interpolation), µs; None without any answer."""
    if not samples:
        return None, None
    p50, p95 = np.percentile(samples, [50, 95]).tolist()
    return round(p50, 1), round(p95, 1)


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
        raise DataError(
            "backtest",
            "finnhub is a live feed; backtest needs synthetic, replay:PATH, lobster:PATH, hftbacktest:PATH.npz "
            "or yahoo",
            2,
        )
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
    executor: str = "local",
    address: str = "",
) -> dict[str, Any]:
    """``n_scenarios`` scenarios of ``duration_s`` market seconds for every router, on ``workers``
    processes (0: one per CPU core; 1: in this process) of the ``executor`` (``compute/``: ``local``, or
    ``ray`` at ``address``), and every further strategy in ``strategies`` (the first is the one the
    routers run) with the first router. ``progress``: a progress bar on a terminal; ``on_progress(done,
    total)`` after each run. Returns the report (``report.build_report``) with what was asked for, the
    executor (``executor``: kind, address, nodes, cpus) and any run that raised (``failed``: its
    scenario, seed, router, strategy and error; the figures are over the runs that finished). Raises
    DataError when the data cannot be opened (before any run starts), ExecutorError when Ray cannot,
    RunsFailed when no run finished."""
    strategies = strategies or [""]
    with open_executor(executor, workers, address) as ex:
        scenarios, results, wall_s, symbols, failed = _run_all(
            settings, routers, strategies, n_scenarios, duration_s, ex, progress, on_progress
        )
        where = ex.describe()
    if not results:
        raise RunsFailed(failed)
    meta = {
        "data": settings.data.source,
        "mode": settings.session.mode,
        "seed": settings.session.seed,
        "duration_s": duration_s,  # asked for; the report's duration_s is what the runs simulated
        "symbols": symbols,
        "workers": ex.workers,
    }
    report = build_report(scenarios, results, routers, wall_s, meta, strategies)
    report["executor"] = where
    report["failed"] = failed
    return report


def _run_all(
    settings: Settings,
    routers: list[str],
    strategies: list[str],
    n_scenarios: int,
    duration_s: float,
    ex: Executor,
    progress: bool,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[list[Scenario], list[dict[str, Any]], float, list[str], list[dict[str, Any]]]:
    symbols, data_end_s = prepare(settings, duration_s)
    if data_end_s is not None:  # every run ends with the data: what depends on the length must know it
        duration_s = min(duration_s, data_end_s)
    scenarios = make_scenarios(settings, n_scenarios)
    shared = None
    src = settings.data.source
    if src.startswith(RECORDED) and ex.kind != "local":  # a remote node may not have the path: ship the bytes once
        shared = ex.share(share_data(src))
    jobs = [(settings, sc, r, duration_s, strategies[0], shared) for sc in scenarios for r in routers]
    jobs += [(settings, sc, routers[0], duration_s, st, shared) for sc in scenarios for st in strategies[1:]]
    started = time.perf_counter()
    bar = _Progress(len(jobs), progress)

    def done(n: int) -> None:
        bar.advance()
        if on_progress is not None:
            on_progress(n, len(jobs))

    try:
        chunk = max(1, min(16, len(jobs) // (ex.workers * 8)))
        out = ex.run(run_one, jobs, done, chunk)
    finally:
        bar.close()
    results = [r for r in out if not isinstance(r, JobFailure)]
    failed = [
        {"scenario": jobs[f.index][1].index, "seed": jobs[f.index][1].seed, "router": jobs[f.index][2],
         "strategy": jobs[f.index][4], "error": f.error}
        for f in out if isinstance(f, JobFailure)
    ]  # fmt: skip
    return scenarios, results, time.perf_counter() - started, symbols, failed


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
