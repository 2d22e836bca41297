"""The classic smart-order-router baselines. They do not learn: ``update`` returns the state as is.

Plain Python over a handful of venues: cheaper per decision than numpy on arrays this small.
"""

from __future__ import annotations

from typing import Any

from hft_console.routing.policy import Observation, PolicySpec, Transition, eligible


class _Baseline:
    name = ""

    def init(self, key: int, spec: PolicySpec) -> Any:
        return None

    def update(self, state: Any, transition: Transition) -> Any:
        return state

    def arm_stats(self, state: Any) -> dict[str, list[float]] | None:
        return None


class BestPrice(_Baseline):
    """Best displayed price; ties go to the larger displayed size, then the lower expected latency."""

    name = "best-price"

    def act(self, state: Any, obs: Observation, key: float) -> int:
        side, price, size, latency = obs.side, obs.price, obs.size, obs.latency_us
        return min(eligible(obs), key=lambda v: (side * price[v], -size[v], latency[v]))


class LowestLatency(_Baseline):
    """Lowest expected round trip, as measured so far (prior: the configured latency model)."""

    name = "lowest-latency"

    def act(self, state: Any, obs: Observation, key: float) -> int:
        return min(eligible(obs), key=obs.latency_us.__getitem__)


class LowestFee(_Baseline):
    """Cheapest taker fee; ties go to the better displayed price."""

    name = "lowest-fee"

    def act(self, state: Any, obs: Observation, key: float) -> int:
        side, price, fee = obs.side, obs.price, obs.fee
        return min(eligible(obs), key=lambda v: (fee[v], side * price[v]))


class RoundRobin(_Baseline):
    """Venues in turn, skipping those not eligible for this child."""

    name = "round-robin"

    def act(self, state: Any, obs: Observation, key: float) -> int:
        n = len(obs.mask)
        for step in range(n):
            venue = (obs.decision + step) % n
            if obs.mask[venue]:
                return venue
        raise ValueError("no eligible venue")


class UniformRandom(_Baseline):
    """Any eligible venue, uniformly."""

    name = "random"

    def act(self, state: Any, obs: Observation, key: float) -> int:
        idx = eligible(obs)
        return idx[min(int(key * len(idx)), len(idx) - 1)]
