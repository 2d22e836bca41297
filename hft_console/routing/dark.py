"""Dark pools from censored fills: a Kaplan-Meier liquidity learner, written once over an array module ``xp``.

Source: Ganchev, Nevmyvaka, Kearns & Vaughan, "Censored exploration and the dark pool problem" (UAI 2009;
CACM 53(5), 2010). An order of q shares sent to a dark pool meets hidden liquidity H (here: 0 with
``hidden_liquidity_zero_prob``, else max(1, round(Exp(``hidden_liquidity_mean_shares``))), the simulator's
``SimVenue`` dark branch and the environment's ``step``) and fills min(q, H): a fill f < q shows H = f
exactly (an *event* at f); a fill f == q only shows H >= q (*right-censored* at q). Averaging fills as if
they were H is biased low; the product-limit (Kaplan-Meier) estimator is not.

Per pool the state keeps, on the share levels k = 0..S-1, weighted counts
``at_risk[k]`` (orders known to have H >= k whose answer to "is H == k?" is seen: an exact fill f adds
k <= f, a censored one adds k < q) and ``events[k]`` (orders with H == k). The hazard is
h(k) = events/at_risk and the tail P(H >= s) = prod_{k<s} (1 - h(k)) for s = 1..S, a cumulative product,
so an update is O(S) vectorised. ``discount`` (γ, default 1: no forgetting) multiplies every pool's counts
before each update, so a pool whose liquidity changes is re-learned within about 1/(1 - γ) orders
(as D-UCB does for rewards, Garivier & Moulines 2011).

Exploration, as the paper's optimistic censored exploration: a level with fewer than ``min_at_risk``
orders at risk counts as hazard 0, so the tail stays flat (at its last well-estimated value) beyond the
levels the data supports, and an untouched pool has P(H >= s) = 1 everywhere. ``at_risk`` is
non-increasing in k, so this is a cut-off, as in the paper: past the last level with enough data the
tail is held at its value there. ``dark_choose`` adds a UCB term on the
expected fill share (``bonus``; 0 gives the paper's pure greedy rule): without it a pool whose first
few orders met nothing (odds 0.7^5 = 17% for the default DARK) would be written off for good.

The grid: whole shares, S = ``S_MAX`` = 1000 by default, the default ``risk.max_order_qty`` (no child
can be larger), so the estimate is exact per share with no binning error; a caller whose children are
smaller passes ``levels`` (the environment: its ``qty``, 100): an update is O(P·levels), a choice reads
cached sums in O(P). Beyond the grid the tail is extrapolated flat (optimistic).

The same pure functions run in the engine (``xp = numpy``) and under ``jax.jit``/``vmap`` (``xp =
jax.numpy``): NamedTuple state of fixed-shape arrays, no Python branch on array values, no in-place
writes. Only the numpy path validates inputs (raising ValueError); under jax an order of q < 1 is
ignored and a fill is clipped to [0, q]. Shares are whole; an exact fill is floored.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

Array = Any  # a numpy or a jax array; the functions are generic over ``xp``

S_MAX = 1000  # share levels: the default risk.max_order_qty, the largest child there can be
_TINY = 1e-30  # a guard against 0/0 that float32 can still represent


class DarkConfig(NamedTuple):
    """Hyperparameters of the learner."""

    discount: float = 1.0  # γ on every pool's counts per update; 1 = no forgetting, 0.99 ≈ 100 orders' memory
    min_at_risk: float = 5.0  # optimism: a level with fewer orders at risk counts as hazard 0 (tail flat)
    bonus: float = 1.0  # dark_choose: UCB width in units of sd·√(2·ln N / n) on the fill share; 0 = greedy
    var_floor: float = 1e-4  # least fill-share variance assumed, so the bound never collapses to 0


DEFAULT_CONFIG = DarkConfig()


class DarkState(NamedTuple):
    at_risk: Array  # (P, S) weighted orders at risk at level k = 0..S-1 (at_risk[:, 0]: orders per pool)
    events: Array  # (P, S) weighted orders that met exactly k hidden shares (a fill k < q)
    # what the decision path reads, recomputed by every update so a choice is O(P), not O(P·S):
    tail: Array  # (P, S) optimistic KM estimate of P(H >= s), s = 1..S
    fill_cum: Array  # (P, S + 1) Σ_{s<=j} P(H >= s), j = 0..S: E[min(j, H)]
    square_cum: Array  # (P, S + 1) Σ_{s<=j} (2s − 1)·P(H >= s): E[min(j, H)²]


def km_tail(at_risk: Array, events: Array, min_at_risk: float = 0.0, xp: Any = np) -> Array:
    """The product-limit tail ``(..., S)``: P(H >= s) = prod_{k<s} (1 - events[k]/at_risk[k]), s = 1..S.
    A level with no orders at risk, or fewer than ``min_at_risk``, has hazard 0 (Ganchev's optimism;
    ``min_at_risk = 0`` gives the plain estimator, flat past the last observation)."""
    known = at_risk >= xp.maximum(min_at_risk, _TINY)
    hazard = xp.where(known, events / xp.maximum(at_risk, _TINY), 0.0)
    return xp.cumprod(1.0 - xp.clip(hazard, 0.0, 1.0), axis=-1)


def model_tail(mean_shares: Array, zero_prob: Array, levels: int = S_MAX, xp: Any = np) -> Array:
    """The true ``(..., levels)`` tail of the project's hidden-liquidity law, per pool: P(H >= 1) = 1 − z,
    P(H >= s) = (1 − z)·exp(−(s − ½)/m) for s >= 2 (round(X) >= s iff X >= s − ½). For an oracle and tests."""
    m = xp.asarray(mean_shares)[..., None]
    z = xp.asarray(zero_prob)[..., None]
    s = xp.arange(1, levels + 1)
    return (1.0 - z) * xp.where(s == 1, 1.0, xp.exp(-(s - 0.5) / m))


def _cumulate(tail: Array, xp: Any) -> tuple[Array, Array]:
    """``fill_cum`` and ``square_cum`` (see ``DarkState``) of a tail ``(P, S)``."""
    zero = xp.zeros((*tail.shape[:-1], 1), dtype=tail.dtype)
    s = xp.arange(1, tail.shape[-1] + 1)
    fill = xp.concatenate([zero, xp.cumsum(tail, axis=-1)], axis=-1)
    return fill, xp.concatenate([zero, xp.cumsum((2.0 * s - 1.0) * tail, axis=-1)], axis=-1)


def _refresh(state: DarkState, cfg: DarkConfig, xp: Any) -> DarkState:
    tail = km_tail(state.at_risk, state.events, cfg.min_at_risk, xp)
    fill_cum, square_cum = _cumulate(tail, xp)
    return state._replace(tail=tail, fill_cum=fill_cum, square_cum=square_cum)


def dark_init(n_pools: int, levels: int = S_MAX, cfg: DarkConfig = DEFAULT_CONFIG, xp: Any = np) -> DarkState:
    """No knowledge: every count 0, every tail probability 1 (optimistic)."""
    if levels < 1 or n_pools < 1:
        raise ValueError(f"need n_pools >= 1 and levels >= 1, got {n_pools} and {levels}")
    zeros, cum = xp.zeros((n_pools, levels)), xp.zeros((n_pools, levels + 1))
    return _refresh(DarkState(zeros, zeros, zeros, cum, cum), cfg, xp)


def _check(q: Array, fill: Array, sent_only: bool) -> None:
    """The numpy path's validation; ``sent_only``: q = 0 (nothing sent) is allowed, with fill 0."""
    q, fill = np.asarray(q, dtype=float), np.asarray(fill, dtype=float)
    low = 0.0 if sent_only else 1.0
    if not (np.isfinite(q).all() and np.isfinite(fill).all()):
        raise ValueError(f"order size and fill must be finite, got {q} and {fill}")
    if (q < low).any():
        raise ValueError(f"an order has q >= {low:g} shares, got {q}")
    if (fill < 0).any() or (fill > q).any():
        raise ValueError(f"a fill lies in [0, q]: got fill {fill} for q {q}")


def dark_observe(state: DarkState, q: Array, fill: Array, cfg: DarkConfig = DEFAULT_CONFIG, xp: Any = np) -> DarkState:
    """The state after one decision sent ``q`` ``(P,)`` shares to the pools and they filled ``fill``
    ``(P,)``; q = 0 where nothing was sent (an allocation). Counts are discounted once per call.

    Raises (numpy path) ValueError for q < 0, a fill outside [0, q], or non-finite input."""
    if xp is np:
        _check(q, fill, sent_only=True)
    q = xp.asarray(q, dtype=state.at_risk.dtype)
    sent = q >= 1.0
    fill = xp.clip(xp.asarray(fill, dtype=state.at_risk.dtype), 0.0, q)
    censored = fill >= q
    exact = xp.floor(fill)
    k = xp.arange(state.at_risk.shape[-1])
    # a censored order (H >= q) is at risk at k < q with no event; an exact one (H = f) at k <= f, event at f
    reach = xp.where(censored[:, None], k < q[:, None], k <= exact[:, None])
    at_risk = (sent[:, None] & reach).astype(state.at_risk.dtype)
    events = (sent & ~censored)[:, None] & (k == exact[:, None])
    state = state._replace(at_risk=cfg.discount * state.at_risk + at_risk, events=cfg.discount * state.events + events)
    return _refresh(state, cfg, xp)


def dark_update(
    state: DarkState, pool: Array, q: Array, fill: Array, cfg: DarkConfig = DEFAULT_CONFIG, xp: Any = np
) -> DarkState:
    """The state after an order of ``q`` shares to pool ``pool`` (an int, shape ()) filled ``fill``.

    Raises (numpy path) ValueError for q < 1 (q = 0 is no order: a caller's bug), a fill outside
    [0, q], a pool out of range, or non-finite input. Under jax an order of q < 1 only discounts the
    counts, and a fill is clipped to [0, q]."""
    n_pools = state.at_risk.shape[0]
    if xp is np:
        _check(q, fill, sent_only=False)
        if not 0 <= int(pool) < n_pools:
            raise ValueError(f"pool {pool} out of range 0..{n_pools - 1}")
    hot = xp.arange(n_pools) == pool
    return dark_observe(state, xp.where(hot, q, 0.0), xp.where(hot, fill, 0.0), cfg, xp)


def fill_moments(state: DarkState, q: Array, xp: Any = np) -> tuple[Array, Array]:
    """(E[min(q, H)], E[min(q, H)²]) per pool ``(P,)`` for ``q`` a scalar or ``(P,)``, from the cached
    sums: with m = min(⌊q⌋, S), E[min(q, H)] = C₁[m] + (q − m)·P(H >= m + 1) and E[min(q, H)²] =
    C₂[m] + (q² − m²)·P(H >= m + 1), which is ∫₀^q P(H > x)·dx (and ·2x dx), exact for fractional q
    since H is whole; past the grid the last level's probability is extrapolated (flat, optimistic).
    q < 0 is read as 0."""
    n_pools, n_levels = state.tail.shape
    q = xp.maximum(xp.zeros(n_pools, dtype=state.tail.dtype) + q, 0.0)  # (P,); np.broadcast_to costs µs more
    m = xp.minimum(xp.floor(q), n_levels)  # q >= 0; np.clip costs µs more
    rows, at = xp.arange(n_pools), m.astype(xp.int32)  # plain gathers: take_along_axis costs µs in numpy
    edge = state.tail[rows, xp.minimum(at, n_levels - 1)]
    fill = state.fill_cum[rows, at] + (q - m) * edge
    return fill, state.square_cum[rows, at] + (q * q - m * m) * edge


def expected_fill(tail: Array, q: Array, xp: Any = np) -> Array:
    """E[min(q, H)] = Σ_{s=1..q} P(H >= s), shares, per pool ``(P,)`` from a tail ``(P, S)``; ``q``
    a scalar or ``(P,)``. Past the grid the last level's probability is extrapolated (flat). For
    fractional q the integral ∫₀^q P(H > x) dx, which is exact since H is whole. O(P·S); a
    ``DarkState``'s own tail is read in O(P) by ``fill_share_estimate``."""
    fill_cum, square_cum = _cumulate(tail, xp)
    return fill_moments(DarkState(tail, tail, tail, fill_cum, square_cum), q, xp)[0]


def fill_share_estimate(state: DarkState, q: Array, xp: Any = np) -> Array:
    """The learned E[min(q, H)] / q per pool, ``(P,)`` in [0, 1] (1 for an untouched pool): a feature
    for an agent's observation. q < 1 is read as 1 (the share the first hidden share fills)."""
    q = xp.maximum(xp.asarray(q, dtype=state.tail.dtype), 1.0)
    return xp.minimum(fill_moments(state, q, xp)[0] / q, 1.0)  # >= 0: a sum of probabilities


def choice_scores(state: DarkState, q: Array, cfg: DarkConfig = DEFAULT_CONFIG, xp: Any = np) -> Array:
    """``(P,)`` what ``dark_choose`` maximises: the optimistic expected fill share E[min(q, H)]/q plus
    ``bonus``·√(v·2·ln N / n_i), n_i the pool's (discounted) orders, N = Σ n_i, v the pooled variance
    of min(q, H)/q over pools weighted by n_i (floored at ``var_floor``; as the bandits' plug-in scale,
    so a pool whose first fills were all 0, variance 0, still gets a bound). +inf for an untouched pool."""
    q = xp.maximum(xp.asarray(q, dtype=state.tail.dtype), 1.0)
    fill, square = fill_moments(state, q, xp)
    mean = fill / q
    var = xp.maximum(square / (q * q) - mean * mean, 0.0)
    n = state.at_risk[:, 0]  # every order is at risk at level 0
    pooled = xp.maximum((n * var).sum() / xp.maximum(n.sum(), _TINY), cfg.var_floor)
    log_n = xp.log(xp.maximum(n.sum(), 1.0))
    width = cfg.bonus * xp.sqrt(2.0 * pooled * log_n / xp.maximum(n, _TINY))
    return xp.where(n > 0, mean + width, xp.inf)


def dark_choose(state: DarkState, eligible: Array, q: Array, cfg: DarkConfig = DEFAULT_CONFIG, xp: Any = np) -> Array:
    """The one pool to send a child of ``q`` shares, an int array of shape (): the eligible pool with
    the highest ``choice_scores`` (optimistic expected fill share plus the UCB term; ties: the lowest
    index). No cost term: the score is in shares expected to fill (dark fills are at the mid); a
    caller weighing pools' fees, or dark against lit venues, prices ``fill_share_estimate`` itself.
    ``eligible`` ``(P,)`` bool must hold a True (numpy path: ValueError)."""
    if xp is np and not np.asarray(eligible, dtype=bool).any():
        raise ValueError("no eligible dark pool")
    return xp.where(eligible, choice_scores(state, q, cfg, xp), -xp.inf).argmax()


def dark_allocate(state: DarkState, q_total: Array, eligible: Array | None = None, xp: Any = np) -> Array:
    """Ganchev's greedy allocation of ``q_total`` shares, ``(P,)`` int shares per pool summing to
    q_total: each next share goes where its marginal expected fill, P̃(H >= s + 1) with s shares
    already there, is highest. The tails are non-increasing, so the greedy sequence is the top
    q_total of all (pool, level) probabilities: one stable sort, O(P·S·log(P·S)), fine under jit.
    Ties (within 1e-6) go level by level (round robin over the pools: untouched pools share a
    parent), then by index. Shares past every eligible pool's grid go to the pool with the highest
    last level.
    ``eligible`` ``(P,)`` bool, default all (numpy path: ValueError if none, or q_total < 0)."""
    n_pools, n_levels = state.tail.shape
    if eligible is None:
        eligible = xp.ones(n_pools, dtype=bool)
    if xp is np and (not np.asarray(eligible, dtype=bool).any() or float(q_total) < 0):
        raise ValueError(f"need an eligible pool and q_total >= 0, got {eligible} and {q_total}")
    values = xp.where(eligible[:, None], state.tail, -1.0).T.reshape(-1)  # level-major: (S·P,)
    # KM tails are ratios of counts, so exact ties abound, and two cumprods of the same ratio differ in
    # the last bit (numpy vs XLA): probabilities within a millionth rank as ties, broken the same way
    order = xp.argsort(-xp.round(values * 1e6), stable=True)
    rank = xp.argsort(order, stable=True)  # a permutation's inverse: each (level, pool)'s place in line
    take = (rank < q_total) & (values >= 0.0)
    alloc = take.reshape(n_levels, n_pools).sum(axis=0)
    rest = xp.maximum(xp.asarray(q_total) - alloc.sum(), 0)
    last = xp.where(eligible, state.tail[:, -1], -1.0).argmax()
    return (alloc + xp.where(xp.arange(n_pools) == last, rest, 0)).astype(xp.int32)
