"""Phase 2: routing policies behind one interface."""

from hft_console.routing.policy import Observation, Policy, PolicySpec, Transition
from hft_console.routing.registry import ROUTER_NAMES, make_policy

__all__ = ["ROUTER_NAMES", "Observation", "Policy", "PolicySpec", "Transition", "make_policy"]
