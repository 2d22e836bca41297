"""The environment's dark-pool learner is the router's knowledge (``learn/env_dark.py``): it learns only from
dark takes the pool answered, its feature converges on the pool's true fill share from censored fills, and
each world's dark liquidity is drawn around the configured law without touching lit venues."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hft_console.learn import env, env_dark
from hft_console.learn.evaluate import scenario_params, switch_worlds
from hft_console.routing import dark
from hft_console.routing.models.layout import DARK_LEVELS, obs_dim
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def world() -> tuple[env.EnvParams, int]:
    p = env.params_from_settings(make_settings())
    return p, int(np.argmax(np.asarray(p.dark)))


def dark_block(obs: jax.Array, n: int) -> np.ndarray:
    return np.asarray(obs[7 * n : 8 * n])


def run(p: env.EnvParams, venue: int, post: bool, steps: int, seed: int) -> tuple[env.EnvState, env.StepInfo]:
    def body(s: env.EnvState, k: jax.Array) -> tuple[env.EnvState, env.StepInfo]:
        return env.step(k, s, jnp.int32(venue), jnp.ones(()), p, post)

    key = jax.random.key(seed)
    return jax.lax.scan(body, env.reset(key, p), jax.random.split(key, steps))


def test_the_observation_carries_the_learned_fill_share_and_it_converges_on_the_truth(
    world: tuple[env.EnvParams, int],
) -> None:
    p, d = world
    n = p.dark.shape[0]
    start = env.observe(env.reset(jax.random.key(0), p), p)
    assert start.shape == (obs_dim(n),)
    block = dark_block(start, n)
    assert block[d] == 1.0 and np.all(np.delete(block, d) == 0.0)  # untried: optimistic; lit: 0
    s, info = run(p, d, False, 3000, seed=1)
    learned = dark_block(env.observe(s, p), n)[d]
    truth = float(env.hidden_fill_share(p, p.qty)[d])
    answered = np.asarray(~info.timed_out)
    naive = float(np.asarray(info.filled)[answered].mean() / p.qty)
    assert learned == pytest.approx(truth, abs=0.02)
    # every order counted once (a reject looks answered here but a dark pool rejects 1 in 2000)
    assert float(s.km.at_risk[d, 0]) == pytest.approx(answered.sum(), abs=6)
    assert naive == pytest.approx(truth, abs=0.03)  # whole-parent orders: censoring at q is what KM is told


def test_it_learns_only_from_dark_takes_answered(world: tuple[env.EnvParams, int]) -> None:
    p, d = world
    lit = 0 if d != 0 else 1
    s, _ = run(p, lit, False, 200, seed=2)  # takes at a lit venue
    assert float(jnp.abs(s.km.at_risk).sum()) == 0.0
    s, _ = run(p, lit, True, 50, seed=3)  # posts
    assert float(jnp.abs(s.km.at_risk).sum()) == 0.0
    s, info = run(
        p._replace(outage_rate=p.outage_rate.at[d].set(1e6), reject_prob=p.reject_prob.at[d].set(0.0)), d, False, 50, 4
    )
    assert bool(np.asarray(info.timed_out)[1:].all())  # the pool is out from the first step on
    assert float(s.km.at_risk[d, 0]) <= 1.0


def test_a_smaller_order_reads_the_tail_not_the_whole_parent_mean() -> None:
    truth = dark.model_tail(np.array([1.0, 40.0]), np.array([0.0, 0.5]), DARK_LEVELS)
    rng = np.random.default_rng(0)
    hidden = np.where(rng.random(4000) < 0.5, 0, np.maximum(1, np.round(rng.exponential(40.0, 4000))))
    fills = jnp.asarray(np.minimum(100, hidden), jnp.float32)

    def learn(km: dark.DarkState, fill: jax.Array) -> tuple[dark.DarkState, None]:
        return env_dark.km_learn(km, jnp.int32(1), jnp.float32(100), fill, jnp.bool_(True)), None

    km, _ = jax.jit(lambda f: jax.lax.scan(learn, env_dark.km_start(2), f))(fills)
    for q in (10.0, 50.0, 100.0):
        got = float(env_dark.fill_share_feature(km, jnp.array([0.0, 1.0]), q)[1])
        want = float(dark.expected_fill(truth, q)[1]) / q
        assert got == pytest.approx(want, abs=0.02), q


def test_worlds_vary_dark_liquidity_around_the_configured_law_only(world: tuple[env.EnvParams, int]) -> None:
    p, d = world
    worlds, _ = scenario_params(p, "calm", 4000, jax.random.key(0))
    mean, zero = np.asarray(worlds.hidden_mean), np.asarray(worlds.hidden_zero_prob)
    assert mean[:, d].mean() == pytest.approx(float(p.hidden_mean[d]), rel=0.05)
    assert zero[:, d].mean() == pytest.approx(float(p.hidden_zero_prob[d]), abs=0.02)
    assert zero[:, d].std() > 0.1 and np.all((zero[:, d] >= 0) & (zero[:, d] <= 1))
    assert np.all(np.delete(mean, d, axis=1) == 0) and np.all(np.delete(zero, d, axis=1) == 0)
    before, after, _, _ = switch_worlds(p, 8, seed=1)
    np.testing.assert_array_equal(np.asarray(before.hidden_mean), np.asarray(after.hidden_mean))
