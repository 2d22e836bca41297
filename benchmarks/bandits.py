"""Bandit router benchmark: the live numpy path's cost per decision and per update, and the JAX path's
throughput over many independent problems.

    python benchmarks/bandits.py [--calls 20000] [--no-jax]

Live path: each bandit behind the ``Policy`` protocol, as the engine calls it (an ``Observation`` with
tuples, one ``act`` then one ``update`` per decision), on 6 Gaussian venues with changing eligibility;
every call is timed on its own and p50/p99 are printed. ``bare act`` is ``bandit_act`` alone, without
the wrapper (mask conversion, noise slicing). JAX: ``vmap`` of a ``lax.scan`` under ``jit``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from machine import machine

from hft_console.routing import bandits
from hft_console.routing.policy import Observation, PolicySpec, Transition

K = 6
MEANS = np.array([-0.7, -1.0, -0.4, -0.9, -0.6, -0.8])
SPEC = PolicySpec(tuple("ABCDEF"), taker_fee=np.full(K, 0.003), prior_latency_us=np.full(K, 200.0))


def pct(ns: list[int]) -> str:
    p50, p99 = np.percentile(np.asarray(ns) / 1e3, [50, 99])
    return f"{p50:7.1f} {p99:7.1f}"


def live(cls: type[bandits.BanditPolicy], calls: int) -> tuple[list[int], list[int], list[int]]:
    rng = np.random.default_rng(0)
    masks = [tuple(bool(x) for x in row) for row in rng.random((calls, K)) < 0.8]
    masks = [m if any(m) else (True,) * K for m in masks]
    obs = [Observation(1, 100, (100.01,) * K, (300,) * K, (200.0,) * K, (0.003,) * K, m, 100.0, d)
           for d, m in enumerate(masks)]  # fmt: skip
    shocks = (rng.standard_normal(calls) * 0.5).tolist()
    policy = cls()
    state = policy.init(1, SPEC)
    acts, updates, bare = [], [], []
    for d in range(calls):
        started = time.perf_counter_ns()
        venue = policy.act(state, obs[d], 0.5)
        acts.append(time.perf_counter_ns() - started)
        cost = -MEANS[venue] + shocks[d]
        transition = Transition(venue, 100, 100, cost, 300.0, -cost)
        started = time.perf_counter_ns()
        state = policy.update(state, transition)
        updates.append(time.perf_counter_ns() - started)
    mask, noise = np.ones(K, dtype=bool), bandits.noise_np(cls.name, K, rng)
    for _ in range(calls):
        started = time.perf_counter_ns()
        bandits.bandit_act(cls.name, state.bandit, mask, noise)
        bare.append(time.perf_counter_ns() - started)
    return acts, updates, bare


def jax_throughput(name: str, problems: int, steps: int) -> tuple[float, float]:
    import jax
    import jax.numpy as jnp

    means = jnp.asarray(MEANS)

    def one(key: jax.Array) -> jax.Array:
        k_noise, k_shock = jax.random.split(key)
        noise = bandits.noise_jax(name, K, k_noise, (steps,))
        shocks = jax.random.normal(k_shock, (steps,)) * 0.5

        def step(st: bandits.BanditState, x: tuple[jax.Array, jax.Array]) -> tuple[bandits.BanditState, jax.Array]:
            arm = bandits.bandit_act(name, st, jnp.ones(K, dtype=bool), x[0], xp=jnp)
            return bandits.bandit_update(name, st, arm, means[arm] + x[1], xp=jnp), arm

        arms: jax.Array = jax.lax.scan(step, bandits.bandit_init(name, K, xp=jnp), (noise, shocks))[1]
        return arms

    keys = jax.random.split(jax.random.key(0), problems)
    started = time.perf_counter()
    run = jax.jit(jax.vmap(one)).lower(keys).compile()
    compiled = time.perf_counter() - started
    started = time.perf_counter()
    np.asarray(run(keys))  # waits for the result
    return compiled, problems * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--no-jax", action="store_true")
    args = parser.parse_args()
    print(f"{machine()}; {args.calls} decisions per bandit, times in µs")
    print(f"{'bandit':20s} {'act p50     p99':>15s} {'update p50  p99':>16s} {'bare act p50 p99':>17s}")
    for cls in bandits.BANDIT_POLICIES:
        acts, updates, bare = live(cls, args.calls)
        print(f"{cls.name:20s} {pct(acts)} {pct(updates)}  {pct(bare)}")
    if not args.no_jax:
        print("JAX, vmap(64 problems) of scan(4000 decisions) under jit:")
        for name in bandits.BANDIT_NAMES:
            compiled, rate = jax_throughput(name, 64, 4000)
            print(f"{name:20s} compile {compiled:5.2f} s, {rate / 1e6:6.2f} M decisions/s")


if __name__ == "__main__":
    main()
