"""Runs the active routing policy inside the engine and keeps per-router statistics for display."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from hft_console.rng_buffer import Draws
from hft_console.routing.policy import Observation, PolicySpec, Transition
from hft_console.routing.registry import make_policy


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
        self.switch(name)

    def switch(self, name: str) -> None:
        self.policy = make_policy(name)
        self.state = self.policy.init(self.seed, self.spec)
        self.name = name
        self.stats.setdefault(name, RouterStats(len(self.spec.venues)))

    @property
    def decisions(self) -> int:
        return self.stats[self.name].decisions

    def choose(self, obs: Observation) -> int:
        """``obs.decision`` must be ``self.decisions`` (round-robin turns on it)."""
        stats = self.stats[self.name]
        key = self.draws.uniform()
        started = time.perf_counter_ns()
        venue = self.policy.act(self.state, obs, key)
        self.inference_ns.append(time.perf_counter_ns() - started)
        stats.decisions += 1
        stats.pulls[venue] += 1
        stats.recent.append(venue)
        return venue

    def learn(self, router: str, transition: Transition) -> None:
        stats = self.stats[router]
        stats.reward_sum[transition.venue] += transition.reward
        stats.rewarded[transition.venue] += 1
        if router == self.name:
            self.state = self.policy.update(self.state, transition)
