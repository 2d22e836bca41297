"""Learning-router benchmark: the live decision inside real sessions (jit and numpy), batched
inference, and the shipped checkpoints' training figures.

    python benchmarks/learning.py [--decisions 10000] [--wall-s 30] [--sim-s 120] [--live-only]

The live decision is timed around ``act`` — the observation built from the engine's quotes, the
forward pass, the choice (and, with online fine-tuning, exploration and the learner's bookkeeping) —
exactly what ``summary.json``'s ``inference_us`` reports; the tick-to-order ``decision_latency_us``
is printed beside it. First, sessions as ``hft-console --mode production`` runs them (production
defaults, online fine-tuning on) on the simulated clock, ``--sim-s`` of market each: a decision every
few thousand ticks, the path partly cold; then the same on the wall clock (``--wall-s`` each, the
engine asleep between 20 ms batches), with fine-tuning on and off. Then sessions with a strategy made
busy enough to route ``--decisions`` child orders back to back (the path stays in the CPU's caches),
bandits included; the forward pass alone, cold and warm; batched inference (16,384 observations at
once); the training figures. ``--live-only``: the first two blocks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from typing import Any

import numpy as np
from machine import machine

from hft_console.engine.engine import Engine
from hft_console.routing.models import checkpoint
from hft_console.routing.models.agents import load_agent
from hft_console.routing.models.dqn import q_values
from hft_console.routing.models.layout import obs_dim
from hft_console.routing.models.ppo import actor_mean
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import load_settings


def _percentiles(ns: list[int], qs: tuple[int, ...] = (50, 99)) -> dict[str, float]:
    us = np.array(ns, dtype=float) / 1000
    return {f"p{q}": float(np.percentile(us, q)) if us.size else float("nan") for q in qs}


def contention() -> tuple[float, int]:
    """(wall clock s, this process's involuntary context switches so far): over a session, how often
    other work on the machine took the CPU from it (a decision that loses the CPU takes milliseconds)."""
    return time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def contention_text(since: tuple[float, int]) -> str:
    wall, switches = contention()
    return f"load {os.getloadavg()[0]:.1f}, {(switches - since[1]) / (wall - since[0]):,.0f} preemptions/s"


def live_session(router: str, inference: str, clock: str, seconds: float, online: bool = True) -> dict[str, Any]:
    """A session as the command line runs it (production mode, the default strategy): the live
    decision (``inference``) and tick-to-order (``decision``) percentiles, µs, and the machine's
    load over it (``contention_text``)."""
    flags: dict[str, Any] = {
        "session.mode": "production", "session.clock": clock, "session.seed": 3, "session.router": router,
        "session.inference": inference, "session.duration_s": seconds, "session.online_learning": online,
    }  # fmt: skip
    engine = Engine(load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES), None)
    since = contention()
    engine.run()
    return {
        "n": len(engine.router.inference_ns),
        "inference": _percentiles(engine.router.inference_ns),
        "decision": _percentiles(engine.flow.decision_ns),
        "online": engine.router.online_stats(),
        "machine": contention_text(since),
    }


def session(router: str, inference: str, decisions: int) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "session.mode": "production", "session.clock": "sim", "session.seed": 3, "session.router": router,
        "session.inference": inference, "session.duration_s": 36000.0,
    }  # fmt: skip
    s = load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)
    from dataclasses import replace

    # a busy strategy: more parent orders per second, so the router decides often
    s = replace(s, strategy=replace(s.strategy, entry_threshold=0.15, exit_threshold=0.05, cooldown_ms=2.0))
    engine = Engine(s, None)

    def enough(e: Engine) -> None:
        if len(e.router.inference_ns) >= decisions:
            e.stop_requested = True

    engine.on_batch.append(enough)
    engine.run()
    return {"n": len(engine.router.inference_ns), **_percentiles(engine.router.inference_ns, (50, 95, 99))}


def cold_forward(inference: str, seconds: float) -> tuple[float, float]:
    """In a real-time DQN session: the forward pass timed first thing after the engine wakes for a
    batch, and again at once — what a cold and a warm decision path cost (p50, µs)."""
    flags: dict[str, Any] = {
        "session.mode": "production", "session.clock": "wall", "session.seed": 3, "session.router": "dqn",
        "session.inference": inference, "session.duration_s": seconds, "session.online_learning": False,
    }  # fmt: skip
    s = load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)
    engine = Engine(s, None)
    policy: Any = engine.router.policy
    forward, x = policy._forward, policy._x  # the observation buffer, as the start-up rehearsals left it
    first: list[int] = []
    again: list[int] = []

    def timed_between_batches() -> None:
        t0 = time.perf_counter_ns()
        forward(x)
        t1 = time.perf_counter_ns()
        forward(x)
        first.append(t1 - t0)
        again.append(time.perf_counter_ns() - t1)

    policy.between_batches = timed_between_batches
    engine.run()
    return float(np.median(first)) / 1000, float(np.median(again)) / 1000


def batched(agent: str, n: int = 16384) -> dict[str, float]:
    """The jitted forward pass over ``n`` observations at once (vmap), numpy in and out."""
    import jax
    import jax.numpy as jnp

    settings = load_settings({"session.mode": "production"}, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)
    venues = [v.name for v in settings.venues]  # the set the shipped checkpoints were trained on
    params, _ = load_agent(checkpoint.models_dir(), agent, venues)
    weights = jax.tree.map(jnp.asarray, params if agent == "dqn" else params["actor"])
    inner = q_values if agent == "dqn" else actor_mean
    fwd = jax.jit(jax.vmap(lambda x: inner(weights, x)))
    x = np.random.default_rng(0).normal(size=(n, obs_dim(len(venues)))).astype(np.float32)
    np.asarray(fwd(x))
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        np.asarray(fwd(x))
        best = max(best, n / (time.perf_counter() - t))
    return {"batch": n, "decisions_per_s": best}


def _live_line(label: str, r: dict[str, Any]) -> str:
    inf, dec = r["inference"], r["decision"]
    learned = r["online"] or {}
    return (
        f"  {label}  n {r['n']:>5,}  live decision p50 {inf['p50']:6.1f} p99 {inf['p99']:6.1f}"
        f"  tick-to-order p50 {dec['p50']:6.1f} p99 {dec['p99']:6.1f}  updates {learned.get('updates', 0)}"
        f"  ({r['machine']})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--decisions", type=int, default=10_000)
    ap.add_argument("--wall-s", type=float, default=30.0, help="length of each real-time session")
    ap.add_argument("--sim-s", type=float, default=120.0, help="market seconds of each simulated-clock session")
    ap.add_argument("--live-only", action="store_true", help="only the production-mode sessions")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    agents = [(router, inference) for router in ("dqn", "ppo") for inference in ("numpy", "jit")]
    print(f"simulated clock, production defaults ({args.sim_s:.0f} s of market each), µs "
          "(goal: numpy live decision p99 <= 30)")  # fmt: skip
    sim_runs = [(a, True) for a in agents] + [(("dqn", "numpy"), False), (("ppo", "numpy"), False)]
    for (router, inference), online in sim_runs:
        r = live_session(router, inference, "sim", args.sim_s, online)
        print(_live_line(f"{router:<4}{inference:<6}online {'on ' if online else 'off'}", r))
    print(f"wall clock, production defaults ({args.wall_s:.0f} s each), µs (goal: tick-to-order p99 <= 100)")
    for (router, inference), online in [(a, True) for a in agents] + [(("dqn", "jit"), False)]:
        r = live_session(router, inference, "wall", args.wall_s, online)
        print(_live_line(f"{router:<4}{inference:<6}online {'on ' if online else 'off'}", r))
    if args.live_only:
        return
    print(f"single decision inside a session, busy strategy, µs (>= {args.decisions:,} decisions each)")
    for router, inference in (("dqn", "jit"), ("dqn", "numpy"), ("ppo", "jit"), ("ppo", "numpy"),
                              ("ucb", "numpy"), ("thompson", "numpy")):  # fmt: skip
        r = session(router, inference, args.decisions)
        figures = f"p50 {r['p50']:6.1f}  p95 {r['p95']:6.1f}  p99 {r['p99']:6.1f}"
        print(f"  {router:<9}{inference:<6} n {r['n']:>6,}  {figures}")
    for inference in ("jit", "numpy"):
        cold, warm = cold_forward(inference, 8.0)
        print(f"  dqn {inference:<5} forward pass first thing after the engine wakes: p50 {cold:6.1f}"
              f"  called again at once: p50 {warm:6.1f}")  # fmt: skip
    for agent in ("dqn", "ppo"):
        b = batched(agent)
        print(f"batched {agent} forward (jit, {b['batch']:,} obs): {b['decisions_per_s']:,.0f} decisions/s")
    for agent in ("dqn", "ppo"):
        meta = json.loads((checkpoint.models_dir() / f"{agent}.json").read_text())
        keys = ("env_steps", "env_steps_per_s", "compile_s", "train_s")
        print(f"{agent} training (shipped checkpoint): " + ", ".join(f"{k} {meta.get(k)}" for k in keys))


if __name__ == "__main__":
    main()
