"""Monte Carlo scenarios: each varies the seed, the volatility and the venues' latency regime.

Scenario ``i`` of a backtest is a pure function of (base seed, i, settings), so every router meets
exactly the same scenarios (common random numbers: differences between routers are not noise from
different markets) and any scenario can be re-run alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hft_console.rng import rng_for
from hft_console.settings import Settings
from hft_console.venues.regimes import regime_venues

BACKTEST_BATCH_MS = 1000.0


@dataclass(frozen=True)
class Scenario:
    """One Monte Carlo world: its market seed, a volatility multiplier (mean 1) and a latency regime
    of ``venues/regimes.py`` (``degraded_venue`` names the venue in trouble)."""

    index: int
    seed: int
    vol_mult: float
    regime: str
    degraded_venue: str  # empty unless regime == "degraded"


def make_scenarios(settings: Settings, n: int) -> list[Scenario]:
    """The first ``n`` scenarios of the session seed: regimes drawn by ``degraded_share`` and
    ``congested_share``, the rest calm."""
    bt = settings.backtest
    base = settings.session.seed
    venues = [v.name for v in settings.venues]
    out: list[Scenario] = []
    for i in range(n):
        rng = rng_for(base, f"backtest.scenario.{i}")
        seed = int(rng.integers(0, 2**62))
        vol_mult = float(np.exp(rng.normal(0.0, bt.vol_sigma) - bt.vol_sigma**2 / 2))  # mean 1
        u = float(rng.random())
        if u < bt.degraded_share:
            regime, degraded = "degraded", venues[int(rng.integers(0, len(venues)))]
        elif u < bt.degraded_share + bt.congested_share:
            regime, degraded = "congested", ""
        else:
            regime, degraded = "calm", ""
        out.append(Scenario(i, seed, vol_mult, regime, degraded))
    return out


STRATEGY_VARIANTS = {"imbalance": ("imbalance", "take"), "imbalance-post": ("imbalance", "post"),
                     "imbalance-peg": ("imbalance", "peg"), "market-maker": ("market-maker", "take")}  # fmt: skip
"""What ``backtest --strategies`` compares: name -> (``strategy.name``, ``strategy.join``)."""


def scenario_settings(settings: Settings, sc: Scenario, router: str, duration_s: float, strategy: str = "") -> Settings:
    """The session settings one (scenario, router, strategy) run uses: simulated clock, quiet, in memory.
    ``strategy``: a STRATEGY_VARIANTS name (empty: the session's)."""
    if strategy:
        name, join = STRATEGY_VARIANTS[strategy]
        settings = replace(settings, strategy=replace(settings.strategy, name=name, join=join))
    venues = regime_venues(settings.venues, sc.regime, sc.degraded_venue)
    vol = min(5.0, settings.market.annual_vol * sc.vol_mult)
    return replace(
        settings,
        session=replace(
            settings.session,
            seed=sc.seed,
            router=router,
            clock="sim",
            duration_s=duration_s,
            log_level="quiet",
            online_learning=False,  # a backtest measures the checkpoint as shipped
        ),
        # long batches: on the simulated clock nobody waits for a batch, and numpy's per-call cost
        # is spread over more ticks
        market=replace(settings.market, annual_vol=vol, batch_ms=max(settings.market.batch_ms, BACKTEST_BATCH_MS)),
        # the P&L path gets a point per latency bucket (at most ~500), but at most one per batch (1 s)
        engine=replace(settings.engine, latency_bucket_s=max(0.1, duration_s / 500), latency_buckets=60),
        data=replace(settings.data, record=""),
        venues=venues,
    )
