"""``evaluate`` and ``train`` on a real local Ray instance give what they give in this process: the
same report (every figure but timings) and bit-identical trained parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from hft_console.compute.executor import Executor
from hft_console.learn import dqn, runs, sweep
from hft_console.routing.models import latency
from tests.conftest import make_settings

pytest.importorskip("ray")

TINY = dqn.DQNConfig(
    hidden=(16,), num_envs=8, rollout_steps=2, updates_per_chunk=20, chunks=2, batch_size=32, buffer_size=1024,
    learning_starts=64, target_period=10, episode_len=20,
)  # fmt: skip
TIMINGS = {"wall_s", "executor", "init_s", "compile_s", "train_s", "env_steps_per_s"}


def _plain(x: Any) -> Any:
    """A report with arrays as lists and timings dropped, for ==."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if k not in TIMINGS}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def test_an_evaluation_job_gives_the_same_figures_on_ray(ray_ex: Executor) -> None:
    """DQN over its shipped seeds (the heaviest job: every seed vmapped, regimes and the switch family)
    in this process and as a Ray task; ``test_learning_cli`` runs the whole evaluation on Ray."""
    settings = make_settings()
    agents, _ = runs.load_agents(settings)
    job = (settings, "dqn", agents, 3, 12, 5, True)
    here = runs.evaluate_one(job)
    (there,) = ray_ex.run(runs.evaluate_one, [(settings, "dqn", ray_ex.share(agents), 3, 12, 5, True)])
    assert _plain(there) == _plain(here)
    assert set(here["regimes"]) == {"calm", "congested", "degraded"} and len(here["switch"][0]) == 3
    assert here["regimes"]["calm"]["seeds"]["seeds"] == [s for s, _ in agents["dqn"]]


def test_a_training_seed_on_ray_gives_the_same_parameters(ray_ex: Executor) -> None:
    settings = make_settings()
    predictor = jax.tree.map(np.asarray, latency.shared_weights())
    job = (settings, "dqn", 3, predictor, None, 12, TINY)
    params, meta, evaluation = runs.train_one(job)
    (remote,) = ray_ex.run(runs.train_one, [(settings, "dqn", 3, ray_ex.share(predictor), None, 12, TINY)])
    assert evaluation == {} and remote[2] == {}
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(remote[0]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert _plain(remote[1]) == _plain(meta) and meta["env_steps"] == TINY.env_steps


def test_a_sweep_stops_poor_trials_early_and_writes_the_best_configuration(ray_ex: Executor, tmp_path: Path) -> None:
    base = TINY._replace(chunks=4)
    predictor = jax.tree.map(np.asarray, latency.shared_weights())
    # Two trials, one per CPU of the instance, run side by side (a third waited for a CPU and doubled the
    # test's time); two are enough for ASHA to stop one: the later of two trials at a rung stops when it
    # is the worse, and the first at each rung goes on, so one always finishes.
    result = sweep.run_sweep(make_settings(), 2, 7, predictor, tmp_path, base=base, steps=12, eval_scenarios=3)
    written = (tmp_path / "dqn.sweep.json").read_text()
    assert '"best"' in written and len(result["trials"]) == 2
    finished = [t for t in result["trials"] if t["regret_bps"] is not None]
    assert finished and all(t["error"] is None for t in result["trials"])
    assert result["best_regret_bps"] == min(t["regret_bps"] for t in finished)
    assert set(sweep.SPACE) <= set(result["best"]) and result["best"]["chunks"] == 4
    # every trial was stopped or finished, and a stopped one trained fewer chunks than the finished ones
    for t in result["trials"]:
        assert t["stopped_early"] == (t["regret_bps"] is None)
        assert t["chunks_trained"] < 4 if t["stopped_early"] else t["chunks_trained"] == 4
