"""A JAX-native routing environment: one step = one child order of a parent routed to one venue.

It is the event-driven venue simulator (``venues/simulator.py``) reduced to what a routing decision
changes, read from the same venue settings (kind, fees, depth, feed delay, reject odds, midpoint and
hidden liquidity, the whole latency model) so both agree on what a venue costs: a test holds the two
to the same cost distribution for a fixed router.

Per step: each lit venue is at the consolidated best price with some odds (so only some are
eligible), shows a lognormal displayed size, and has a hidden state — calm or congested (a
continuous-time Markov chain advanced by ``decision_dt_s``) and up or down (outages). The router picks
a venue and a share of the parent; the order flies there (lognormal latency, jitter, spikes,
congestion, a speed bump), and fills at the touch only if the quote is still there when it lands — what
we saw is one feed delay plus the flight old by then, so it survives with probability
exp(-(feed delay + flight) / fade_tau), less for snipers — or not at all; a venue that is down never
answers (timeout), and venues reject a few orders. The venue kinds (``domain.VENUE_KINDS``): an
inverted venue is a lit one whose negative taker fee pays us; a venue with ``midpoint_share`` (IEX's
hidden midpoint pegs, a speed-bump venue) fills that share of takes whole at its midpoint, half the
spread saved; a dark venue shows nothing (displayed size 0, eligible for every take; live, its price
is the consolidated mid) and each order meets hidden liquidity drawn for it — none with
``hidden_zero_prob``, else round(Exp(``hidden_mean``)) shares, at least 1 — filling min(child, hidden)
at the mid and cancelling the rest (what the router learns there is censored: Ganchev et al. 2010).
Cost in bps of the child's notional: half the spread (none at a midpoint) and the taker fee per filled
share (a child is a limit at the touch, so the engine's square-root impact never moves its price past
the limit: none here), and ``miss_penalty_ticks`` per unfilled share, as the engine scores its routers.
What the router observes is what the engine shows it: eligibility, displayed sizes, fees, and each
venue's measured round-trip EWMA (10% per answer, timeouts included) — never the hidden regime, nor a
dark venue's hidden size. The oracle sees the regime and outages, and knows the hidden size's law.

Everything is pure jnp over NamedTuples: ``reset``/``step`` vmap over scenarios and scan over time.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hft_console.learn import env_dark, env_post
from hft_console.learn.env_post import PostParams
from hft_console.routing.dark import DarkState
from hft_console.routing.models import latency
from hft_console.routing.models.checkpoint import Params
from hft_console.settings import Settings
from hft_console.venues.latency import prior_round_trip_us
from hft_console.venues.monitor import EWMA_ALPHA
from hft_console.venues.regimes import REGIMES
from hft_console.venues.simulator import impact_per_sqrt_share

QUAD = 16  # fixed normal quantiles the oracle integrates latency over
PRESSURE_GRID = np.linspace(-3.0, 3.0, 13, dtype=np.float32)  # where the oracle knows a post's expected cost
POST_SIMS = 384  # paths per venue and pressure behind each of those figures


class EnvParams(NamedTuple):
    taker_fee: jax.Array  # (V,) $ per share; negative at an inverted venue (it pays takers)
    touch_prob: jax.Array  # odds the venue shows the consolidated best price (1 for a dark venue)
    depth: jax.Array  # displayed shares at the touch (median)
    feed_delay_us: jax.Array  # how late the venue's market data reaches us
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
    dark: jax.Array  # (V,) 1.0 for a dark venue (kind "dark"), else 0.0
    midpoint_share: jax.Array  # (V,) share of takes that fill whole at the venue's midpoint
    hidden_mean: jax.Array  # (V,) dark: mean hidden size an order meets (exponential), shares; else 0
    hidden_zero_prob: jax.Array  # (V,) dark: chance an order meets no hidden liquidity; else 0
    price: float
    tick: float
    qty: float  # parent order, shares
    fade_tau_us: float
    snipe_per_tick: float
    vol_per_sqrt_us: float  # fair-price move per sqrt(µs), in ticks (a quote's age -> sniping)
    miss_penalty_ticks: float
    impact_per_sqrt_share: float
    decision_dt_s: float
    predictor: Params  # the latency forecaster's shared starting weights (``routing/models/latency.py``)
    post: PostParams  # a resting child's market (``env_post.py``)
    post_cost_bps: jax.Array  # (V, len(PRESSURE_GRID)) a post's expected cost when answered, by pressure (the oracle's)


class EnvState(NamedTuple):
    congested: jax.Array  # (V,) bool
    down_left_s: jax.Array  # (V,) remaining outage, 0 = up
    ewma_us: jax.Array  # (V,) measured round trip
    last_rt_us: jax.Array
    eligible: jax.Array  # (V,) bool, the current decision's
    size: jax.Array  # (V,) displayed shares
    t: jax.Array  # step count
    fc: latency.Forecast  # the latency forecaster, learning online from every answer
    pressure: jax.Array  # () the order-flow pressure, towards the far side (+: the price moves away from our bid)
    near_size: jax.Array  # (V,) displayed shares at our side's touch (where a post joins)
    km: DarkState  # the router's dark-pool learner (``env_dark.py``): what it has seen of each pool's liquidity


class StepInfo(NamedTuple):
    cost_bps: jax.Array
    filled: jax.Array  # shares
    qty: jax.Array  # shares sent
    rt_us: jax.Array
    venue: jax.Array
    timed_out: jax.Array
    posted: jax.Array  # bool: the child rested (POST_ONLY) rather than took
    maker: jax.Array  # shares filled as a maker
    adverse_bps: jax.Array  # mark-out per maker share 1 s after its fill (+ = against us); 0 without
    time_ms: jax.Array  # decision -> the fill that completed the child (0 when nothing filled)
    shortfall_bps: jax.Array  # the child's own shortfall per share, misses included (no rest of parent)
    expected_bps: jax.Array  # cost_bps's expectation given the hidden state and the action (see ``step``)


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
    p = EnvParams(
        taker_fee=arr([v.taker_fee for v in specs]),
        touch_prob=arr([1.0 if v.kind == "dark" else 0.9 if v.spread_ticks <= 1 else 0.45 for v in specs]),
        depth=arr([float(v.depth_shares) for v in specs]),
        feed_delay_us=arr([v.feed_delay_us for v in specs]),
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
        dark=arr([1.0 if v.kind == "dark" else 0.0 for v in specs]),
        midpoint_share=arr([0.0 if v.kind == "dark" else v.midpoint_share for v in specs]),
        hidden_mean=arr([v.hidden_liquidity_mean_shares if v.kind == "dark" else 0.0 for v in specs]),
        hidden_zero_prob=arr([v.hidden_liquidity_zero_prob if v.kind == "dark" else 0.0 for v in specs]),
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
        post=env_post.post_params(s, price),
        post_cost_bps=jnp.zeros((len(specs), PRESSURE_GRID.size), jnp.float32),
    )
    return p._replace(post_cost_bps=post_cost_table(p))


@jax.jit
def post_cost_table(p: EnvParams) -> jax.Array:
    """``(V, len(PRESSURE_GRID))``: a post's expected cost (bps of the child, misses included) at each
    venue and order-flow pressure, when the venue answers (``POST_SIMS`` paths at median latency, the
    same keys for every cell, so the table is smooth in pressure). A dark venue refuses posts: a miss."""
    n = p.depth.shape[0]
    keys = jax.random.split(jax.random.key(0), POST_SIMS)
    flight = p.median_us + p.bump_us
    cancel = p.post.cancel_median_us + p.bump_us

    def cell(v: jax.Array, pressure: jax.Array) -> jax.Array:
        def one(k: jax.Array) -> jax.Array:
            r = env_post.simulate_post(k, p.post, v, jnp.asarray(p.qty), p.depth[v], pressure, flight[v],
                                       p.feed_delay_us[v], cancel[v])  # fmt: skip
            return r.cost_ticks

        return jnp.mean(jax.vmap(one)(keys))

    grid = jnp.asarray(PRESSURE_GRID)
    ticks = jax.vmap(lambda v: jax.vmap(lambda g: cell(v, g))(grid))(jnp.arange(n))
    ticks = jnp.where(p.dark[:, None] > 0, p.miss_penalty_ticks, ticks)
    return ticks * p.tick / p.price * 1e4


def regime_params(p: EnvParams, regime: str, degraded_venue: jax.Array | int = 0) -> EnvParams:
    """``venues/regimes.py``'s worlds on the parameter arrays (a test holds the two equal): calm (the
    config as is), congested (venues congested most of the time, spikier), degraded (venue number
    ``degraded_venue`` five times slower, spiky, rejecting, its feed three times as late, often out). ``degraded_venue``
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
            feed_delay_us=jnp.where(hit, p.feed_delay_us * 3, p.feed_delay_us),
            outage_rate=jnp.where(hit, jnp.maximum(p.outage_rate * 20, 120 / 3600), p.outage_rate),
            # venues.latency.prior_round_trip_us of the slower venue: the engine's priors come from its spec
            prior_rt_us=jnp.where(hit, 2 * (median_us * jnp.exp(p.sigma**2 / 2) + p.bump_us), p.prior_rt_us),
            # cancels too are five times slower there
            post=p.post._replace(cancel_median_us=jnp.where(hit, p.post.cancel_median_us * 5, p.post.cancel_median_us)),
        )
    raise ValueError(f"unknown regime {regime!r}: expected one of {REGIMES}")


def _context(key: jax.Array, p: EnvParams, pressure: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Which venues show the best price, and how much each displays there on the side we take from and
    on ours (the order-flow pressure tilts the two apart, as the synthetic market's quotes: the
    imbalance). A dark venue displays nothing and is eligible for every take (the engine offers it at
    the consolidated mid)."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    n = p.depth.shape[0]
    lit = p.dark == 0
    eligible = (jax.random.uniform(k1, (n,)) < p.touch_prob) | ~lit
    # some lit venue is always at the touch: without a consolidated best price there is nothing to route
    forced = jnp.argmax(jnp.where(lit, jax.random.uniform(k2, (n,)), -1.0))
    eligible = eligible.at[forced].set(True)
    tilt = jnp.exp(p.post.flow_size_skew * pressure)
    lots = jnp.maximum(1.0, jnp.round(p.depth / 100 * jnp.exp(0.5 * jax.random.normal(k3, (n,))) / tilt))
    near = jnp.maximum(1.0, jnp.round(p.depth / 100 * jnp.exp(0.5 * jax.random.normal(k4, (n,))) * tilt))
    return eligible, jnp.where(lit, lots * 100, 0.0), jnp.where(lit, near * 100, 0.0)


def reset(key: jax.Array, p: EnvParams, start_congested: jax.Array | float = 0.0) -> EnvState:
    k1, k2, k3 = jax.random.split(key, 3)
    n = p.depth.shape[0]
    congested = jax.random.uniform(k1, (n,)) < start_congested
    pressure = jax.random.normal(k3)
    eligible, size, near = _context(k2, p, pressure)
    zeros = jnp.zeros(n)
    fc = latency.start(p.predictor, p.prior_rt_us)
    t0 = jnp.zeros((), jnp.int32)
    km = env_dark.km_start(n)
    return EnvState(congested, zeros, p.prior_rt_us, p.prior_rt_us, eligible, size, t0, fc, pressure, near, km)


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


def fill_odds(p: EnvParams, flight_us: jax.Array, feed_delay_us: jax.Array) -> jax.Array:
    """A lit venue's quote is still there when the order lands: others did not take it, snipers did
    not. What we saw is one feed delay plus the flight old by then: the simulator fades it over that
    age (its order arrives ``latency + feed delay`` after the quote we saw, on the engine's clock)."""
    age = feed_delay_us + flight_us
    keep = jnp.exp(-age / p.fade_tau_us)
    through = p.vol_per_sqrt_us * jnp.sqrt(age) * 0.8  # E|move| in ticks
    return keep * jnp.clip(1.0 - p.snipe_per_tick * through, 0.0, 1.0)


def hidden_fill_share(p: EnvParams, qty: float | jax.Array) -> jax.Array:
    """``(V,)`` expected share of a ``qty``-share child a dark venue fills: E[min(qty, H)] / qty, where H
    is 0 with ``hidden_zero_prob``, else max(1, round(X)), X ~ Exp(``hidden_mean``). For whole qty >= 1,
    E[min(qty, H)] = sum_{k=1..qty} P(H >= k) = 1 + sum_{k=2..qty} exp(-(k - 1/2) / mean) (a geometric
    sum). Lit venues (mean 0) get a finite number the caller does not use."""
    m = jnp.where(p.hidden_mean > 0, p.hidden_mean, 1.0)
    # expm1 keeps the ratio exact for a mean far above the child (1 - exp(-1/m) vanishes in float32)
    tail = jnp.exp(-1.5 / m) * jnp.expm1(-(qty - 1.0) / m) / jnp.expm1(-1.0 / m)
    return (1.0 - p.hidden_zero_prob) * (1.0 + tail) / qty


def step(
    key: jax.Array, s: EnvState, venue: jax.Array, fraction: jax.Array, p: EnvParams, post: jax.Array | bool = False
) -> tuple[EnvState, StepInfo]:
    """Route ``fraction`` of the parent to ``venue``: a take (at most the displayed size), or with
    ``post`` a POST_ONLY resting at our side's touch for the time to live (``env_post.py``; a dark
    venue refuses it); advance the world."""
    keys = jax.random.split(key, 13)
    k_lat, k_back, k_fill, k_rej, k_reg, k_out, k_dur, k_ctx, k_mid, k_zero, k_hid = keys[:11]
    k_post, k_flow = keys[11], keys[12]
    post = jnp.asarray(post)
    n = p.median_us.shape[0]
    onehot = jnp.arange(n) == venue

    def pick(x: jax.Array) -> jax.Array:
        return jnp.sum(jnp.where(onehot, x, 0.0))

    dark = pick(p.dark) > 0
    # a lit venue takes at most what it displays; a dark one displays nothing and takes the child
    want = jnp.round(p.qty * fraction)
    qty = jnp.where(post, jnp.clip(want, 1.0, p.qty), jnp.clip(want, 1.0, jnp.where(dark, p.qty, pick(s.size))))
    out_us = pick(one_way_us(k_lat, p, s.congested))
    back_us = pick(one_way_us(k_back, p, s.congested))
    down = pick(s.down_left_s) > 0
    rejected = jax.random.uniform(k_rej) < pick(p.reject_prob)
    # lit: a share midpoint_share of takes meets hidden midpoint pegs and fills whole at the venue's mid;
    # the others fill whole at the touch if the quote survived (the simulator's order)
    at_mid = (jax.random.uniform(k_mid) < pick(p.midpoint_share)) & ~dark
    odds = pick(fill_odds(p, out_us, p.feed_delay_us))
    lit_filled = jnp.where(at_mid | (jax.random.uniform(k_fill) < odds), qty, 0.0)
    # dark: the hidden liquidity this order meets, none with hidden_zero_prob, else round(Exp(mean)) >= 1
    size = jnp.maximum(1.0, jnp.round(jax.random.exponential(k_hid) * pick(p.hidden_mean)))
    hidden = jnp.where(jax.random.uniform(k_zero) < pick(p.hidden_zero_prob), 0.0, size)
    taken = jnp.where(down | rejected, 0.0, jnp.where(dark, jnp.minimum(qty, hidden), lit_filled))
    fee = pick(p.taker_fee)
    half_spread = jnp.where(dark | at_mid, 0.0, 0.5 * p.tick)  # a midpoint fill pays no half spread
    take_cost = taken * (half_spread + fee) + (qty - taken) * p.miss_penalty_ticks * p.tick
    # a post: the cancel flies as the order did (same congestion and spikes), at the cancel's median
    cancel_us = out_us * pick(p.post.cancel_median_us) / pick(p.median_us)
    rested = env_post.simulate_post(
        k_post, p.post, venue, qty, pick(p.depth), s.pressure, out_us, pick(p.feed_delay_us), cancel_us
    )
    answered = ~(down | rejected | dark)
    made = jnp.where(answered, rested.filled, 0.0)
    post_cost = qty * p.tick * jnp.where(answered, rested.cost_ticks, p.miss_penalty_ticks)
    filled = jnp.where(post, made, taken)
    cost = jnp.where(post, post_cost, take_cost)
    # the rest of the parent goes to the other venues at the touch, at their average expected cost: a
    # smaller slice is not cheaper by itself (the router is scored on the whole parent)
    rest = p.qty - qty
    take_bps = expected_cost_bps(s, p)
    elsewhere = jnp.sum(jnp.where(s.eligible, take_bps, 0.0)) / jnp.maximum(1, jnp.sum(s.eligible))
    cost_bps = (cost / p.price * 1e4 + rest * elsewhere) / p.qty
    # what the chosen action costs on average in this hidden state: the same figure without the luck of
    # this draw (training's reward; its mean given what the router sees is the realised cost's)
    chosen = pick(jnp.where(post, expected_post_bps(s, p), take_bps))
    expected_bps = (qty * chosen + rest * elsewhere) / p.qty
    timeout = jnp.sum(jnp.where(onehot, p.timeout_us, 0.0))
    # the simulator answers from the venue's frame, one feed delay ahead of our picture of it, and never
    # before our clock reaches that frame: an answer takes at least the feed delay to come back
    rt = jnp.where(down, timeout, out_us + jnp.maximum(back_us, pick(p.feed_delay_us)))
    maker = jnp.where(post, made, 0.0)
    time_ms = jnp.where(filled > 0, jnp.where(post, rested.time_ms + back_us / 1e3, rt / 1e3), 0.0)
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
    pressure = env_post.evolve_pressure(k_flow, s.pressure, dt, p.post.flow_tau_s)
    eligible, size, near = _context(k_ctx, p, pressure)
    km = env_dark.km_learn(s.km, venue, qty, taken, dark & ~post & ~(down | rejected))  # censored: min(qty, hidden)
    state = EnvState(congested, down_left, ewma, last, eligible, size, s.t + 1, fc, pressure, near, km)
    adverse = jnp.where(maker > 0, rested.adverse_bps, 0.0)
    shortfall = cost / (qty * p.price) * 1e4
    info = StepInfo(cost_bps, filled, qty, rt, venue, down, post, maker, adverse, time_ms, shortfall, expected_bps)
    return state, info


# -- observations -------------------------------------------------------------------------------------
def observe(s: EnvState, p: EnvParams) -> jax.Array:
    """The learned routers' input ``(obs_dim(V),)`` float32, as ``routing/models/layout.py`` lays it
    out: per venue eligibility, displayed size against the parent on the side we take from and on ours,
    log of the measured round trip, of
    the last one and of the forecaster's forecast, the fee in ticks, the dark-pool learner's fill share;
    then the parent size and a constant. The live policy builds the same from the engine's observation
    (held equal by a test)."""
    return jnp.concatenate(
        [
            s.eligible.astype(jnp.float32),
            jnp.minimum(s.size / p.qty, 4.0),
            jnp.minimum(s.near_size / p.qty, 4.0),
            jnp.log(s.ewma_us / 100.0),
            jnp.log(s.last_rt_us / 100.0),
            jnp.log(s.fc.forecast_us / 100.0),
            p.taker_fee / p.tick,
            env_dark.fill_share_feature(s.km, p.dark, p.qty),
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
    over the lognormal body (Gauss-Hermite) and the spike mixture, outages and rejects included; midpoint
    fills, and a dark venue's hidden size in expectation (``hidden_fill_share``)."""
    body = p.median_us[:, None] * jnp.exp(p.sigma[:, None] * _Z[None, :])  # (V, QUAD)
    spike_p = jnp.where(s.congested, p.congested_spike_prob, p.spike_prob)[:, None]
    mult = jnp.where(s.congested, p.congested_mult, 1.0)[:, None]

    def odds(us: jax.Array) -> jax.Array:
        flight = jnp.maximum(us * mult, 0.25 * p.median_us[:, None]) + p.bump_us[:, None]
        return fill_odds(p, flight, p.feed_delay_us[:, None])

    mean_spike = 0.5 * (p.spike_min + p.spike_max)[:, None]
    f = (1 - spike_p) * odds(body) + spike_p * odds(body * mean_spike)
    answered = (1 - p.reject_prob) * (s.down_left_s <= 0)
    at_touch = answered * (1 - p.midpoint_share) * jnp.sum(f * _W[None, :], axis=1)  # fills paying half the spread
    dark = p.dark > 0
    fill = jnp.where(dark, answered * hidden_fill_share(p, p.qty), answered * p.midpoint_share + at_touch)
    spread = jnp.where(dark, 0.0, at_touch) * 0.5 * p.tick
    per_share = fill * p.taker_fee + spread + (1 - fill) * p.miss_penalty_ticks * p.tick
    return per_share / p.price * 1e4


def expected_post_bps(s: EnvState, p: EnvParams) -> jax.Array:
    """``(V,)`` each venue's expected cost of posting the whole child now, knowing the pressure (the
    table ``post_cost_bps`` interpolated), outages and rejects (a miss when the venue does not answer)."""
    at = jax.vmap(lambda row: jnp.interp(s.pressure, jnp.asarray(PRESSURE_GRID), row))(p.post_cost_bps)
    answered = (1 - p.reject_prob) * (s.down_left_s <= 0)
    miss = p.miss_penalty_ticks * p.tick / p.price * 1e4
    return answered * at + (1 - answered) * miss


def oracle_action(s: EnvState, p: EnvParams) -> tuple[jax.Array, jax.Array]:
    """The venue and whether to post there: the lowest expected cost over takes and posts."""
    take = jnp.where(s.eligible, expected_cost_bps(s, p), jnp.inf)
    post = jnp.where(s.eligible & (p.dark == 0), expected_post_bps(s, p), jnp.inf)
    both = jnp.concatenate([take, post])
    a = jnp.argmin(both)
    n = take.shape[0]
    return a % n, a >= n
