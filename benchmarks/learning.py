"""Learning-router benchmark: single-decision inference inside real sessions (jit and numpy), batched
inference, and the shipped checkpoints' training figures.

    python benchmarks/learning.py [--decisions 10000]

Each session runs the engine on the simulated clock with the DQN or PPO router and a strategy made
busy enough to route at least ``--decisions`` child orders (decisions come back to back: the decision
path stays in the CPU's caches); then real-time sessions on the wall clock, where decisions are
sparse and the path is cold, with online fine-tuning on and off; the router's time per decision is
measured around ``act`` — observation built from the engine's quotes, forward pass, conversion back
to a venue — exactly what ``summary.json``'s ``inference_us`` reports. Bandits are measured the
same way. Batched inference is the forward pass over 16,384 observations at once.
"""

from __future__ import annotations

import argparse
import json
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
    us = np.array(engine.router.inference_ns, dtype=float) / 1000
    return {"n": us.size, **{f"p{q}": float(np.percentile(us, q)) for q in (50, 95, 99)}}


def wall_session(router: str, inference: str, online: bool, seconds: float) -> dict[str, Any]:
    """A real-time session (wall clock): decisions come a few per second, between them the engine
    sleeps and the CPU's caches go cold — the figures an operator's console shows."""
    flags: dict[str, Any] = {
        "session.mode": "production", "session.clock": "wall", "session.seed": 3, "session.router": router,
        "session.inference": inference, "session.duration_s": seconds, "session.online_learning": online,
    }  # fmt: skip
    s = load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)
    from dataclasses import replace

    s = replace(s, strategy=replace(s.strategy, entry_threshold=0.15, exit_threshold=0.05, cooldown_ms=2.0))
    engine = Engine(s, None)
    engine.run()
    out: dict[str, Any] = {"n": len(engine.router.inference_ns)}
    for name, ns in (("inference", engine.router.inference_ns), ("decision", engine.flow.decision_ns)):
        us = np.array(ns, dtype=float) / 1000
        out[name] = {f"p{q}": float(np.percentile(us, q)) for q in (50, 99)}
    out["online"] = engine.router.online_stats()
    return out


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
    forward, x = policy._forward, policy._last_x
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

    venues = ["NYSE", "NASDAQ", "ARCA", "BZX", "EDGX", "IEX"]
    params, _ = load_agent(checkpoint.models_dir(), agent, venues)
    weights = jax.tree.map(jnp.asarray, params if agent == "dqn" else params["actor"])
    inner = q_values if agent == "dqn" else actor_mean
    fwd = jax.jit(jax.vmap(lambda x: inner(weights, x)))
    x = np.random.default_rng(0).normal(size=(n, obs_dim(6))).astype(np.float32)
    np.asarray(fwd(x))
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        np.asarray(fwd(x))
        best = max(best, n / (time.perf_counter() - t))
    return {"batch": n, "decisions_per_s": best}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--decisions", type=int, default=10_000)
    ap.add_argument("--wall-s", type=float, default=30.0, help="length of each real-time session")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"single decision inside a session, µs (>= {args.decisions:,} decisions each)")
    for router, inference in (("dqn", "jit"), ("dqn", "numpy"), ("ppo", "jit"), ("ppo", "numpy"),
                              ("ucb", "numpy"), ("thompson", "numpy")):  # fmt: skip
        r = session(router, inference, args.decisions)
        figures = f"p50 {r['p50']:6.1f}  p95 {r['p95']:6.1f}  p99 {r['p99']:6.1f}"
        print(f"  {router:<9}{inference:<6} n {r['n']:>6,}  {figures}")
    print(f"real-time sessions (wall clock, {args.wall_s:.0f} s each): inference and tick-to-order decision, µs")
    for router, inference, online in (("dqn", "jit", True), ("dqn", "jit", False), ("dqn", "numpy", True),
                                      ("ppo", "jit", True), ("ppo", "numpy", True)):  # fmt: skip
        w = wall_session(router, inference, online, args.wall_s)
        inf, dec = w["inference"], w["decision"]
        learned = w["online"] or {}
        tag = f"online {'on ' if online else 'off'}"
        print(f"  {router:<4}{inference:<6}{tag}  n {w['n']:>5,}  inference p50 {inf['p50']:6.1f} p99 {inf['p99']:6.1f}"
              f"  decision p50 {dec['p50']:6.1f} p99 {dec['p99']:6.1f}"
              f"  updates {learned.get('updates', 0)} (p50 {learned.get('update_ms_p50')} ms)")  # fmt: skip
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
