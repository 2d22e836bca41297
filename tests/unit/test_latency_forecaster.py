"""The latency forecaster: the live numpy forecaster equals the environment's, online SGD in a batch
equals SGD per answer, pretrained weights beat the EWMA, and agents refuse another forecaster."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hft_console.learn import env
from hft_console.learn.latency_train import error_report
from hft_console.routing.learned.forecast import LatencyForecaster
from hft_console.routing.models import checkpoint, latency
from hft_console.routing.models.agents import load_agent
from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.layout import OBS_VERSION
from tests.conftest import make_settings

PRIOR = np.array([300.0, 250.0, 900.0, 400.0], dtype=np.float32)
# The environment runs ``record`` traced inside its jitted step; called eagerly, each of its few dozen
# operations is a separate dispatch, and a few hundred answers took half a minute on a loaded machine.
record = jax.jit(latency.record, static_argnames=("lr",))


def _answers(n: int, seed: int = 3) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        v = int(rng.integers(len(PRIOR)))
        rt = float(PRIOR[v] * np.exp(0.4 * rng.normal()) * (8.0 if rng.random() < 0.05 else 1.0))
        out.append((v, rt))
    return out


def sgd_steps(params: Params, venues: jax.Array, x: jax.Array, y: jax.Array) -> Params:
    """``latency.record``'s weight updates for a sequence of answers, in order, none of them padding."""
    return latency.sgd_steps_masked(params, venues, x, y, jnp.ones(jnp.shape(venues), jnp.float32))


def _trained_like() -> dict:
    """Weights that answer something other than 0 (an untrained net is the EWMA, which proves little)."""
    shared = latency.init_shared(jax.random.key(5))
    return jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(6), x.shape), shared)


def test_the_live_forecaster_equals_the_environments_with_the_same_weights() -> None:
    shared = _trained_like()
    fc = latency.start(shared, jnp.asarray(PRIOR))
    live = LatencyForecaster(latency.numpy_params(shared), PRIOR.tolist())
    np.testing.assert_allclose(live.forecast, np.asarray(fc.forecast_us), rtol=1e-5)
    for v, rt in _answers(300):
        fc = record(fc, jnp.asarray(v), jnp.asarray(rt, jnp.float32), jnp.asarray(PRIOR), lr=0.0)
        live.record(v, rt)
    np.testing.assert_allclose(live.forecast, np.asarray(fc.forecast_us), rtol=1e-4)
    np.testing.assert_allclose(live.ewma, np.asarray(fc.ewma_us), rtol=1e-4)


def test_batched_sgd_equals_a_step_per_answer() -> None:
    shared = _trained_like()
    fc = latency.start(shared, jnp.asarray(PRIOR))
    live = LatencyForecaster(latency.numpy_params(shared), PRIOR.tolist(), keep_examples=True)
    for v, rt in _answers(200):
        fc = record(fc, jnp.asarray(v), jnp.asarray(rt, jnp.float32), jnp.asarray(PRIOR))
        live.record(v, rt)
    assert live.examples is not None and len(live.examples) == 200
    venues, x, y = zip(*live.examples, strict=True)
    batched = sgd_steps(latency.stacked(shared, len(PRIOR)), jnp.asarray(venues), jnp.asarray(x), jnp.asarray(y))
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(fc.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    start = latency.stacked(shared, len(PRIOR))
    moved = [float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in
             zip(jax.tree.leaves(batched), jax.tree.leaves(start), strict=True)]  # fmt: skip
    assert max(moved) > 1e-4  # the online steps did change the weights


def test_new_weights_are_taken_up_at_the_next_answer() -> None:
    live = LatencyForecaster(latency.numpy_params(latency.untrained()), PRIOR.tolist())
    assert live.forecast == pytest.approx(PRIOR.tolist())  # untrained: the forecast is the EWMA
    other = latency.numpy_params(latency.stacked(_trained_like(), len(PRIOR)))
    live.publish(other)
    before = list(live.forecast)
    live.record(0, 300.0)
    assert live.forecast[1] != pytest.approx(before[1])  # every venue refreshed with the new weights


def test_pretrained_forecaster_beats_the_ewma_where_latency_moves() -> None:
    s = make_settings()
    report = latency.shared_weights()  # the shipped weights
    world = env.params_from_settings(s, predictor=report)

    rows = error_report(world, scenarios=16, steps=200, seed=11)
    for regime in ("congested", "degraded"):
        assert rows[regime]["forecaster"]["mae_log"] < rows[regime]["ewma"]["mae_log"]
        assert rows[regime]["forecaster"]["mae_us"] < rows[regime]["ewma"]["mae_us"]


def test_an_agent_trained_with_another_forecaster_is_refused(tmp_path: Path) -> None:
    models = checkpoint.models_dir()
    for name in ("dqn.msgpack", "dqn.json", "latency.msgpack", "latency.json"):
        shutil.copy(models / name, tmp_path / name)
    venues = json.loads((tmp_path / "dqn.json").read_text())["venues"]
    load_agent(tmp_path, "dqn", venues)  # as shipped: fine
    checkpoint.save(tmp_path, "latency", latency.numpy_params(_trained_like()), {"venues": venues}, OBS_VERSION)
    with pytest.raises(checkpoint.CheckpointError, match="latency forecaster"):
        load_agent(tmp_path, "dqn", venues)
