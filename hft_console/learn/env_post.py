"""A resting child order in the JAX routing environment: a POST_ONLY at our side's touch of one venue,
cancelled ``passive_ttl_ms`` after the decision, simulated on a short path of the synthetic market.

It follows the engine's execution model (``venues/simulator.py`` ``rest``, ``venues/resting.py``,
``venues/queue.py``'s risk-averse model) on the market ``market/synthetic.py`` generates, read from the
same settings, in our side's orientation (a buy; a sell is its mirror):

- The order is priced at the bid we saw (one feed delay old) and flies to the venue (the latency
  model's one-way draw). Meanwhile the fair price moves: Brownian at the config's volatility plus the
  drift of the order-flow pressure ``p`` (an Ornstein-Uhlenbeck process with ``flow_half_life_ms``,
  ``flow_drift_bps_per_s`` per unit). The venue judges the order against its latest quote, which is
  the one we priced from unless it requoted meanwhile (Poisson at its quote rate): then, if its ask is
  at or below our bid, it refuses it (POST_ONLY_WOULD_CROSS), and if its bid moved above ours the order
  rests behind the touch with the venue's typical depth ahead; else the displayed size at our price is
  ahead of it, and a fair price already through our bid fills it on the next quote (the first step).
- Each venue requotes ``ticks_per_s_per_symbol x share`` times a second with a fresh displayed size
  (lognormal(0, 0.5) lots, tilted by ``exp(flow_size_skew x p)`` on the bid); the risk-averse model
  credits only shrinks that must have been ahead, so the queue ahead falls to the smallest size shown.
  A quote one tick wider (``WIDE_QUOTE`` of them) can show the venue's bid below ours without its ask
  reaching us: nobody is left at our price, so nothing is ahead of us any more.
- Others' sells hit the venue's bid ``trades_per_s_per_symbol x share`` times a second, a seller with
  probability ``1 / (1 + exp(trade_flow_skew x p))``, of lognormal size (mean ``trade_size_mean_shares``);
  a print at our price eats the queue ahead first, then fills us.
- A venue quote through our price (its ask at or below our bid) fills every share left.
- At the time to live we send a cancel; the order stays live until it lands (``cancel_median_us``): a
  fill in that race stands.

The path is ``SUBSTEPS`` steps (``STEP_SHARES``) from the order's arrival to the cancel's. Cost, in ticks per share of
the child against the mid we saw at the decision (implementation shortfall, misses included, as the
engine scores a resting child): a filled share pays ``-spread/2 + maker_fee`` (negative: we earn the
half spread and the rebate); an unfilled share is re-sent later — it pays how far the mid moved away
meanwhile plus ``miss_penalty_ticks``, as a take's miss does. Adverse selection is the expected mark-out
one second after the fill (``execution/resting_flow.ADVERSE_HORIZON_NS``): the mid's expected move
against us given the pressure at the fill, ``drift x p x tau (1 - exp(-1 s / tau))`` for the OU's mean
life ``tau``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

# the path's steps, as shares of the order's time at the venue: fine at first, where most fills come
# (the mean time to fill is a fifth of the default time to live), coarse later
STEP_SHARES = (0.01, 0.02, 0.04, 0.08, 0.15, 0.2, 0.25, 0.25)
SUBSTEPS = len(STEP_SHARES)
MAX_PRINTS = 3  # others' sells per substep at most (about 0.4 expected at the busiest default venue)
QUOTE_SIGMA = 0.5  # the synthetic market's displayed-size noise, lognormal sigma
PRINT_MU, PRINT_SIGMA = -0.32, 0.8  # the synthetic market's print-size lognormal (mean about 1)
WIDE_QUOTE = 0.08  # the synthetic market's share of quotes one tick wider than the venue's spread
ADVERSE_HORIZON_S = 1.0


class PostParams(NamedTuple):
    """What a resting child needs beyond ``env.EnvParams`` (per venue ``(V,)`` arrays, then scalars)."""

    maker_fee: jax.Array  # $ per share; negative = the venue pays us a rebate
    spread_ticks: jax.Array
    lot: jax.Array  # shares per lot
    quote_rate: jax.Array  # quote updates per s at this venue, one symbol
    print_rate: jax.Array  # others' trades per s at this venue, one symbol, both sides
    cancel_median_us: jax.Array  # one-way cancel latency (median)
    ttl_ms: float
    print_mean_shares: float
    vol_ticks: float  # fair-price volatility, ticks per sqrt(s)
    drift_ticks: float  # drift per unit of order-flow pressure, ticks per s
    flow_tau_s: float  # the pressure's mean life (half-life / ln 2)
    trade_flow_skew: float
    flow_size_skew: float
    tick: float
    price: float
    miss_penalty_ticks: float


class PostResult(NamedTuple):
    filled: jax.Array  # shares
    cost_ticks: jax.Array  # per share of the child, against the mid we saw
    time_ms: jax.Array  # decision -> the fill that completed the order (or the last fill); 0 when none
    adverse_bps: jax.Array  # expected mark-out per filled share 1 s after its fill (+ = against us)
    queue_ahead: jax.Array  # shares ahead on arrival
    refused: jax.Array  # bool: POST_ONLY_WOULD_CROSS
    pressure: jax.Array  # the order-flow pressure at the end of the path


def post_params(s: object, price: float) -> PostParams:
    """From a ``Settings`` (typed loosely: this module must not import the settings' heavy
    dependants); ``price`` the price level the environment works at."""
    venues = s.venues  # type: ignore[attr-defined]
    m, strat = s.market, s.strategy  # type: ignore[attr-defined]
    lit = [v.kind != "dark" for v in venues]
    share = [v.share if ok else 0.0 for v, ok in zip(venues, lit, strict=True)]
    total = sum(share) or 1.0

    def arr(values: list[float]) -> jax.Array:
        return jnp.asarray(values, dtype=jnp.float32)

    per_year = math.sqrt(252 * 6.5 * 3600)
    return PostParams(
        maker_fee=arr([-v.maker_rebate for v in venues]),
        spread_ticks=arr([float(v.spread_ticks) for v in venues]),
        lot=arr([100.0 if v.depth_shares >= 100 else 1.0 for v in venues]),
        quote_rate=arr([m.ticks_per_s_per_symbol * x / total for x in share]),
        print_rate=arr([m.trades_per_s_per_symbol * x / total for x in share]),
        cancel_median_us=arr([v.latency.cancel_median_us or v.latency.median_us for v in venues]),
        ttl_ms=float(strat.passive_ttl_ms),
        print_mean_shares=float(m.trade_size_mean_shares),
        vol_ticks=m.annual_vol / per_year * price / m.tick_size,
        drift_ticks=m.flow_drift_bps_per_s * 1e-4 * price / m.tick_size,
        flow_tau_s=m.flow_half_life_ms / 1000 / math.log(2),
        trade_flow_skew=float(m.trade_flow_skew),
        flow_size_skew=float(m.flow_size_skew),
        tick=float(m.tick_size),
        price=float(price),
        miss_penalty_ticks=float(m.miss_penalty_ticks),
    )


def evolve_pressure(key: jax.Array, pressure: jax.Array, dt_s: float | jax.Array, tau_s: float) -> jax.Array:
    """The stationary OU pressure (unit variance) ``dt_s`` later."""
    phi = jnp.exp(-dt_s / tau_s)
    return phi * pressure + jnp.sqrt(1 - phi**2) * jax.random.normal(key)


def adverse_ticks(pp: PostParams, pressure: jax.Array) -> jax.Array:
    """Expected move of the mid against a resting buy over the mark-out horizon, given the pressure at
    its fill (a buy filled while sellers press loses as the price keeps falling)."""
    tau = pp.flow_tau_s
    return -pp.drift_ticks * pressure * tau * (1 - jnp.exp(-ADVERSE_HORIZON_S / tau))


def simulate_post(
    key: jax.Array, pp: PostParams, venue: jax.Array, qty: jax.Array, depth: jax.Array, pressure: jax.Array,
    flight_us: jax.Array, feed_delay_us: jax.Array, cancel_us: jax.Array,
) -> PostResult:  # fmt: skip
    """One POST_ONLY of ``qty`` shares at ``venue`` (its typical ``depth`` shares), decided under
    order-flow ``pressure``; ``flight_us``: the order's one-way latency, ``feed_delay_us``: how old our
    picture of the venue is, ``cancel_us``: the cancel's one-way latency. Scalars in, scalars out."""

    def pick(x: jax.Array) -> jax.Array:
        return x[venue]

    spread, lot = pick(pp.spread_ticks), pick(pp.lot)
    k_start, k_path, k_flow, k_q, k_arr, k_wide = jax.random.split(key, 6)
    # the fair price (ticks) where our bid (tick 0) is the venue's bid: floor(f - spread/2 + 1/2) = 0
    f = spread / 2 - 0.5 + jax.random.uniform(k_start)
    tau = pp.flow_tau_s
    # flight: the feed delay we saw it through plus the order's own
    lead_s = (feed_delay_us + flight_us) / 1e6
    p = evolve_pressure(k_flow, pressure, lead_s, tau)
    f = f + pp.drift_ticks * pressure * lead_s + pp.vol_ticks * jnp.sqrt(lead_s) * jax.random.normal(k_arr)
    # the venue reads its latest quote, not the fair price (``SimVenue.rest``): a move since the quote we
    # priced from shows only if it requoted while our order was on its way (else it is what we saw: our
    # bid at its touch). Without this the environment refused 6.5% of the posts made within a quarter
    # tick of the fair price, the engine under 1% (it fills them on the next quote instead).
    requoted = jax.random.uniform(jax.random.fold_in(k_wide, 1)) < -jnp.expm1(-pick(pp.quote_rate) * lead_s)
    bid = jnp.where(requoted, jnp.floor(f - spread / 2 + 0.5), 0.0)
    refused = bid + spread <= 0  # the venue's ask is at or below our bid: a post-only would cross
    lots = depth / lot

    def shown(u: jax.Array, p: jax.Array) -> jax.Array:
        return (
            jnp.maximum(1.0, jnp.round(lots * jnp.exp(QUOTE_SIGMA * ndtri(u)) * jnp.exp(pp.flow_size_skew * p))) * lot
        )

    ahead0 = jnp.where(bid > 0, depth, shown(jax.random.uniform(k_q, minval=1e-6, maxval=1 - 1e-6), p))
    wide_first = requoted & (jax.random.uniform(k_wide) < WIDE_QUOTE) & (jnp.floor(f - (spread + 1) / 2 + 0.5) < 0)
    ahead0 = jnp.where((bid == 0) & wide_first, 0.0, ahead0)
    horizon_s = jnp.maximum(pp.ttl_ms / 1e3 + (cancel_us - flight_us) / 1e6, 1e-4)
    shares = jnp.asarray(STEP_SHARES)
    steps = horizon_s * shares
    ends = horizon_s * jnp.cumsum(shares)
    keys = jax.random.split(k_path, SUBSTEPS)
    mean_lots = jnp.maximum(pp.print_mean_shares / lot, 1.0)

    Carry = tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]

    def sub(carry: Carry, x: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[Carry, None]:
        f, p, ahead, leaves, done_t, fill_p, filled_at = carry
        k, dt, end = x
        phi = jnp.exp(-dt / tau)
        k_move, k_p, k_nq, k_uq, k_np, k_sz, k_w, k_b = jax.random.split(k, 8)
        f0 = f
        f = f + pp.drift_ticks * p * dt + pp.vol_ticks * jnp.sqrt(dt) * jax.random.normal(k_move)
        p = phi * p + jnp.sqrt(1 - phi**2) * jax.random.normal(k_p)
        bid = jnp.floor(f - spread / 2 + 0.5)
        # the ask came down to our bid (the fair below ``edge``), at the step's end or on the way there (a
        # Brownian bridge between the two ends crosses with probability exp(-2 a b / (sigma^2 dt)))
        edge = 0.5 - spread / 2
        gap = jnp.maximum(f0 - edge, 0.0) * jnp.maximum(f - edge, 0.0)
        crossed = jax.random.uniform(k_b) < jnp.exp(-2 * gap / (pp.vol_ticks**2 * dt))
        through = (bid + spread <= 0) | crossed
        at_touch = bid == 0
        # requotes: the smallest of n displayed sizes at our level (risk-averse: a shrink was ahead of us)
        n_q = jax.random.poisson(k_nq, pick(pp.quote_rate) * dt)
        u_min = 1 - jax.random.uniform(k_uq, minval=1e-6, maxval=1.0) ** (1.0 / jnp.maximum(n_q, 1))
        ahead = jnp.where(at_touch & (n_q > 0), jnp.minimum(ahead, shown(jnp.clip(u_min, 1e-6, 1 - 1e-6), p)), ahead)
        # a wide requote showing the venue's bid below ours (one of n_q, each wide with WIDE_QUOTE)
        below = jnp.floor(f - (spread + 1) / 2 + 0.5) < 0
        any_wide = jax.random.uniform(k_w) < 1 - (1 - WIDE_QUOTE) ** n_q
        ahead = jnp.where(at_touch & below & any_wide, 0.0, ahead)
        # others' sells at the venue's bid: at our price they eat the queue ahead, then us
        sell_rate = pick(pp.print_rate) * dt / (1 + jnp.exp(pp.trade_flow_skew * p))
        n_p = jnp.minimum(jax.random.poisson(k_np, sell_rate), MAX_PRINTS)
        sizes = jnp.maximum(
            1.0, jnp.round(mean_lots * jnp.exp(PRINT_MU + PRINT_SIGMA * jax.random.normal(k_sz, (MAX_PRINTS,))))
        )
        traded = jnp.where(at_touch, jnp.sum(jnp.where(jnp.arange(MAX_PRINTS) < n_p, sizes * lot, 0.0)), 0.0)
        reach = jnp.maximum(traded - ahead, 0.0)
        ahead = jnp.maximum(ahead - traded, 0.0)
        take = jnp.where(through, leaves, jnp.minimum(reach, leaves))
        live = leaves > 0
        take = jnp.where(live, take, 0.0)
        leaves = leaves - take
        t_ms = (end - dt / 2) * 1e3
        done_t = jnp.where(take > 0, t_ms, done_t)
        fill_p = fill_p + take * p  # pressure at each fill, share-weighted (the mark-out's condition)
        return (f, p, ahead, leaves, done_t, fill_p, filled_at + take), None

    leaves0 = jnp.where(refused, 0.0, qty)
    init = (f, p, ahead0, leaves0, jnp.zeros(()), jnp.zeros(()), jnp.zeros(()))
    (f, p, _, _, done_t, fill_p, filled), _ = jax.lax.scan(sub, init, (keys, steps, ends))
    mid_move = jnp.floor(f - spread / 2 + 0.5)  # the mid we then see moved by as much as the venue's bid
    fee_ticks = pick(pp.maker_fee) / pp.tick
    cost = (filled * (-spread / 2 + fee_ticks) + (qty - filled) * (mid_move + pp.miss_penalty_ticks)) / qty
    p_fill = fill_p / jnp.maximum(filled, 1.0)
    adverse = jnp.where(filled > 0, adverse_ticks(pp, p_fill) * pp.tick / pp.price * 1e4, 0.0)
    time_ms = jnp.where(filled > 0, flight_us / 1e3 + done_t, 0.0)
    return PostResult(filled, cost, time_ms, adverse, jnp.where(refused, 0.0, ahead0), refused, p)
