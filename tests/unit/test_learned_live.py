"""The live learned-router path (plain Python observation and decision) equals the training side."""

from __future__ import annotations

import jax
import numpy as np

from hft_console.learn import dqn, ppo
from hft_console.learn import env as E
from hft_console.routing.learned.policy import LearnedPolicy, decide_allocation, decide_q
from hft_console.routing.policy import Observation, PolicySpec
from tests.conftest import make_settings

VENUES = ("NYSE", "NASDAQ", "ARCA", "BZX", "EDGX", "IEX")


def test_plain_python_decisions_equal_the_agents_decide() -> None:
    rng = np.random.default_rng(1)
    for _ in range(2000):
        mask = rng.random(6) < 0.5
        mask[rng.integers(6)] = True
        q = rng.normal(size=12).astype(np.float32)
        logits = rng.normal(size=6).astype(np.float32)
        assert decide_q(q.tolist(), tuple(mask), E.SIZE_FRACTIONS) == dqn.decide(q, mask)
        v, f = decide_allocation(logits.tolist(), tuple(mask), 0.25)
        v2, f2 = ppo.decide(logits, mask, 0.25)
        assert v == v2 and abs(f - f2) < 1e-6


def test_the_live_observation_is_the_environments() -> None:
    s = make_settings()
    p = E.params_from_settings(s)
    prior = np.asarray(p.prior_rt_us, dtype=np.float64)
    spec = PolicySpec(VENUES, np.array([v.taker_fee for v in s.venue_specs()]), prior, tick=p.tick)
    policy = LearnedPolicy("ppo")
    policy.init(0, spec)
    seen: list[np.ndarray] = []
    inner = policy._forward_list
    assert inner is not None
    policy._forward_list = lambda x: seen.append(x) or inner(x)  # type: ignore[func-returns-value]
    state = E.reset(jax.random.key(0), p)
    mask = tuple(bool(m) for m in np.asarray(state.eligible))
    size = tuple(int(x) for x in np.asarray(state.size))
    ewma = tuple(float(x) for x in np.asarray(state.ewma_us))
    obs = Observation(1, int(p.qty), (1.0,) * 6, size, ewma, (0.0,) * 6, mask, 100.0, 0, ewma)
    policy.act(None, obs, 0.5)
    np.testing.assert_allclose(seen[0], np.asarray(E.observe(state, p)), rtol=1e-6, atol=1e-6)


def test_a_session_without_a_learned_router_does_not_import_jax() -> None:
    """JAX and Flax take most of a second to import: backtest workers and baseline sessions must not pay it."""
    import subprocess
    import sys

    code = (
        "import sys, hft_console.engine.engine, hft_console.cli.main;"
        "print(sorted(m for m in ('jax', 'flax', 'optax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
