"""``train --seeds N``: every seed's checkpoint is written, and ``evaluate`` runs them together."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from hft_console.cli import learn as command
from hft_console.learn import dqn, runs
from hft_console.learn.env import params_from_settings
from hft_console.learn.evaluate import SeedSet, make_rollout, make_seed_rollout, pool_seeds, regime_worlds, seed_spread
from hft_console.routing.models import checkpoint, latency
from hft_console.routing.models.agents import load_agent, seed_names, stack
from tests.conftest import make_settings
from tests.integration.test_learning_cli import SHIPPED, fake_training


def perturbed(params: Any, seed: int) -> Any:
    """The shipped network, nudged per seed: seeds that decide a little differently."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: np.asarray(x) + rng.normal(0, 0.05, np.shape(x)).astype(np.float32), params)


def test_train_seeds_writes_each_seed_and_evaluate_loads_them_as_one_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_training(monkeypatch)
    venues = [v.name for v in make_settings().venues]
    shipped, _ = load_agent(SHIPPED, "dqn", venues)
    seen: list[int] = []

    def train(settings: Any, seed: int = 0, progress: Any = None, predictor: Any = None) -> Any:
        seen.append(seed)
        return perturbed(shipped, seed), {"latency_fingerprint": latency.fingerprint(predictor), "env_steps": 0}

    monkeypatch.setattr(dqn, "train", train)
    out = tmp_path / "models"
    out.mkdir()
    shutil.copy(SHIPPED / "latency.msgpack", out)
    shutil.copy(SHIPPED / "latency.json", out)
    (out / "dqn.seed99.msgpack").write_bytes(b"stale")  # an earlier training's extra seed: replaced
    (out / "dqn.seed99.json").write_text("{}")
    assert command.train_main(["--agent", "dqn", "--seeds", "3", "--seed", "5", "--out", str(out)]) == 0
    assert seen == [5, 6, 7]
    assert seed_names(out, "dqn") == ["dqn.seed6", "dqn.seed7"]
    printed = capsys.readouterr().out
    assert "dqn.seed7: saved" in printed
    monkeypatch.setenv("HFT_MODELS_DIR", str(out))
    assert checkpoint.models_dir() == out
    routers, warnings, _ = runs.eval_routers(make_settings(), 200)
    assert isinstance(routers["dqn"], SeedSet) and routers["dqn"].seeds == [5, 6, 7]
    assert [w for w in warnings if w.startswith("dqn")] == []
    # retrained with one seed, the extra ones go: they were another training's
    assert command.train_main(["--agent", "dqn", "--seed", "5", "--out", str(out)]) == 0
    assert seed_names(out, "dqn") == []
    routers, _, _ = runs.eval_routers(make_settings(), 200)
    assert not isinstance(routers["dqn"], SeedSet)


def test_seeds_meet_the_same_worlds_and_pool_into_each_scenarios_mean() -> None:
    venues = [v.name for v in make_settings().venues]
    shipped, _ = load_agent(SHIPPED, "dqn", venues)
    seeds = [perturbed(shipped, s) for s in (1, 2)]
    agent = SeedSet(dqn.eval_router, stack(seeds), [1, 2])
    world, keys, start = regime_worlds(params_from_settings(make_settings()), 4, 0)["calm"]
    both = make_seed_rollout(agent, 30)(world, keys, start)
    assert np.asarray(both.cost_bps).shape == (2, 4, 30)
    for i, params in enumerate(seeds):  # each seed as if evaluated alone
        alone = make_rollout(dqn.eval_router(params), 30)(world, keys, start)
        np.testing.assert_allclose(np.asarray(both.cost_bps[i]), np.asarray(alone.cost_bps), rtol=1e-5, atol=1e-6)
    pooled = pool_seeds(both)
    per_scenario = np.asarray(pooled.cost_bps).mean(axis=1)
    np.testing.assert_allclose(per_scenario, np.asarray(both.cost_bps).mean(axis=(0, 2)), rtol=1e-5)
    means = np.asarray(both.cost_bps, dtype=np.float64).mean(axis=(1, 2))
    assert seed_spread(both) == pytest.approx(float(np.std(means, ddof=1)))
