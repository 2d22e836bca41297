"""A session's start-up, before it trades: what the console's start-up screen shows and the short
pre-session backtest (the console's and the headless session's).

:class:`SessionInfo` is built once by the session command from the engine it opened, so the screen
reads plain facts and never reaches into the engine, the router or a venue's latency model. Venue
probes are round trips drawn from each venue's own latency model with a generator of their own
(``probe.<venue>``), so the session's random streams are untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hft_console.backtest.run import run_backtest
from hft_console.domain import VenueSpec
from hft_console.engine.engine import Engine
from hft_console.market.source import DataError
from hft_console.money import money
from hft_console.rng import Draws, rng_for
from hft_console.routing.registry import BANDIT_ROUTER_NAMES, BASELINE_NAMES
from hft_console.settings import Settings
from hft_console.venues.latency import LatencyModel

PROBES = 8  # round trips per venue
PROBE_SPACING_NS = 1_000_000


@dataclass(frozen=True)
class VenueProbe:
    """One venue's probes: a round trip in µs per probe, None where the venue did not answer (down)."""

    name: str
    round_trips_us: tuple[float | None, ...]


@dataclass(frozen=True)
class SessionInfo:
    """What a session is about to run, as the start-up screen shows it.

    ``router_kind`` is ``baseline``, ``bandit`` or ``learned``; ``trained_at`` is a learned router's
    checkpoint stamp (``?`` when it has none, empty for the others); ``inference`` what computes the
    decisions (``jit`` or ``numpy``). ``backtest_scenarios`` is 0 when the pre-session backtest is skipped.
    """

    router: str
    router_kind: str
    trained_at: str
    inference: str
    warnings: tuple[str, ...]
    venues: tuple[VenueProbe, ...]
    symbols: tuple[str, ...]
    clock: str
    duration_ns: int
    data: str
    run_dir: Path | None
    backtest_scenarios: int


def probe_venue(spec: VenueSpec, seed: int, probes: int = PROBES) -> VenueProbe:
    """``probes`` round trips (two one-way draws) 1 ms apart from the venue's latency model, on the
    venue's ``probe.<name>`` stream of ``seed``."""
    model = LatencyModel(spec.latency, Draws(rng_for(seed, f"probe.{spec.name}")))
    round_trips = [model.round_trip_us(i * PROBE_SPACING_NS) for i in range(probes)]
    return VenueProbe(spec.name, tuple(round_trips))


def session_info(engine: Engine) -> SessionInfo:
    """The facts of an opened, not yet started, session."""
    s = engine.settings
    router = engine.router
    if router.name in BASELINE_NAMES:
        kind, trained_at = "baseline", ""
    elif router.name in BANDIT_ROUTER_NAMES:  # dark-km too: nothing trained
        kind, trained_at = "bandit", ""
    else:
        kind, trained_at = "learned", str(router.meta.get("trained_at", "?"))
    return SessionInfo(
        router=router.name,
        router_kind=kind,
        trained_at=trained_at,
        inference=router.backend,
        # The router's own warnings (a fallback) reach the engine's list only when the session starts.
        warnings=(*engine.warnings, *router.warnings),
        venues=tuple(probe_venue(v.spec, s.session.seed) for v in engine.venues),
        symbols=tuple(engine.symbols),
        clock=s.session.clock,
        duration_ns=engine.duration_ns,
        data=engine.market.label,
        run_dir=engine.run_dir,
        backtest_scenarios=0 if s.session.skip_backtest else s.backtest.startup_scenarios,
    )


def startup_backtest(settings: Settings, on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The session's pre-trade check: a few short scenarios of its own router on its own data (a live
    feed cannot be backtested, so a Finnhub session checks its router on synthetic data). It runs in
    this process: for a handful of short runs, starting worker processes costs more than it saves.
    ``on_progress(done, total)`` after each run. Raises DataError when the data cannot be opened."""
    bt = settings.backtest
    if settings.data.source == "finnhub":
        settings = replace(settings, data=replace(settings.data, source="synthetic"))
    return run_backtest(
        settings, [settings.session.router], bt.startup_scenarios, bt.startup_duration_s, 1, False, on_progress
    )


def startup_line(report: dict[str, Any]) -> str:
    """A backtest report (``run_backtest``'s) as one line."""
    p = report["pnl"]
    return (
        f"Backtest {report['router']}: {report['scenarios']} scenarios x {report['duration_s']:g} s on "
        f"{report['data']}: P&L {money(p['mean'])} ± {money(p['ci95'], signed=False)}, "
        f"fill rate {report['fill_rate']:.1%}, cost {report['cost_bps']:.2f} bps "
        f"(misses {report['miss_cost_bps']:.2f}), "
        f"max drawdown {money(report['max_drawdown'], signed=False)}"
    )


def backtest_line(settings: Settings, on_progress: Callable[[int, int], None] | None = None) -> str:
    """Run the pre-session backtest; its result as one line, or why it did not run (its data failed)."""
    try:
        return startup_line(startup_backtest(settings, on_progress))
    except DataError as exc:
        return f"Backtest: not run ({exc})"
