"""A JAX-native routing environment: one step = one child order of a parent routed to one venue.

It is the event-driven venue simulator reduced to what a routing decision changes, read from the
same venue settings (fees, depth, staleness, reject odds, the whole latency model) so both agree on
what a venue costs: a test holds the two to the same cost distribution for a fixed router.

Per step: each venue is at the consolidated best price with some odds (so only some are eligible),
shows a lognormal displayed size, and has a hidden state — calm or congested (a continuous-time
Markov chain advanced by ``decision_dt_s``) and up or down (outages). The router picks a venue and a
share of the parent; the order flies there (lognormal latency, jitter, spikes, congestion, IEX's
bump), and fills at the touch only if the quote is still there when it lands — it survives the
flight with probability exp(-flight / fade_tau), less when the venue's quote is stale — or not at
all; a venue that is down never answers (timeout), and venues reject a few orders. Cost in bps of
the child's notional: half the spread and the taker fee per filled share (a child is a limit at the
touch, so the engine's square-root impact never moves its price past the limit: none here),
and ``miss_penalty_ticks`` per unfilled share, as the engine scores its routers. What the router
observes is what the engine shows it: eligibility, displayed sizes, fees, and each venue's measured
round-trip EWMA (10% per answer, timeouts included) — never the hidden regime. The oracle sees it.

Everything is pure jnp over NamedTuples: ``reset``/``step`` vmap over scenarios and scan over time.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hft_console.routing.models import latency
from hft_console.routing.models.checkpoint import Params
from hft_console.settings import Settings
from hft_console.venues.latency import prior_round_trip_us
from hft_console.venues.monitor import EWMA_ALPHA
from hft_console.venues.regimes import REGIMES
from hft_console.venues.simulator import impact_per_sqrt_share

QUAD = 16  # fixed normal quantiles the oracle integrates latency over


class EnvParams(NamedTuple):
    taker_fee: jax.Array  # (V,) $ per share
    touch_prob: jax.Array  # odds the venue shows the consolidated best price
    depth: jax.Array  # displayed shares at the touch (median)
    stale_us: jax.Array
    reject_prob: jax.Array
    median_us: jax.Array
    sigma: jax.Array
    jitter_us: jax.Array
    spike_prob: jax.Array
    spike_min: jax.Array
    spike_max: jax.Array
    congested_mult: jax.Array
    congested_spike_prob: jax.Array
    to_congested: jax.Array  # per s
    to_calm: jax.Array
    outage_rate: jax.Array  # per s
    outage_mean_s: jax.Array
    timeout_us: jax.Array
    bump_us: jax.Array
    prior_rt_us: jax.Array  # what the EWMA starts from (the latency model's calm mean)
    price: float
    tick: float
    qty: float  # parent order, shares
    fade_tau_us: float
    snipe_per_tick: float
    vol_per_sqrt_us: float  # fair-price move per sqrt(µs), in ticks (staleness -> sniping)
    miss_penalty_ticks: float
    impact_per_sqrt_share: float
    decision_dt_s: float
    predictor: Params  # the latency forecaster's shared starting weights (``routing/models/latency.py``)


class EnvState(NamedTuple):
    congested: jax.Array  # (V,) bool
    down_left_s: jax.Array  # (V,) remaining outage, 0 = up
    ewma_us: jax.Array  # (V,) measured round trip
    last_rt_us: jax.Array
    eligible: jax.Array  # (V,) bool, the current decision's
    size: jax.Array  # (V,) displayed shares
    t: jax.Array  # step count
    fc: latency.Forecast  # the latency forecaster, learning online from every answer


class StepInfo(NamedTuple):
    cost_bps: jax.Array
    filled: jax.Array  # shares
    qty: jax.Array  # shares sent
    rt_us: jax.Array
    venue: jax.Array
    timed_out: jax.Array


def params_from_settings(
    s: Settings, decision_dt_s: float = 0.1, price: float = 200.0, predictor: Params | None = None
) -> EnvParams:
    """The environment for a config's venues. ``predictor``: the forecaster's starting weights
    (default: the shipped ``models/latency`` checkpoint, or an untrained forecaster without one)."""
    specs = s.venues
    lat = [v.latency for v in specs]
    f32 = np.float32

    def arr(values: list[float]) -> jax.Array:
        return jnp.asarray(np.array(values, dtype=f32))

    vol = s.market.annual_vol / math.sqrt(252 * 6.5 * 3600 * 1e6) * price / s.market.tick_size
    impact = impact_per_sqrt_share(s.market)
    return EnvParams(
        taker_fee=arr([v.taker_fee for v in specs]),
        touch_prob=arr([0.9 if v.spread_ticks <= 1 else 0.45 for v in specs]),
        depth=arr([float(v.depth_shares) for v in specs]),
        stale_us=arr([v.staleness_us for v in specs]),
        reject_prob=arr([v.reject_prob for v in specs]),
        median_us=arr([x.median_us for x in lat]),
        sigma=arr([x.sigma for x in lat]),
        jitter_us=arr([x.jitter_us for x in lat]),
        spike_prob=arr([x.spike_prob for x in lat]),
        spike_min=arr([x.spike_mult_min for x in lat]),
        spike_max=arr([x.spike_mult_max for x in lat]),
        congested_mult=arr([x.congested_mult for x in lat]),
        congested_spike_prob=arr([x.congested_spike_prob for x in lat]),
        to_congested=arr([x.calm_to_congested_per_s for x in lat]),
        to_calm=arr([x.congested_to_calm_per_s for x in lat]),
        outage_rate=arr([x.outage_per_hour / 3600 for x in lat]),
        outage_mean_s=arr([x.outage_mean_s for x in lat]),
        timeout_us=arr([x.outage_timeout_us for x in lat]),
        bump_us=arr([x.speed_bump_us for x in lat]),
        prior_rt_us=arr([prior_round_trip_us(x) for x in lat]),
        price=price,
        tick=s.market.tick_size,
        qty=float(s.strategy.order_qty),
        fade_tau_us=s.market.fade_tau_us,
        snipe_per_tick=s.market.snipe_per_tick,
        vol_per_sqrt_us=vol,
        miss_penalty_ticks=s.market.miss_penalty_ticks,
        impact_per_sqrt_share=impact,
        decision_dt_s=decision_dt_s,
        predictor=latency.shared_weights() if predictor is None else predictor,
    )


def regime_params(p: EnvParams, regime: str, degraded_venue: jax.Array | int = 0) -> EnvParams:
    """``venues/regimes.py``'s worlds on the parameter arrays (a test holds the two equal): calm (the
    config as is), congested (venues congested most of the time, spikier), degraded (venue number
    ``degraded_venue`` five times slower, spiky, rejecting, stale and often out). ``degraded_venue``
    may be traced (vmapped over). ValueError for an unknown regime."""
    if regime == "calm":
        return p
    if regime == "congested":
        return p._replace(
            to_congested=jnp.maximum(p.to_congested, 2.0),
            to_calm=jnp.minimum(p.to_calm, 0.5),
            spike_prob=jnp.minimum(1.0, p.spike_prob * 3),
        )
    if regime == "degraded":
        hit = jnp.arange(p.median_us.shape[0]) == degraded_venue
        median_us = jnp.where(hit, p.median_us * 5, p.median_us)
        return p._replace(
            median_us=median_us,
            spike_prob=jnp.where(hit, jnp.minimum(1.0, jnp.maximum(p.spike_prob * 5, 0.05)), p.spike_prob),
            reject_prob=jnp.where(hit, jnp.maximum(p.reject_prob, 0.05), p.reject_prob),
            stale_us=jnp.where(hit, p.stale_us * 3, p.stale_us),
            outage_rate=jnp.where(hit, jnp.maximum(p.outage_rate * 20, 120 / 3600), p.outage_rate),
            # venues.latency.prior_round_trip_us of the slower venue: the engine's priors come from its spec
            prior_rt_us=jnp.where(hit, 2 * (median_us * jnp.exp(p.sigma**2 / 2) + p.bump_us), p.prior_rt_us),
        )
    raise ValueError(f"unknown regime {regime!r}: expected one of {REGIMES}")


def _context(key: jax.Array, p: EnvParams) -> tuple[jax.Array, jax.Array]:
    """Which venues show the best price, and how much each displays there."""
    k1, k2, k3 = jax.random.split(key, 3)
    n = p.depth.shape[0]
    eligible = jax.random.uniform(k1, (n,)) < p.touch_prob
    eligible = eligible.at[jax.random.randint(k2, (), 0, n)].set(True)  # somebody is always at the touch
    lots = jnp.maximum(1.0, jnp.round(p.depth / 100 * jnp.exp(0.5 * jax.random.normal(k3, (n,)))))
    return eligible, lots * 100


def reset(key: jax.Array, p: EnvParams, start_congested: jax.Array | float = 0.0) -> EnvState:
    k1, k2 = jax.random.split(key)
    n = p.depth.shape[0]
    congested = jax.random.uniform(k1, (n,)) < start_congested
    eligible, size = _context(k2, p)
    zeros = jnp.zeros(n)
    fc = latency.start(p.predictor, p.prior_rt_us)
    return EnvState(congested, zeros, p.prior_rt_us, p.prior_rt_us, eligible, size, jnp.zeros((), jnp.int32), fc)


def one_way_us(key: jax.Array, p: EnvParams, congested: jax.Array) -> jax.Array:
    """A sampled one-way latency per venue, as ``venues/latency.py`` draws it."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    n = p.median_us.shape[0]
    us = p.median_us * jnp.exp(p.sigma * jax.random.normal(k1, (n,)))
    us = us + p.jitter_us * (2 * jax.random.uniform(k2, (n,)) - 1)
    spike_p = jnp.where(congested, p.congested_spike_prob, p.spike_prob)
    mult = p.spike_min + (p.spike_max - p.spike_min) * jax.random.uniform(k3, (n,))
    us = jnp.where(jax.random.uniform(k4, (n,)) < spike_p, us * mult, us)
    us = jnp.where(congested, us * p.congested_mult, us)
    return jnp.maximum(us, 0.25 * p.median_us) + p.bump_us


def fill_odds(p: EnvParams, flight_us: jax.Array, stale_us: jax.Array) -> jax.Array:
    """The quote is still there when the order lands: others did not take it, snipers did not."""
    keep = jnp.exp(-flight_us / p.fade_tau_us)
    through = p.vol_per_sqrt_us * jnp.sqrt(stale_us + flight_us) * 0.8  # E|move| in ticks
    return keep * jnp.clip(1.0 - p.snipe_per_tick * through, 0.0, 1.0)


def step(key: jax.Array, s: EnvState, venue: jax.Array, fraction: jax.Array, p: EnvParams) -> tuple[EnvState, StepInfo]:
    """Route ``fraction`` of the parent (at most the displayed size) to ``venue``; advance the world."""
    k_lat, k_back, k_fill, k_rej, k_reg, k_out, k_dur, k_ctx = jax.random.split(key, 8)
    n = p.median_us.shape[0]
    onehot = jnp.arange(n) == venue
    qty = jnp.clip(jnp.round(p.qty * fraction), 1.0, jnp.sum(jnp.where(onehot, s.size, 0.0)))
    out_us = jnp.sum(jnp.where(onehot, one_way_us(k_lat, p, s.congested), 0.0))
    back_us = jnp.sum(jnp.where(onehot, one_way_us(k_back, p, s.congested), 0.0))
    down = jnp.sum(jnp.where(onehot, s.down_left_s, 0.0)) > 0
    rejected = jax.random.uniform(k_rej) < jnp.sum(jnp.where(onehot, p.reject_prob, 0.0))
    odds = jnp.sum(jnp.where(onehot, fill_odds(p, out_us, p.stale_us), 0.0))
    got = (jax.random.uniform(k_fill) < odds) & ~down & ~rejected
    filled = jnp.where(got, qty, 0.0)
    fee = jnp.sum(jnp.where(onehot, p.taker_fee, 0.0))
    cost = filled * (0.5 * p.tick + fee) + (qty - filled) * p.miss_penalty_ticks * p.tick
    # the rest of the parent goes to the other venues at the touch, at their average expected cost: a
    # smaller slice is not cheaper by itself (the router is scored on the whole parent)
    rest = p.qty - qty
    elsewhere = jnp.sum(jnp.where(s.eligible, expected_cost_bps(s, p), 0.0)) / jnp.maximum(1, jnp.sum(s.eligible))
    cost_bps = (cost / p.price * 1e4 + rest * elsewhere) / p.qty
    timeout = jnp.sum(jnp.where(onehot, p.timeout_us, 0.0))
    rt = jnp.where(down, timeout, out_us + back_us)
    ewma = jnp.where(onehot, s.ewma_us + EWMA_ALPHA * (rt - s.ewma_us), s.ewma_us)
    last = jnp.where(onehot, rt, s.last_rt_us)
    fc = latency.record(s.fc, venue, rt, p.prior_rt_us)
    # the world moves on: regimes switch, outages start and end, a new decision context
    dt = p.decision_dt_s
    rate = jnp.where(s.congested, p.to_calm, p.to_congested)
    switch = jax.random.uniform(k_reg, (n,)) < 1 - jnp.exp(-rate * dt)
    congested = jnp.where(switch, ~s.congested, s.congested)
    starts = (s.down_left_s <= 0) & (jax.random.uniform(k_out, (n,)) < 1 - jnp.exp(-p.outage_rate * dt))
    duration = jax.random.exponential(k_dur, (n,)) * p.outage_mean_s
    down_left = jnp.where(starts, duration, jnp.maximum(s.down_left_s - dt, 0.0))
    eligible, size = _context(k_ctx, p)
    state = EnvState(congested, down_left, ewma, last, eligible, size, s.t + 1, fc)
    return state, StepInfo(cost_bps, filled, qty, rt, venue, down)


# -- observations -------------------------------------------------------------------------------------
def observe(s: EnvState, p: EnvParams) -> jax.Array:
    """The learned routers' input ``(obs_dim(V),)`` float32, as ``routing/models/layout.py`` lays it
    out: per venue eligibility, displayed size against the parent, log of the measured round trip, of
    the last one and of the forecaster's forecast, and the fee in ticks; then the parent size and a
    constant. The live policy builds the same from the engine's observation (held equal by a test)."""
    return jnp.concatenate(
        [
            s.eligible.astype(jnp.float32),
            jnp.minimum(s.size / p.qty, 4.0),
            jnp.log(s.ewma_us / 100.0),
            jnp.log(s.last_rt_us / 100.0),
            jnp.log(s.fc.forecast_us / 100.0),
            p.taker_fee / p.tick,
            jnp.array([p.qty / 100.0, 1.0]),
        ]
    ).astype(jnp.float32)


# -- the oracle ---------------------------------------------------------------------------------------
# numpy, not jnp: importing this module must not start JAX's CPU client (the live engine first turns
# async dispatch off, which only takes effect before JAX's first computation)
_Z = np.array([math.sqrt(2) * v for v in np.polynomial.hermite.hermgauss(QUAD)[0]], dtype=np.float32)
_W = np.array(np.polynomial.hermite.hermgauss(QUAD)[1] / math.sqrt(math.pi), dtype=np.float32)


def expected_cost_bps(s: EnvState, p: EnvParams) -> jax.Array:
    """Each venue's expected cost of the whole child now, knowing its hidden state: latency integrated
    over the lognormal body (Gauss-Hermite) and the spike mixture, outages and rejects included."""
    body = p.median_us[:, None] * jnp.exp(p.sigma[:, None] * _Z[None, :])  # (V, QUAD)
    spike_p = jnp.where(s.congested, p.congested_spike_prob, p.spike_prob)[:, None]
    mult = jnp.where(s.congested, p.congested_mult, 1.0)[:, None]

    def odds(us: jax.Array) -> jax.Array:
        flight = jnp.maximum(us * mult, 0.25 * p.median_us[:, None]) + p.bump_us[:, None]
        return fill_odds(p, flight, p.stale_us[:, None])

    mean_spike = 0.5 * (p.spike_min + p.spike_max)[:, None]
    f = (1 - spike_p) * odds(body) + spike_p * odds(body * mean_spike)
    fill = jnp.sum(f * _W[None, :], axis=1) * (1 - p.reject_prob) * (s.down_left_s <= 0)
    per_share = fill * (0.5 * p.tick + p.taker_fee) + (1 - fill) * p.miss_penalty_ticks * p.tick
    return per_share / p.price * 1e4


def oracle_venue(s: EnvState, p: EnvParams) -> jax.Array:
    return jnp.argmin(jnp.where(s.eligible, expected_cost_bps(s, p), jnp.inf))
