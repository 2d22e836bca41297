"""The agents' training reward (``StepInfo.expected_bps``) is the realised cost without the luck of the
draw: averaged over many draws from the same states, the two agree, for takes and for posts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hft_console.learn import env
from tests.conftest import make_settings


@pytest.mark.parametrize("post", [False, True], ids=["take", "post"])
def test_the_expected_cost_is_the_mean_of_the_realised_costs(post: bool) -> None:
    p = env.params_from_settings(make_settings(session__mode="production"))
    names = [v.name for v in make_settings().venues]
    states = jax.vmap(lambda k: env.reset(k, p))(jax.random.split(jax.random.key(0), 64))
    states = states._replace(eligible=jnp.ones_like(states.eligible))  # every venue at the touch
    for venue in (names.index("NASDAQ"), names.index("BX")):
        # the same 64 states, each stepped 256 times with other draws
        def draws(s: env.EnvState, k: jax.Array, v: int = venue) -> tuple[jax.Array, jax.Array]:
            keys = jax.random.split(k, 256)
            _, info = jax.vmap(lambda kk: env.step(kk, s, jnp.int32(v), jnp.ones(()), p, post))(keys)
            return info.cost_bps, info.expected_bps

        cost, expected = jax.jit(jax.vmap(draws))(states, jax.random.split(jax.random.key(1), 64))
        cost, expected = np.asarray(cost, np.float64), np.asarray(expected, np.float64)
        assert np.allclose(expected, expected[:, :1])  # one figure per state: no draw in it
        # 16,384 draws: the mean's standard error is ~0.01 bps for a post (fills and misses 2 bps apart)
        assert abs(cost.mean() - expected.mean()) < 0.03, (names[venue], cost.mean(), expected.mean())
