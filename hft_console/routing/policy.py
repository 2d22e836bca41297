"""The one policy interface every router implements, baselines and learners alike.

``init(key, spec) -> state``, ``act(state, obs, key) -> venue``, ``update(state, transition) -> state``
are pure functions over explicit state, so the same code can run per decision in the engine and, for
the learners, under jit/vmap in a vectorised environment. ``key`` is host-side randomness: a uniform
draw in [0, 1) for the numpy policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np


@dataclass(frozen=True)
class PolicySpec:
    venues: tuple[str, ...]
    taker_fee: np.ndarray  # $ per share
    prior_latency_us: np.ndarray  # expected round trip before any is measured
    tick: float = 0.01
    inference: str = "numpy"  # learned routers: "jit" (the jitted JAX policy) or "numpy" (same parameters)
    parent_qty: float = 100.0  # the strategy's order size: the learned routers were trained on parents of it
    learning: str = "inline"  # where learned routers' online learning runs: "thread" (wall clock) or "inline"
    fine_tune: bool = False  # DQN/PPO weights learn in the session (their latency forecaster always does)
    explore: float = 0.0  # with fine-tuning: the share of decisions that explore
    dark: tuple[bool, ...] = ()  # per venue: a dark pool (kind "dark"); () = none is
    miss_penalty_ticks: float = 2.0  # what a share that did not fill costs (market.miss_penalty_ticks), ticks


class Observation(NamedTuple):
    """Per-venue fields are tuples in venue order: cheap to build per decision; array policies
    convert them with ``np.asarray``."""

    side: int  # +1 buy, -1 sell
    qty: int  # shares still to route for this parent
    price: tuple[float, ...]  # displayed price on the side we take, per venue
    size: tuple[int, ...]  # displayed size there
    latency_us: tuple[float, ...]  # expected round trip (measured EWMA)
    fee: tuple[float, ...]  # taker fee, $ per share
    mask: tuple[bool, ...]  # venues this child may go to
    mid: float  # consolidated mid at decision
    decision: int  # how many decisions this router has made before this one
    last_rt_us: tuple[float, ...] = ()  # the latest round trip per venue (timeouts included)
    near_size: tuple[int, ...] = ()  # displayed size at our side's touch per venue (where a post joins; 0: dark)


class Transition(NamedTuple):
    venue: int
    qty: int
    filled: int
    cost_bps: float  # shortfall against the decision mid, fees and missed shares included
    latency_us: float  # round trip
    reward: float  # -cost_bps
    decision: int = -1  # the router's decision number (``Observation.decision``) that sent the order
    answered: bool = True  # the venue answered (False: a timeout or a reject, which says nothing of its liquidity)


# a venue; or a venue and the share of the remaining quantity to send; or also whether to post it there (a
# POST_ONLY at our side's touch, cancelled after the strategy's time to live) rather than take
Action = int | tuple[int, float] | tuple[int, float, bool]


class Policy(Protocol):
    name: str

    def init(self, key: int, spec: PolicySpec) -> Any: ...

    def act(self, state: Any, obs: Observation, key: float) -> Action: ...

    def update(self, state: Any, transition: Transition) -> Any: ...

    def arm_stats(self, state: Any) -> dict[str, list[float]] | None: ...


def eligible(obs: Observation) -> list[int]:
    return [v for v, ok in enumerate(obs.mask) if ok]
