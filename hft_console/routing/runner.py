"""Runs the active routing policy inside the engine and keeps per-router statistics for display."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from hft_console.rng_buffer import Draws
from hft_console.routing.policy import Observation, PolicySpec, Transition
from hft_console.routing.registry import FALLBACK_ROUTER, make_policy


class RouterStats:
    def __init__(self, n_venues: int, recent: int = 200) -> None:
        self.decisions = 0
        self.pulls = [0] * n_venues
        self.reward_sum = [0.0] * n_venues
        self.rewarded = [0] * n_venues
        self.recent: deque[int] = deque(maxlen=recent)

    def mean_reward(self) -> list[float | None]:
        return [s / n if n else None for s, n in zip(self.reward_sum, self.rewarded, strict=True)]

    def recent_share(self, n_venues: int) -> list[float]:
        total = len(self.recent)
        counts = [0] * n_venues
        for v in self.recent:
            counts[v] += 1
        return [c / total if total else 0.0 for c in counts]


class RouterRunner:
    def __init__(self, name: str, spec: PolicySpec, draws: Draws, seed: int) -> None:
        self.spec, self.draws, self.seed = spec, draws, seed
        self.stats: dict[str, RouterStats] = {}
        self.inference_ns: list[int] = []
        self.name = ""
        self.state: Any = None
        self.warnings: list[str] = []
        self.switch(name)

    def switch(self, name: str, measured: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> None:
        """Make ``name`` the active router. A learned router whose checkpoint cannot be used is
        replaced by the fallback router, with a warning in ``warnings`` (never a crash). ``measured``:
        the session's round-trip EWMA and latest round trip per venue, for a router switched to
        mid-session."""
        from hft_console.learn.checkpoint import CheckpointError

        try:
            policy = make_policy(name)
            state = policy.init(self.seed, self.spec)
        except CheckpointError as exc:
            self.warnings.append(f"router {name}: {exc}; routing with {FALLBACK_ROUTER} instead")
            name = FALLBACK_ROUTER
            policy = make_policy(name)
            state = policy.init(self.seed, self.spec)
        seed = getattr(policy, "seed_latency", None)
        if measured is not None and seed is not None:
            seed(*measured)
        if getattr(self, "policy", None) is not None:
            self.close()
        self.policy, self.state, self.name = policy, state, name
        self.stats.setdefault(name, RouterStats(len(self.spec.venues)))

    def warm(self) -> None:
        """Keep a learned router's decision path in the caches between sparse decisions."""
        warm = getattr(self.policy, "warm", None)
        if warm is not None:
            warm()

    def close(self) -> None:
        """Stop the active policy's background learning, if any."""
        close = getattr(self.policy, "close", None)
        if close is not None:
            close()

    def online_stats(self) -> dict[str, Any] | None:
        """The learned router's online fine-tuning figures, or None (off, or another router)."""
        stats = getattr(self.policy, "online_stats", None)
        return stats() if stats is not None else None

    @property
    def backend(self) -> str:
        """What computes the decisions: ``jit`` or ``numpy`` for a learned router, else ``numpy``."""
        return str(getattr(self.policy, "backend", "numpy"))

    @property
    def decisions(self) -> int:
        return self.stats[self.name].decisions

    def choose(self, obs: Observation) -> tuple[int, float]:
        """The venue and the share of the remaining quantity to send there. ``obs.decision`` must be
        ``self.decisions`` (round-robin turns on it)."""
        stats = self.stats[self.name]
        key = self.draws.uniform()
        started = time.perf_counter_ns()
        action = self.policy.act(self.state, obs, key)
        self.inference_ns.append(time.perf_counter_ns() - started)
        venue, fraction = action if isinstance(action, tuple) else (action, 1.0)
        stats.decisions += 1
        stats.pulls[venue] += 1
        stats.recent.append(venue)
        return venue, fraction

    def learn(self, router: str, transition: Transition) -> None:
        stats = self.stats[router]
        stats.reward_sum[transition.venue] += transition.reward
        stats.rewarded[transition.venue] += 1
        record = getattr(self.policy, "record_answer", None)
        if record is not None:
            record(transition.venue, transition.latency_us)
        if router == self.name:
            self.state = self.policy.update(self.state, transition)
