"""Router names as the command line and the config know them."""

from __future__ import annotations

from hft_console.routing.baselines import BestPrice, LowestFee, LowestLatency, RoundRobin, UniformRandom
from hft_console.routing.policy import Policy

_POLICIES: dict[str, type] = {cls.name: cls for cls in (BestPrice, LowestLatency, LowestFee, RoundRobin, UniformRandom)}
ROUTER_NAMES: tuple[str, ...] = tuple(_POLICIES)


def make_policy(name: str) -> Policy:
    try:
        policy: Policy = _POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown router {name!r}: expected one of {', '.join(ROUTER_NAMES)}") from None
    return policy
