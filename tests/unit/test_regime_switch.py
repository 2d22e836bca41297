"""The regime-switch family of ``evaluate``: a world that changes mid-scenario (learn/evaluate.py)."""

from __future__ import annotations

import jax
import numpy as np

from hft_console.learn import env
from hft_console.learn.evaluate import (
    bandit_router,
    baseline,
    make_rollout,
    make_switch_rollout,
    regret_after_switch,
    switch_halves,
    switch_worlds,
)  # fmt: skip
from tests.conftest import make_settings


def test_a_switch_to_the_same_world_changes_nothing_and_the_fee_favourite_degrades() -> None:
    settings = make_settings()
    base = env.params_from_settings(settings)
    before, after, keys, start = switch_worlds(base, 6, seed=3)
    cheapest = int(np.argmin(np.asarray(base.taker_fee)))
    assert settings.venues[cheapest].kind == "inverted"  # the fee favourite is the one that degrades
    assert float(after.median_us[0, cheapest]) > 4 * float(before.median_us[0, cheapest])
    router = baseline("lowest-fee")
    plain = make_rollout(router, 60)(before, keys, start)
    same = make_switch_rollout(router, 60, 30)(before, before, keys, start)
    assert np.array_equal(np.asarray(plain.cost_bps), np.asarray(same.cost_bps))


def test_a_fixed_fee_rule_pays_for_the_switch_and_a_learner_recovers_some() -> None:
    base = env.params_from_settings(make_settings())
    before, after, keys, start = switch_worlds(base, 12, seed=5)
    routers = {
        "oracle": baseline("oracle"),
        "lowest-fee": baseline("lowest-fee"),
        "thompson-discounted": bandit_router("thompson-discounted", len(base.taker_fee)),
    }
    run = {name: make_switch_rollout(r, 400, 200)(before, after, keys, start) for name, r in routers.items()}
    halves = {name: switch_halves(r, 200) for name, r in run.items()}
    fee = regret_after_switch(halves["lowest-fee"], halves["oracle"])
    learner = regret_after_switch(halves["thompson-discounted"], halves["oracle"])
    assert fee["regret_rise_bps"] > 0.1  # it keeps sending to the venue that went bad
    assert learner["regret_rise_bps"] < fee["regret_rise_bps"] / 3
    oracle = regret_after_switch(halves["oracle"], halves["oracle"])
    assert oracle["regret_after_bps"] == oracle["regret_before_bps"] == 0.0
    assert jax.numpy.asarray(run["oracle"].cost_bps).shape == (12, 400)
