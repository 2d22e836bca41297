"""``dark-km``: a bandit over lit and dark venues that prices dark pools from a censored-feedback learner.

Lit venues are arms of the UCB bandit (``routing/bandits.py``: reward ``-cost_bps``, the same functions,
state and bound). A dark pool is no arm: what one costs is priced from the Kaplan-Meier estimate of its
hidden-liquidity tail (``routing/dark.py``; Ganchev, Nevmyvaka, Kearns & Vaughan, "Censored exploration
and the dark pool problem", UAI 2009 / CACM 2010) and the venue facts in ``PolicySpec``: a share sent
there fills at the mid for the pool's taker fee with probability P(H >= k) (k: its place in the order),
else it is a miss that costs ``miss_penalty_ticks`` (it must be re-sent), as the engine and the
environment score every router. So the k-th share sent costs, in $,

    c_k = P̃(H >= k)·fee + (1 − P̃(H >= k))·miss,

non-decreasing in k (the tail falls; the fee is below the miss penalty), and by Ganchev's marginal rule
share k is worth sending while c_k is below what the best lit venue is believed to cost a share (its UCB
bound, optimistic as the dark side is: both explore). q* = #{k <= remaining: c_k < lit} shares go to the
pool whose saving Σ_{k<=q*} (lit − c_k) is largest, as the share ``q*/remaining`` of the parent (at least
one share); with no such pool the best lit arm takes it all. The rest of a parent goes on in the next
decision as usual (the engine masks a venue once used for a parent).

P̃ is optimistic as ``dark.choice_scores`` is: the KM tail (flat past the levels with ``min_at_risk``
orders) plus a UCB width on the fill share of the remaining order, ``bonus``·√(2·v·ln N / n_d), with n_d
the pool's answered orders, v the pooled variance of min(q, H)/q over pools (with a prior of
``PRIOR_ORDERS`` orders of variance 1/4), and N every answer the router has learned from (lit and
dark: the pool competes with the lit arms, so its bound widens while they are used, as a neglected
arm's does); an untried pool has P̃ = 1 everywhere. The learner learns only from a dark take the pool
answered: a timeout or a reject says nothing about its liquidity. It does say the pool may not answer
the next one either: the router counts the orders each pool was sent, and P̃ is the tail times the
answer rate (answered + 1)/(sent + 1) (else a pool down from the start, never answering, would stay
untried and take every parent).

The same functions run live (numpy, ``DarkKM``) and in the evaluation under jit (``learn/evaluate.py``'s
``dark_km_router``, reading the environment's learner ``EnvState.km``); a test holds the two to the
same choices. ``LiveDarkBook`` is the live learner alone, for the learned routers' observation.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from hft_console.routing import bandits, dark
from hft_console.routing.bandits import BanditState
from hft_console.routing.dark import DarkConfig, DarkState
from hft_console.routing.models.layout import DARK_LEVELS
from hft_console.routing.policy import Observation, PolicySpec, Transition

Array = Any  # a numpy or a jax array; the functions are generic over ``xp``

NAME = "dark-km"
LIT_BANDIT = "ucb"  # the lit arms' rule
# the router's learner settings: the UCB width explores, so a level is read from 2 orders at risk, not
# the observation feature's 5 (``dark.DEFAULT_CONFIG``): over `evaluate`'s 200-decision scenarios five
# forced whole-parent pings of an illiquid pool cost ~0.01 bps a decision (measured: +0.016 bps against
# ucb on the default venues with 5, +0.006 with 2; the same saving on liquid pools)
ROUTER_CONFIG = DarkConfig(min_at_risk=2.0)
PRIOR_VAR, PRIOR_ORDERS = 0.25, 2.0  # the width's variance starts as 2 orders' worth of 1/4, the most it can be
COST_LIMIT = 1e6  # $ a share: the lit estimate is clipped here (no lit venue, or one not tried yet: ±inf)
_TINY = 1e-30  # a guard against 0/0 that float32 can still represent


def pool_rows(km: DarkState, pools: Array) -> DarkState:
    """The learner's rows of the dark pools ``pools`` ``(P,)`` (venue numbers), from one over all venues."""
    return DarkState(*(a[pools] for a in km))


def router_view(km: DarkState, cfg: DarkConfig = ROUTER_CONFIG, xp: Any = np) -> DarkState:
    """``km``'s counts with the tail and sums the router reads recomputed under ``cfg`` (its
    ``min_at_risk``; the counts are the same learner's): ``dark_observe`` of an order of 0 shares."""
    nothing = xp.zeros(km.at_risk.shape[0], dtype=km.at_risk.dtype)
    return dark.dark_observe(km, nothing, nothing, cfg._replace(discount=1.0), xp)


class RouterState(NamedTuple):
    """What ``dark-km`` learns besides the pools' KM counts (live: ``LiveDarkBook``; the environment:
    ``EnvState.km``)."""

    bandit: BanditState  # the lit arms' UCB (every venue has a row; a dark one's never learns)
    sent: Array  # (P,) orders each pool was sent whose report came back, answered or not (timeouts, rejects)


def router_init(n_venues: int, n_pools: int, xp: Any = np) -> RouterState:
    """Nothing learnt: the UCB over ``n_venues`` arms with no pull, no order sent to the ``n_pools`` pools."""
    return RouterState(bandits.bandit_init(LIT_BANDIT, n_venues, xp=xp), xp.zeros(n_pools))


def router_update(state: RouterState, venue: Array, reward: Array, pools: Array, xp: Any = np) -> RouterState:
    """After ``venue`` paid ``reward`` (−bps): a lit venue's reward teaches the UCB; a dark pool's report
    only counts as sent (what it filled teaches the KM learner, when the pool answered)."""
    hot = xp.asarray(pools) == venue  # (P,)
    new = bandits.bandit_update(LIT_BANDIT, state.bandit, venue, reward, xp=xp)
    is_dark = hot.any()
    bandit = BanditState(*(xp.where(is_dark, a, b) for a, b in zip(state.bandit, new, strict=True)))
    return RouterState(bandit, state.sent + hot)


def answers(state: RouterState) -> Array:
    """N: every report the router has learned from, lit (the UCB's updates) and dark (sent)."""
    return state.bandit.steps + state.sent.sum()


def optimistic_tail(
    km: DarkState, sent: Array, q: Array, n_total: Array, cfg: DarkConfig = ROUTER_CONFIG, xp: Any = np
) -> Array:
    """``(P, S)`` P̃(H >= s), s = 1..S, of an order sent: the KM tail times the pool's answer rate
    ã = (answered + 1)/(sent + 1) (a pool that is down or rejects fills nothing, and the KM learner is
    never told), plus the per-pool UCB width on the fill share of a ``q``-share order over the orders
    ``sent`` ``(P,)`` (see the module docstring), capped at 1; 1 everywhere for a pool never sent one."""
    q = xp.maximum(xp.asarray(q, dtype=km.tail.dtype), 1.0)
    fill, square = dark.fill_moments(km, q, xp)
    mean = fill / q
    var = xp.maximum(square / (q * q) - mean * mean, 0.0)
    n = km.at_risk[:, 0]  # answered
    # v shrunk towards the widest a share in [0, 1] can vary: one pool whose first orders all met nothing
    # has a sample variance of 0, and a plug-in bound of 0 width would write it off for good
    pooled = xp.maximum(((n * var).sum() + PRIOR_ORDERS * PRIOR_VAR) / (n.sum() + PRIOR_ORDERS), cfg.var_floor)
    log_n = xp.log(xp.maximum(n_total, 1.0))
    width = xp.where(sent > 0, cfg.bonus * xp.sqrt(2.0 * pooled * log_n / xp.maximum(sent, _TINY)), 1.0)
    rate = xp.minimum((n + 1.0) / (sent + 1.0), 1.0)
    return xp.minimum(rate[:, None] * km.tail + width[:, None], 1.0)


class DarkPlan(NamedTuple):
    shares: Array  # (P,) q*: shares worth sending to each pool (0: none), whole
    saving: Array  # (P,) $ Σ_{k<=q*} (lit − c_k) over those shares against the best lit estimate


def dark_plan(
    km: DarkState, sent: Array, fee: Array, remaining: Array, lit_cost: Array, miss: Array, n_total: Array,
    cfg: DarkConfig = ROUTER_CONFIG, xp: Any = np,
) -> DarkPlan:  # fmt: skip
    """Ganchev's marginal rule per pool: the shares of a ``remaining``-share order each pool ``(P,)``
    with taker fee ``fee`` ($/share) is worth sending, against a lit cost ``lit_cost`` ($/share) and
    a miss penalty ``miss`` ($/share). Past the grid the last level's probability holds (flat)."""
    tilde = optimistic_tail(km, sent, remaining, n_total, cfg, xp)
    cost = miss - tilde * (miss - xp.asarray(fee)[:, None])  # (P, S) c_k
    levels = tilde.shape[-1]
    ok = (cost < lit_cost) & (xp.arange(1, levels + 1) <= remaining)
    beyond = xp.maximum(remaining - levels, 0.0)
    last_ok = cost[:, -1] < lit_cost
    shares = ok.sum(axis=-1) + xp.where(last_ok, beyond, 0.0)
    saving = xp.where(ok, lit_cost - cost, 0.0).sum(axis=-1) + xp.where(last_ok, beyond * (lit_cost - cost[:, -1]), 0.0)
    return DarkPlan(shares, saving)


def choose(
    state: RouterState, lit_mask: Array, km: DarkState, pools: Array, pool_mask: Array, pool_fee: Array,
    remaining: Array, price: Array, miss: Array, cfg: DarkConfig = ROUTER_CONFIG, xp: Any = np,
) -> tuple[Array, Array]:  # fmt: skip
    """``dark-km``'s decision: (venue, shares for the dark pool) as int arrays of shape (); shares is 0
    when a lit venue takes the whole order. ``lit_mask`` ``(V,)`` the eligible lit venues; ``km`` the
    pools' rows (``router_view``), ``pools`` ``(P,)`` their venue numbers, ``pool_mask`` eligible,
    ``pool_fee`` $/share; ``remaining`` shares, ``price`` $ (the mid: bps -> $), ``miss`` $ per
    unfilled share."""
    lit = xp.where(lit_mask, state.bandit.cache[0], -xp.inf)  # UCB bounds (−bps; +inf: an arm not tried)
    lit_arm = lit.argmax()
    if km.tail.shape[0] == 0:  # no dark pool (a static shape: fine under jit)
        return lit_arm, xp.zeros((), xp.int32)
    # the best lit bound in $ a share: +limit with no lit venue (the dark pool takes all), −limit while a
    # lit arm is untried (it is tried first)
    lit_cost = xp.clip(-lit.max() * xp.maximum(price, _TINY) / 1e4, -COST_LIMIT, COST_LIMIT)
    remaining = xp.asarray(remaining, dtype=km.tail.dtype)
    plan = dark_plan(km, state.sent, pool_fee, remaining, lit_cost, miss, answers(state), cfg, xp)
    saving = xp.where(pool_mask & (plan.shares >= 1), plan.saving, -1.0)
    pick = saving.argmax()
    go_dark = saving[pick] > 0.0
    venue = xp.where(go_dark, xp.asarray(pools)[pick], lit_arm)
    return venue, xp.where(go_dark, plan.shares[pick], 0).astype(xp.int32)


class LiveDarkBook:
    """The live KM learner of every dark venue's hidden liquidity, on ``levels`` share levels: what the
    environment keeps in ``EnvState.km`` (``learn/env_dark.py``), learnt from the engine's transitions.

    ``dark_flags`` ``(V,)``: which venues are dark pools. Only their rows are kept (``pools``)."""

    def __init__(self, dark_flags: tuple[bool, ...] | list[bool], levels: int = DARK_LEVELS) -> None:
        self.dark = tuple(bool(d) for d in dark_flags)
        self.pools = np.flatnonzero(np.array(self.dark, dtype=bool)).astype(np.int64)
        self.index = {int(v): i for i, v in enumerate(self.pools)}
        self.levels = levels
        self.km = dark.dark_init(max(len(self.pools), 1), levels)
        if not len(self.pools):  # no pool: an empty state, so readers need no special case
            self.km = DarkState(*(a[:0] for a in self.km))

    def learn(self, transition: Transition) -> bool:
        """Learn from an order's answer: only a take at a dark venue the pool answered (a timeout or a
        reject says nothing of its liquidity). True when it learnt."""
        i = self.index.get(transition.venue)
        if i is None or not transition.answered or transition.qty < 1:
            return False
        filled = min(max(transition.filled, 0), transition.qty)
        self.km = dark.dark_update(self.km, i, float(transition.qty), float(filled))
        return True

    def orders(self) -> np.ndarray:
        """``(P,)`` orders each pool answered (weighted as the learner weighs them)."""
        return np.asarray(self.km.at_risk[:, 0])

    def fill_shares(self, qty: float) -> tuple[float, ...]:
        """Per venue, the learned share of a ``qty``-share order a dark pool would fill (1 for one not
        tried yet: optimistic), 0.0 at a lit venue: ``env_dark.fill_share_feature``."""
        out = [0.0] * len(self.dark)
        if len(self.pools):
            for v, share in zip(self.pools, dark.fill_share_estimate(self.km, qty), strict=True):
                out[int(v)] = float(share)
        return tuple(out)


class DarkKMState(NamedTuple):
    core: RouterState  # the lit arms' UCB and the orders each pool was sent
    book: LiveDarkBook  # the pools' KM learner (mutable, as a bandit's noise stream is)
    view: DarkState  # ``router_view`` of the book, recomputed when it learns (the decision path reads it)
    seen: list[float]  # [the last mid a decision saw], $: prices the pools' bounds for the console


class DarkKM:
    """``dark-km`` behind the ``Policy`` protocol, numpy: ``act`` returns (venue, share of the remaining
    quantity). Static venue facts come from ``PolicySpec``: ``dark``, ``taker_fee``, ``tick``,
    ``miss_penalty_ticks``, ``parent_qty`` (the console's bound of a pool)."""

    name = NAME

    def __init__(self, cfg: DarkConfig = ROUTER_CONFIG) -> None:
        self.cfg = cfg

    def init(self, key: int, spec: PolicySpec) -> DarkKMState:
        """Raises ValueError when ``spec.dark`` has not one flag per venue."""
        n = len(spec.venues)
        flags = tuple(spec.dark) if spec.dark else (False,) * n
        if len(flags) != n:
            raise ValueError(f"PolicySpec.dark has {len(flags)} flags for {n} venues")
        book = LiveDarkBook(flags)
        self.is_dark = np.array(flags, dtype=bool)
        self.pool_fee = np.asarray(spec.taker_fee, dtype=float)[book.pools]
        self.miss = spec.miss_penalty_ticks * spec.tick
        self.parent_qty = spec.parent_qty
        return DarkKMState(router_init(n, len(book.pools)), book, router_view(book.km, self.cfg), [math.nan])

    def act(self, state: DarkKMState, obs: Observation, key: float) -> tuple[int, float]:
        """Raises ValueError when no venue is eligible."""
        if True not in obs.mask:
            raise ValueError("no eligible venue")
        mask = np.array(obs.mask, dtype=bool)
        pools = state.book.pools
        state.seen[0] = obs.mid
        venue, shares = choose(
            state.core, mask & ~self.is_dark, state.view, pools, mask[pools], self.pool_fee, float(obs.qty),
            obs.mid, self.miss, self.cfg,
        )  # fmt: skip
        return int(venue), (int(shares) / obs.qty if shares > 0 else 1.0)

    def update(self, state: DarkKMState, transition: Transition) -> DarkKMState:
        dark_pool = self.is_dark[transition.venue]
        if not dark_pool and not math.isfinite(transition.reward):  # one bad report must not poison the UCB
            return state
        core = router_update(state.core, transition.venue, transition.reward, state.book.pools)
        if dark_pool and state.book.learn(transition):  # the pool answered: the learner learns its fill
            return state._replace(core=core, view=router_view(state.book.km, self.cfg))
        return state._replace(core=core)

    def arm_stats(self, state: DarkKMState) -> dict[str, list[float]]:
        """The lit arms' UCB figures (``bandits.arm_stats``: ``pulls``, ``mean``, ``bound``); at a dark pool
        ``pulls`` are the orders it was sent, ``mean`` nan and ``bound`` the optimistic reward (−bps) of
        sending it a whole parent at the last mid seen (nan before a decision). Also per venue
        ``fill_share`` (the learned share of a parent a pool fills when it answers; nan at a lit venue)
        and ``dark_orders`` (orders it answered; 0 at a lit venue)."""
        out = bandits.arm_stats(LIT_BANDIT, state.core.bandit)
        book = state.book
        n = len(book.dark)
        out["fill_share"], out["dark_orders"] = [math.nan] * n, [0.0] * n
        if not len(book.pools):
            return out
        q = max(self.parent_qty, 1.0)
        tilde = optimistic_tail(state.view, state.core.sent, q, answers(state.core), self.cfg)
        fill = dark.expected_fill(tilde, q) / q  # optimistic fill share of a parent sent
        cost = fill * self.pool_fee + (1.0 - fill) * self.miss  # $ a share
        mid, orders, shares = state.seen[0], book.orders(), book.fill_shares(q)
        for i, v in enumerate(book.pools):
            out["pulls"][v], out["mean"][v] = float(state.core.sent[i]), math.nan
            out["bound"][v] = -float(cost[i]) / mid * 1e4 if mid > 0 else math.nan
            out["fill_share"][v], out["dark_orders"][v] = shares[v], float(orders[i])
        return out
