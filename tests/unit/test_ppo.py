"""PPO router: it learns on a small seeded problem, its numpy mirror equals the jitted forward pass,
``decide`` respects eligibility, and its parameters survive a checkpoint round trip."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hft_console.learn import env, ppo
from hft_console.learn.evaluate import baseline, make_rollout, scenario_params
from hft_console.routing.learned.policy import decide_allocation
from hft_console.routing.models import checkpoint
from hft_console.routing.models.agents import load_agent
from hft_console.routing.models.layout import OBS_VERSION, obs_dim
from hft_console.routing.models.ppo import MIN_FRACTION, actor_mean, decision, logits_np
from hft_console.settings import Settings
from tests.conftest import make_settings

# small enough to compile and run in ~15 s on two cores, large enough to learn the fee ranking
SMALL = ppo.PPOConfig(num_envs=32, num_steps=25, num_updates=24, num_chunks=2, episode_len=50)
STEPS = 50


@pytest.fixture(scope="module")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="module")
def trained(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    done: list[float] = []
    params, meta = ppo.train(settings, SMALL, seed=3, progress=done.append)
    assert done == [0.5, 1.0]
    return params, meta


def _mean_costs(settings: Settings, params: Any) -> dict[str, float]:
    """Deterministic evaluation cost of the agent, random and best-price on the same congested and
    degraded worlds (paired: every router meets the same draws)."""
    base = env.params_from_settings(settings)
    worlds = [scenario_params(base, r, 16, jax.random.key(i)) for i, r in enumerate(("congested", "degraded"))]
    keys = jax.random.split(jax.random.key(9), 16)
    routers = {"agent": ppo.eval_router(params), "random": baseline("random"), "best-price": baseline("best-price")}
    runs = {name: make_rollout(r, STEPS) for name, r in routers.items()}  # one compile per router
    return {
        name: float(np.mean([np.asarray(run(w, keys, s).cost_bps).mean() for w, s in worlds]))
        for name, run in runs.items()
    }


def test_ppo_improves_on_a_small_problem(settings: Settings, trained: tuple[dict[str, Any], dict[str, Any]]) -> None:
    params, meta = trained
    cost = _mean_costs(settings, params)
    # best-price sits ~0.07 bps above the oracle here, random ~0.06: learning the fee/fill ranking is clear
    assert cost["agent"] < cost["random"] - 0.04, cost
    assert cost["agent"] < cost["best-price"] - 0.04, cost
    curve = meta["curve"]
    assert curve[-1]["cost_bps"] < curve[0]["cost_bps"] - 0.01, curve  # and the sampled policy's cost fell
    assert meta["env_steps"] == SMALL.num_envs * SMALL.num_steps * SMALL.num_updates
    assert SMALL.lr_min <= curve[-1]["lr"] <= SMALL.lr_max


def test_numpy_mirror_equals_jit_and_the_live_decision_respects_the_mask(settings: Settings) -> None:
    n = len(settings.venues)
    params = ppo.init_params(jax.random.key(0), n)
    rng = np.random.default_rng(0)
    # a full-scale output layer, so the logits are O(1) and the comparison is not of near-zeros
    last = params["actor"]["Dense_2"]
    params["actor"]["Dense_2"] = {**last, "kernel": jnp.asarray(rng.normal(size=last["kernel"].shape), jnp.float32)}
    params_np = jax.tree.map(np.asarray, params)
    for _ in range(300):
        mask = rng.random(n) < 0.6
        mask[rng.integers(n)] = True
        x = np.concatenate([
            mask.astype(np.float32), rng.uniform(0, 4, n), rng.uniform(0, 4, n), rng.normal(1.5, 1.5, n),
            rng.normal(1.5, 1.5, n),
            rng.normal(1.5, 1.5, n), rng.uniform(0, 0.3, n), rng.uniform(0, 1, n), [rng.uniform(0.1, 5.0), 1.0],
        ]).astype(np.float32)  # fmt: skip
        a, b = np.asarray(actor_mean(params["actor"], x)), logits_np(params_np, x)
        # float32 sums of O(1) terms: a logit near zero carries ~1e-6 absolute rounding, hence the atol
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
        shows = rng.random(n) < 0.8
        for out in (a, rng.normal(0, 30, n + 1).astype(np.float32)):
            for floor in (MIN_FRACTION, 0.25):
                live_mask, live_shows = tuple(bool(m) for m in mask), tuple(bool(x) for x in shows)
                venue, fraction, post = decide_allocation(out.tolist(), live_mask, live_shows, floor)
                assert mask[venue] and floor <= fraction <= 1.0 and (shows[venue] or not post)
                # the jitted mapping training and evaluation use gives the same action
                v, f, p = decision(jnp.asarray(out), jnp.asarray(mask), jnp.asarray(shows), floor)
                assert int(v) == venue and float(f) == pytest.approx(fraction, rel=1e-5) and bool(p) == post


def test_checkpoint_round_trip(
    tmp_path: Path, settings: Settings, trained: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    params, meta = trained
    venues = [v.name for v in settings.venues]
    dim = obs_dim(len(venues))
    for name in ("latency.msgpack", "latency.json"):  # the forecaster it was trained beside
        shutil.copy(checkpoint.models_dir() / name, tmp_path / name)
    checkpoint.save(tmp_path, "ppo", params, {**meta, "venues": venues, "obs_dim": dim}, OBS_VERSION)
    loaded, loaded_meta = load_agent(tmp_path, "ppo", venues)
    assert loaded_meta["config"] == {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL._asdict().items()}
    assert loaded_meta["env_steps"] == meta["env_steps"]
    x = np.asarray(
        env.observe(
            env.reset(jax.random.key(1), env.params_from_settings(settings)), env.params_from_settings(settings)
        )
    )
    for obs in (x, x + np.float32(0.3)):
        loaded_logits, logits = actor_mean(loaded["actor"], obs), actor_mean(params["actor"], obs)
        np.testing.assert_array_equal(np.asarray(loaded_logits), np.asarray(logits))
        np.testing.assert_array_equal(logits_np(loaded, obs), logits_np(params, obs))
    with pytest.raises(checkpoint.CheckpointError):
        load_agent(tmp_path, "ppo", venues[:-1])
