"""Router names as the command line and the config know them."""

from __future__ import annotations

from hft_console.routing.bandits import BANDIT_POLICIES, BanditPolicy
from hft_console.routing.baselines import BestPrice, LowestFee, LowestLatency, RoundRobin, UniformRandom
from hft_console.routing.dark_router import DarkKM
from hft_console.routing.learned.policy import LEARNED_NAMES, LearnedPolicy
from hft_console.routing.policy import Policy

_BASELINE_CLASSES = (BestPrice, LowestLatency, LowestFee, RoundRobin, UniformRandom)
_BASELINES: dict[str, type] = {cls.name: cls for cls in _BASELINE_CLASSES}
_BANDIT_CLASSES: tuple[type[BanditPolicy] | type[DarkKM], ...] = (*BANDIT_POLICIES, DarkKM)
_BANDITS: dict[str, type] = {cls.name: cls for cls in _BANDIT_CLASSES}
BASELINE_NAMES: tuple[str, ...] = tuple(_BASELINES)
# the bandits, and dark-km: UCB over the lit venues with the dark pools priced by a censored-fill learner
BANDIT_ROUTER_NAMES: tuple[str, ...] = tuple(_BANDITS)
ROUTER_NAMES: tuple[str, ...] = (*BASELINE_NAMES, *BANDIT_ROUTER_NAMES, *LEARNED_NAMES)
# when a learned router's checkpoint cannot be used: a bandit that adapts when venues change regime
FALLBACK_ROUTER = "thompson-discounted"


def make_policy(name: str) -> Policy:
    """A fresh, uninitialised policy for a router name; ``ValueError`` for an unknown name."""
    if name in LEARNED_NAMES:
        return LearnedPolicy(name)
    cls = _BASELINES.get(name) or _BANDITS.get(name)
    if cls is None:
        raise ValueError(f"unknown router {name!r}: expected one of {', '.join(ROUTER_NAMES)}")
    policy: Policy = cls()
    return policy
