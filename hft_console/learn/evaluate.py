"""Evaluation of every router on the JAX environment: the same random scenarios for each, per regime.

A scenario is ``steps`` routing decisions from a fresh start (learners start untrained, except the
checkpointed agents, and learn online as in a live session). Because the environment draws every
venue's latency and fill odds whether or not it is chosen, routers meet the very same world step by
step, so differences — and the regret against the oracle — are paired, not noise between worlds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hft_console.learn import env, env_dark
from hft_console.learn.env import EnvParams, EnvState
from hft_console.routing import bandits, dark_router
from hft_console.venues.regimes import REGIMES

Act = Callable[[Any, EnvState, jax.Array, jax.Array, EnvParams], tuple[Any, jax.Array, jax.Array, jax.Array]]
Update = Callable[[Any, jax.Array, jax.Array], Any]


class EvalRouter(NamedTuple):
    """A router on the environment, the shape of ``routing.policy.Policy`` in jnp:
    ``init(key) -> state``; ``act(state, env_state, obs, key, params) -> (state, venue, fraction, post)``
    (``post``: rest a POST_ONLY there rather than take); ``update(state, venue, reward) -> state`` (the
    reward is -cost_bps)."""

    init: Callable[[jax.Array], Any]
    act: Act
    update: Update


def keep_state(state: Any, venue: jax.Array, reward: jax.Array) -> Any:
    """``EvalRouter.update`` of a router that does not learn within a scenario."""
    return state


def _pick(score: jax.Array, eligible: jax.Array) -> jax.Array:
    return jnp.argmax(jnp.where(eligible, score, -jnp.inf))


TAKE_RULES = ("best-price", "lowest-latency", "lowest-fee", "round-robin", "random")
POST_RULES = ("post-best-rebate", "post-shortest-queue")  # routing/posting.py's rules, every child posted


def baseline(name: str) -> EvalRouter:
    """The engine's baselines (``routing/baselines.py``, plain Python per decision) in jnp on the
    environment's state, the posting rules (``routing/posting.py``: every child rests at the lit venue
    with the best maker rebate, or the shortest queue on our side, among those at the touch) and the
    oracle (takes or posts, knowing the hidden state); ``tests/integration/test_env_consistency.py``
    holds the twins to the same costs."""

    def act(state: Any, s: EnvState, obs: jax.Array, key: jax.Array, p: EnvParams) -> tuple[Any, Any, Any, Any]:
        state, venue, post = choose(state, s, key, p)
        return state, venue, jnp.ones(()), post

    def choose(state: Any, s: EnvState, key: jax.Array, p: EnvParams) -> tuple[Any, Any, Any]:
        one = jnp.zeros((), bool)
        lit = s.eligible & (p.dark == 0)
        if name == "post-best-rebate":
            return state, _pick(-p.post.maker_fee * 1e6 - s.near_size * 1e-6, lit), ~one
        if name == "post-shortest-queue":
            return state, _pick(-s.near_size - p.post.maker_fee * 1e-3, lit), ~one
        if name == "oracle":
            venue, post = env.oracle_action(s, p)
            return state, venue, post
        if name == "best-price":
            # every eligible venue shows the best price (a dark one is offered at it with no size, as the
            # engine offers it): the larger size, then the faster (two steps: size x 1e7 - latency in
            # float32 rounded the latency away, so ties in size went to the lower index)
            largest = s.eligible & (s.size == jnp.max(jnp.where(s.eligible, s.size, -1.0)))
            return state, _pick(-s.ewma_us, largest), one
        if name == "lowest-latency":
            return state, _pick(-s.ewma_us, s.eligible), one
        if name == "lowest-fee":
            return state, _pick(-p.taker_fee * 1e6 - jnp.arange(p.taker_fee.shape[0]) * 1e-6, s.eligible), one
        if name == "round-robin":
            n = s.eligible.shape[0]
            order = (state + jnp.arange(n)) % n
            first = order[jnp.argmax(s.eligible[order])]
            return state + 1, first, one
        if name == "random":
            return state, _pick(jax.random.uniform(key, s.eligible.shape), s.eligible), one
        raise ValueError(f"unknown baseline {name!r}")

    return EvalRouter(lambda key: jnp.zeros((), jnp.int32), act, keep_state)


class Rollout(NamedTuple):
    cost_bps: jax.Array  # (scenarios, steps)
    filled: jax.Array
    qty: jax.Array
    rt_us: jax.Array
    posted: jax.Array
    maker: jax.Array
    adverse_bps: jax.Array
    time_ms: jax.Array
    shortfall_bps: jax.Array


@functools.cache
def baseline_rollout(name: str, steps: int) -> Callable[[EnvParams, jax.Array, jax.Array], Rollout]:
    """``make_rollout(baseline(name), steps)``, compiled once per process (training evaluates each agent
    against the same two baselines)."""
    return make_rollout(baseline(name), steps)


def make_rollout(router: EvalRouter, steps: int) -> Callable[[EnvParams, jax.Array, jax.Array], Rollout]:
    """A jitted ``(params, keys, start_congested) -> Rollout`` over scenarios (one key per scenario,
    params batched on a leading axis): compiled once per router, reused for every regime."""
    return jax.jit(lambda params, keys, start: rollout(router, params, keys, steps, start))


def rollout(
    router: EvalRouter, params: EnvParams, keys: jax.Array, steps: int, start_congested: jax.Array,
    after: EnvParams | None = None, switch_at: int = 0,
) -> Rollout:  # fmt: skip
    """Every scenario (leading axis of ``params``, ``keys``, ``start_congested``) for ``steps`` decisions.
    ``after``: the world from decision ``switch_at`` on (a regime switch mid-scenario); None: no switch."""

    def one(key: jax.Array, p: EnvParams, congested: jax.Array, pa: EnvParams) -> Rollout:
        k_reset, k_router, k_run = jax.random.split(key, 3)
        s0 = env.reset(k_reset, p, congested)
        r0 = router.init(k_router)

        def body(carry: tuple[EnvState, Any], x: tuple[jax.Array, jax.Array]) -> tuple[tuple[EnvState, Any], Rollout]:
            s, r = carry
            k, t = x
            pt = p if after is None else jax.tree.map(lambda a, b: jnp.where(t >= switch_at, b, a), p, pa)
            k_act, k_env = jax.random.split(k)
            r, venue, fraction, post = router.act(r, s, env.observe(s, pt), k_act, pt)
            s, i = env.step(k_env, s, venue, fraction, pt, post)
            r = router.update(r, venue, -i.cost_bps)
            out = Rollout(
                i.cost_bps, i.filled, i.qty, i.rt_us, i.posted, i.maker, i.adverse_bps, i.time_ms, i.shortfall_bps
            )
            return (s, r), out

        _, out = jax.lax.scan(body, (s0, r0), (jax.random.split(k_run, steps), jnp.arange(steps)))
        return out

    return jax.vmap(one)(keys, params, start_congested, params if after is None else after)


class SeedSet(NamedTuple):
    """One agent trained with several seeds (``train --seeds N``): ``make(params) -> EvalRouter`` and the
    seeds' parameters stacked on a leading axis, evaluated together (one compile, vmapped over seeds)."""

    make: Callable[[Any], EvalRouter]
    params: Any
    seeds: list[int]


def make_seed_rollout(agent: SeedSet, steps: int, switch_at: int | None = None) -> Callable[..., Rollout]:
    """As ``make_rollout`` (``switch_at`` None) or ``make_switch_rollout``, for every seed of ``agent``:
    each output gains a leading seed axis; the seeds meet the very same worlds."""

    def run(stacked: Any, p: EnvParams, *rest: Any) -> Rollout:
        def one(prm: Any) -> Rollout:
            if switch_at is None:
                keys, start = rest
                return rollout(agent.make(prm), p, keys, steps, start)
            after, keys, start = rest
            return rollout(agent.make(prm), p, keys, steps, start, after, switch_at)

        return jax.vmap(one)(stacked)

    compiled = jax.jit(run)
    return lambda *args: compiled(agent.params, *args)


def pool_seeds(r: Rollout) -> Rollout:
    """``(seeds, scenarios, steps)`` -> ``(scenarios, seeds x steps)``: each scenario's figures over every
    seed, so a scenario's mean cost is the seeds' mean (what the paired tests compare)."""
    return Rollout(*(jnp.swapaxes(x, 0, 1).reshape(x.shape[1], -1) for x in r))


def seed_spread(r: Rollout) -> float:
    """The standard deviation across seeds of each seed's mean cost (bps): how much one seed's figure
    could differ from another's."""
    per_seed = np.asarray(r.cost_bps, dtype=np.float64).mean(axis=(1, 2))
    return float(per_seed.std(ddof=1)) if per_seed.size > 1 else 0.0


def make_switch_rollout(
    router: EvalRouter, steps: int, switch_at: int
) -> Callable[[EnvParams, EnvParams, jax.Array, jax.Array], Rollout]:
    """A jitted ``(before, after, keys, start_congested) -> Rollout``: the world changes at ``switch_at``."""
    return jax.jit(lambda p, pa, keys, start: rollout(router, p, keys, steps, start, pa, switch_at))


def switch_worlds(base: EnvParams, scenarios: int, seed: int) -> tuple[EnvParams, EnvParams, jax.Array, jax.Array]:
    """The regime-switch family: every scenario starts calm, and the venue cheapest to take on (the
    lowest taker fee: where fee-minded routers and learners concentrate) degrades mid-scenario — five
    times slower, spiky, rejecting and now and then out (``regime_params`` ``degraded``). Returns the
    worlds before and after, one key per scenario, and the start states."""
    key = jax.random.fold_in(jax.random.key(seed), len(REGIMES))
    k_params, k_runs = jax.random.split(key)
    before, start = scenario_params(base, "calm", scenarios, k_params)
    venue = jnp.full((scenarios,), jnp.argmin(base.taker_fee), dtype=jnp.int32)
    after = jax.vmap(lambda p, v: env.regime_params(p, "degraded", v))(before, venue)
    return before, after, jax.random.split(k_runs, scenarios), start


def switch_halves(r: Rollout, switch_at: int) -> tuple[np.ndarray, np.ndarray]:
    """Each scenario's mean cost per decision (bps) before and after the switch: ``(scenarios,)`` twice."""
    cost = np.asarray(r.cost_bps, dtype=np.float64)
    return cost[:, :switch_at].mean(axis=1), cost[:, switch_at:].mean(axis=1)


def regret_after_switch(
    halves: tuple[np.ndarray, np.ndarray], oracle: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    """Mean regret per decision (bps, against the oracle, which sees the switch) before and after the
    switch, the 95% interval of the after figure across scenarios, and the rise (after - before, per
    scenario): a router that forgets pays some regret before the switch to recover faster after it.
    ``halves``, ``oracle``: ``switch_halves`` of the router and of the oracle on the same worlds."""
    before, after = halves[0] - oracle[0], halves[1] - oracle[1]
    n = after.size
    return {
        "regret_before_bps": round(float(before.mean()), 4),
        "regret_after_bps": round(float(after.mean()), 4),
        "regret_after_bps_ci95": round(float(1.96 * after.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0, 4),
        "regret_rise_bps": round(float((after - before).mean()), 4),  # what the switch cost it, paired
    }


def scenario_params(base: EnvParams, regime: str, n: int, key: jax.Array) -> tuple[EnvParams, jax.Array]:
    """Per-scenario parameters of a regime (the degraded venue and the dark pools' liquidity differ by
    scenario: ``env_dark.vary_liquidity``) and start states."""
    n_ven = base.median_us.shape[0]
    degraded = jax.random.randint(key, (n,), 0, n_ven)
    batched = jax.vmap(lambda v, k: vary_dark(k, env.regime_params(base, regime, v)))(
        degraded, jax.random.split(jax.random.fold_in(key, 1), n)
    )
    start = jnp.full((n,), 0.7 if regime == "congested" else 0.0)
    return batched, start


def draw_world(
    key: jax.Array, base: EnvParams, regime_of: Callable[[jax.Array], jax.Array]
) -> tuple[EnvParams, jax.Array]:
    """One training environment's world: the regime ``regime_of(key)`` (0 calm, 1 congested, 2
    degraded; DQN and PPO each draw it their own way, kept so their checkpoints reproduce) with a
    random degraded venue and dark-pool liquidity, and its start state's congestion odds, as the
    evaluation starts it."""
    k_regime, k_venue = jax.random.split(key)
    regime = regime_of(k_regime)
    venue = jax.random.randint(k_venue, (), 0, base.median_us.shape[0])
    options = [env.regime_params(base, r, venue) for r in REGIMES]
    p = jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves])[regime], *options)
    return vary_dark(jax.random.fold_in(key, 1), p), jnp.where(regime == 1, 0.7, 0.0)


def vary_dark(key: jax.Array, p: EnvParams) -> EnvParams:
    """``p`` with one world's dark-pool liquidity drawn around the configured law (``env_dark.py``)."""
    mean, zero = env_dark.vary_liquidity(key, p.hidden_mean, p.hidden_zero_prob)
    return p._replace(hidden_mean=mean, hidden_zero_prob=zero)


def per_scenario_cost(r: Rollout) -> np.ndarray:
    """``(scenarios,)`` each scenario's mean cost per decision, bps: what routers are paired on."""
    cost: np.ndarray = np.asarray(r.cost_bps, dtype=np.float64).mean(axis=1)
    return cost


def summarise(r: Rollout, oracle: np.ndarray | None = None) -> dict[str, float]:
    """Per router: ``cost_bps`` (the parent's cost per decision, what routers are scored on) with its
    95% interval across scenarios; ``fill_rate`` (child shares filled / sent); ``shortfall_bps`` (the
    child's own implementation shortfall per share sent, misses included); ``adverse_bps`` (mark-out 1 s
    after a maker fill per maker share; 0 without maker fills); ``post_share`` (children posted);
    ``time_to_fill_ms`` (decision -> the fill completing a child, children that filled); mean round
    trip; with ``oracle`` (its ``per_scenario_cost`` on the same worlds) ``regret``'s figures too."""
    per_scenario = per_scenario_cost(r)
    n = per_scenario.size
    ci = 1.96 * per_scenario.std(ddof=1) / math.sqrt(n) if n > 1 else 0.0
    qty, filled, maker = (np.asarray(x, dtype=np.float64) for x in (r.qty, r.filled, r.maker))
    shortfall = float((np.asarray(r.shortfall_bps, dtype=np.float64) * qty).sum() / qty.sum())
    adverse = float((np.asarray(r.adverse_bps, dtype=np.float64) * maker).sum() / maker.sum()) if maker.sum() else 0.0
    done = filled > 0
    figures = {
        "cost_bps": round(float(per_scenario.mean()), 4),
        "cost_bps_ci95": round(float(ci), 4),
        "fill_rate": round(float(filled.sum() / qty.sum()), 4),
        "shortfall_bps": round(shortfall, 4),
        "adverse_bps": round(adverse, 4),
        "post_share": round(float(np.asarray(r.posted).mean()), 4),
        "time_to_fill_ms": round(float(np.asarray(r.time_ms)[done].mean()), 3) if done.any() else 0.0,
        "latency_us_mean": round(float(np.asarray(r.rt_us).mean()), 1),
    }
    return figures if oracle is None else {**figures, **regret_figures(per_scenario, oracle)}


def regret_figures(per_scenario: np.ndarray, oracle: np.ndarray) -> dict[str, float]:
    """``regret_bps`` (mean over scenarios of the router's cost minus the oracle's) and its 95% interval."""
    regret = per_scenario - oracle
    n = regret.size
    return {
        "regret_bps": round(float(regret.mean()), 4),
        "regret_bps_ci95": round(float(1.96 * regret.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0, 4),
    }


def bandit_router(name: str, n_venues: int) -> EvalRouter:
    """A bandit from ``routing/bandits.py`` — the very functions the live engine runs with numpy —
    here in jnp, learning online within each scenario from the reward -cost_bps."""

    def init(key: jax.Array) -> Any:
        return bandits.bandit_init(name, n_venues, xp=jnp)

    def act(state: Any, s: EnvState, obs: jax.Array, key: jax.Array, p: EnvParams) -> tuple[Any, Any, Any, Any]:
        noise = bandits.noise_jax(name, s.eligible.shape[0], key)
        return state, bandits.bandit_act(name, state, s.eligible, noise, xp=jnp), jnp.ones(()), jnp.zeros((), bool)

    def update(state: Any, venue: jax.Array, reward: jax.Array) -> Any:
        return bandits.bandit_update(name, state, venue, reward, xp=jnp)

    return EvalRouter(init, act, update)


def dark_km_router(dark_flags: Any) -> EvalRouter:
    """``dark-km`` (``routing/dark_router.py``, the functions the live ``DarkKM`` runs with numpy) in jnp:
    UCB over the lit venues and the orders each pool was sent, its own state; the pools' liquidity from
    the environment's learner ``EnvState.km`` (what the router has seen of them; ``env.step`` teaches it
    when a pool answers). ``dark_flags`` ``(V,)``: which venues are dark pools (fixed by the venue set)."""
    flags = np.asarray(dark_flags) > 0
    pools = np.flatnonzero(flags)
    is_dark = jnp.asarray(flags)

    def init(key: jax.Array) -> Any:
        return dark_router.router_init(flags.size, pools.size, xp=jnp)

    def act(state: Any, s: EnvState, obs: jax.Array, key: jax.Array, p: EnvParams) -> tuple[Any, Any, Any, Any]:
        km = dark_router.router_view(dark_router.pool_rows(s.km, pools), xp=jnp)
        venue, shares = dark_router.choose(
            state, s.eligible & ~is_dark, km, pools, s.eligible[pools], p.taker_fee[pools], p.qty, p.price,
            p.miss_penalty_ticks * p.tick, xp=jnp,
        )  # fmt: skip
        fraction = jnp.where(shares > 0, shares / p.qty, 1.0)
        return state, venue, fraction, jnp.zeros((), bool)

    def update(state: Any, venue: jax.Array, reward: jax.Array) -> Any:
        return dark_router.router_update(state, venue, reward, pools, xp=jnp)

    return EvalRouter(init, act, update)


def regime_worlds(base: EnvParams, scenarios: int, seed: int) -> dict[str, tuple[EnvParams, jax.Array, jax.Array]]:
    """Per regime: scenario parameters, one key per scenario and start states — the same for every
    router evaluated with this seed."""
    key = jax.random.key(seed)
    worlds = {}
    for i, regime in enumerate(REGIMES):
        k_params, k_runs = jax.random.split(jax.random.fold_in(key, i))
        params, start = scenario_params(base, regime, scenarios, k_params)
        worlds[regime] = (params, jax.random.split(k_runs, scenarios), start)
    return worlds


def versus_oracle(
    base: EnvParams, router: EvalRouter, scenarios: int, steps: int, seed: int
) -> dict[str, dict[str, float | None]]:
    """One router against best-price and the oracle per regime, on the same paired worlds: its cost,
    regret and fill rate, and the share of the oracle's edge over best-price it captures."""
    runs = {
        "agent": make_rollout(router, steps),
        "best-price": baseline_rollout("best-price", steps),
        "oracle": baseline_rollout("oracle", steps),
    }
    out: dict[str, dict[str, float | None]] = {}
    for regime, (world, keys, start) in regime_worlds(base, scenarios, seed).items():
        rolled = {name: run(world, keys, start) for name, run in runs.items()}
        oracle = per_scenario_cost(rolled["oracle"])
        rows = {name: summarise(r, oracle) for name, r in rolled.items()}
        bp, orc, agent = (rows[n]["cost_bps"] for n in ("best-price", "oracle", "agent"))
        out[regime] = {
            "cost_bps": agent,
            "regret_bps": rows["agent"]["regret_bps"],
            "fill_rate": rows["agent"]["fill_rate"],
            "best_price_cost_bps": bp,
            "best_price_regret_bps": rows["best-price"]["regret_bps"],
            "oracle_cost_bps": orc,
            "edge_captured": round((bp - agent) / (bp - orc), 4) if bp > orc else None,
        }
    return out
