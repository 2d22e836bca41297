"""The DQN router: it learns on a small problem, its numpy forward pass matches the jitted one, greedy
decisions respect eligibility, and it survives a checkpoint round trip."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from hft_console.learn import dqn
from hft_console.learn.env import EnvParams, params_from_settings
from hft_console.learn.evaluate import baseline, make_rollout, scenario_params
from hft_console.routing.learned.policy import decide_q
from hft_console.routing.models import checkpoint
from hft_console.routing.models.agents import load_agent
from hft_console.routing.models.dqn import q_values, q_values_np
from hft_console.routing.models.layout import CHOICES, OBS_VERSION
from hft_console.routing.models.nets import MLP
from hft_console.venues.regimes import REGIMES
from tests.conftest import make_settings

# small enough to train in a few seconds on 2 cores (the compile dominates); 25,600 env steps
SMALL = dqn.DQNConfig(
    num_envs=32, rollout_steps=4, updates_per_chunk=100, chunks=2, batch_size=128, buffer_size=8192,
    learning_starts=1024, target_period=50, eps_fraction=0.5,
)  # fmt: skip


@pytest.fixture(scope="module")
def trained() -> tuple[Any, dict[str, Any], Any]:
    settings = make_settings()
    seen: list[float] = []
    params, meta = dqn.train(settings, SMALL, seed=3, progress=seen.append)
    assert seen == [0.5, 1.0]
    return params, meta, settings


def _greedy_cost(router: Any, base: EnvParams) -> float:
    """Mean cost over the same 24 scenarios x 100 decisions, 8 per regime."""
    run = make_rollout(router, 100)
    costs = []
    for i, regime in enumerate(REGIMES):
        params, start = scenario_params(base, regime, 8, jax.random.key(100 + i))
        costs.append(np.asarray(run(params, jax.random.split(jax.random.key(200 + i), 8), start).cost_bps).mean())
    return float(np.mean(costs))


def test_dqn_learns_a_better_policy_than_random_and_its_init(trained: tuple[Any, dict[str, Any], Any]) -> None:
    params, meta, settings = trained
    assert meta["env_steps"] == 25_600 and meta["learn_steps"] > 0
    assert meta["train_cost_bps_last"] < meta["train_cost_bps_first"]
    base = params_from_settings(settings)
    n_act = len(settings.venues) * len(CHOICES)
    untrained: Any = MLP(SMALL.hidden, n_act).init(jax.random.key(3), np.zeros(meta["obs_dim"], np.float32))
    learned = _greedy_cost(dqn.eval_router(params), base)
    at_init = _greedy_cost(dqn.eval_router(untrained), base)
    random = _greedy_cost(baseline("random"), base)
    oracle = _greedy_cost(baseline("oracle"), base)
    # venue costs differ by hundredths of a bp (fees, fill odds), so the margins are shares of what the
    # oracle gains over the others: a short training closes more than half of each gap
    assert random - learned > 0.5 * (random - oracle), (learned, random, oracle)
    assert at_init - learned > 0.5 * (at_init - oracle), (learned, at_init, oracle)


def test_numpy_forward_matches_jit_and_the_live_decision_respects_eligibility(
    trained: tuple[Any, dict[str, Any], Any],
) -> None:
    params, meta, _ = trained
    rng = np.random.default_rng(0)
    n_ven = len(meta["venues"])
    for _ in range(500):
        obs = rng.normal(0.0, 2.0, meta["obs_dim"]).astype(np.float32)
        mask = rng.random(n_ven) < 0.5
        mask[rng.integers(n_ven)] = True
        obs[:n_ven] = mask
        q_np = q_values_np(params, obs)
        q_jit = np.asarray(q_values(params, obs))
        assert q_np.shape == (n_ven * len(CHOICES),)
        np.testing.assert_allclose(q_np, q_jit, rtol=1e-5, atol=1e-6)
        live_mask = tuple(bool(m) for m in mask)
        shows = tuple(bool(x) for x in rng.random(n_ven) < 0.8)
        venue, fraction, post = decide_q(q_np.tolist(), live_mask, shows, CHOICES)
        assert mask[venue] and (post, fraction) in CHOICES and (shows[venue] or not post)
        # the best Q overall on an ineligible venue must not lure it away
        q_np[np.repeat(~mask, len(CHOICES))] = 1e9
        assert mask[decide_q(q_np.tolist(), live_mask, shows, CHOICES)[0]]
    with pytest.raises(ValueError):
        decide_q([0.0] * (n_ven * len(CHOICES)), (False,) * n_ven, (True,) * n_ven, CHOICES)


def test_checkpoint_round_trip_gives_identical_q_values(
    trained: tuple[Any, dict[str, Any], Any], tmp_path: Path
) -> None:
    params, meta, _ = trained
    assert {"venues", "obs_dim", "config", "env_steps", "compile_s", "train_s"} <= meta.keys()
    for name in ("latency.msgpack", "latency.json"):  # the forecaster it was trained beside
        shutil.copy(checkpoint.models_dir() / name, tmp_path / name)
    checkpoint.save(tmp_path, "dqn", params, meta, OBS_VERSION)
    loaded, loaded_meta = load_agent(tmp_path, "dqn", meta["venues"])
    assert loaded_meta["config"] == meta["config"] and loaded_meta["agent"] == "dqn"
    obs = np.random.default_rng(1).normal(size=(20, meta["obs_dim"])).astype(np.float32)
    for x in obs:
        np.testing.assert_array_equal(np.asarray(q_values(loaded, x)), np.asarray(q_values(params, x)))
        np.testing.assert_array_equal(q_values_np(loaded, x), q_values_np(params, x))
    with pytest.raises(checkpoint.CheckpointError):
        load_agent(tmp_path, "dqn", meta["venues"][::-1])
