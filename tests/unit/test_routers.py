from __future__ import annotations

import pytest

from hft_console.routing import Observation, make_policy
from hft_console.routing.policy import PolicySpec

SPEC = PolicySpec(("A", "B", "C", "D"), taker_fee=(0.003, 0.003, 0.0009, 0.003), prior_latency_us=(400, 80, 700, 90))  # type: ignore[arg-type]


def obs(side: int = 1, mask: tuple[bool, ...] = (True, True, True, True), decision: int = 0) -> Observation:
    return Observation(
        side=side, qty=100, price=(100.02, 100.01, 100.01, 100.01) if side > 0 else (99.99, 99.99, 100.00, 99.98),
        size=(500, 200, 300, 300), latency_us=(400.0, 80.0, 700.0, 90.0), fee=SPEC.taker_fee, mask=mask, mid=100.0,
        decision=decision,
    )  # fmt: skip


def choose(name: str, o: Observation, key: float = 0.5) -> int:
    policy = make_policy(name)
    return policy.act(policy.init(0, SPEC), o, key)


def test_best_price_breaks_ties_by_size_then_latency() -> None:
    assert choose("best-price", obs()) == 3  # C and D tie on price and size; D is faster
    assert choose("best-price", obs(mask=(True, True, True, False))) == 2  # C shows more than B
    assert choose("best-price", obs(side=-1)) == 2


def test_lowest_latency_and_lowest_fee() -> None:
    assert choose("lowest-latency", obs()) == 1
    assert choose("lowest-latency", obs(mask=(True, False, True, True))) == 3
    assert choose("lowest-fee", obs()) == 2
    assert choose("lowest-fee", obs(mask=(True, True, False, True))) == 1


def test_round_robin_turns_and_skips_ineligible() -> None:
    picks = [choose("round-robin", obs(decision=d)) for d in range(5)]
    assert picks == [0, 1, 2, 3, 0]
    assert choose("round-robin", obs(mask=(False, False, True, False), decision=0)) == 2


def test_random_uses_its_key_over_eligible_venues_only() -> None:
    mask = (False, True, False, True)
    assert {choose("random", obs(mask=mask), key) for key in (0.0, 0.49, 0.5, 0.999)} == {1, 3}


def test_unknown_router() -> None:
    with pytest.raises(ValueError, match="unknown router"):
        make_policy("nosuch")
