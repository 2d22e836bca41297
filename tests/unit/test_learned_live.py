"""The live learned-router path (plain Python observation and decision) equals the training side."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hft_console.learn import env, env_dark
from hft_console.routing.learned.policy import LearnedPolicy, decide_allocation, decide_q
from hft_console.routing.models import dqn, ppo
from hft_console.routing.models.layout import CHOICES
from hft_console.routing.policy import Observation, PolicySpec, Transition
from tests.conftest import make_settings

VENUES = tuple(v.name for v in make_settings().venues)  # the shipped set the checkpoints were trained on


def test_plain_python_decisions_equal_the_networks_jitted_decisions() -> None:
    """The live decisions against the jnp ones training and evaluation make (``eval_router``'s)."""
    decide_dqn = jax.jit(lambda q, obs: jnp.argmax(dqn.masked(q, obs, 6)))
    decide_ppo = jax.jit(lambda out, mask, shows: ppo.decision(out, mask, shows, 0.25))
    rng = np.random.default_rng(1)
    k = dqn.N_CHOICES
    posts = set()
    for _ in range(500):
        mask = rng.random(6) < 0.5
        mask[rng.integers(6)] = True
        shows = rng.random(6) < 0.8  # a venue showing nothing on our side (dark) takes no posts
        obs = np.zeros(6 * 8 + 2, np.float32)
        obs[:6], obs[12:18] = mask, shows
        q = rng.normal(size=6 * k).astype(np.float32)
        out = rng.normal(size=7).astype(np.float32)
        a = int(decide_dqn(q, obs))
        post, share = CHOICES[a % k]
        assert decide_q(q.tolist(), tuple(mask), tuple(shows), CHOICES) == (a // k, share, post)
        assert mask[a // k] and (shows[a // k] or not post)
        posts.add(post)
        v, f, p = decide_allocation(out.tolist(), tuple(mask), tuple(shows), 0.25)
        v2, f2, p2 = decide_ppo(out, mask, shows)
        assert v == int(v2) and abs(f - float(f2)) < 1e-6 and p == bool(p2)
    assert posts == {False, True}


def test_the_live_observation_is_the_environments() -> None:
    """Before and after the dark pool answered orders (both learners told the same censored fills)."""
    s = make_settings()
    p = env.params_from_settings(s)
    prior = np.asarray(p.prior_rt_us, dtype=np.float64)
    dark = tuple(v.kind == "dark" for v in s.venues)
    spec = PolicySpec(VENUES, np.array([v.taker_fee for v in s.venues]), prior, tick=p.tick, dark=dark)
    policy = LearnedPolicy("ppo")
    policy.init(0, spec)
    seen: list[np.ndarray] = []
    inner = policy._forward_list
    assert inner is not None
    policy._forward_list = lambda x: seen.append(x.copy()) or inner(x)  # type: ignore[func-returns-value]
    state = env.reset(jax.random.key(0), p)
    n = len(VENUES)
    pool = dark.index(True)
    answers = [(100, 0), (100, 100), (50, 17), (100, 0), (100, 63), (50, 50), (100, 0)] * 3
    for i, (qty, filled) in enumerate([(0, 0), *answers]):
        if qty:
            policy.update(None, Transition(pool, qty, filled, 1.0, 200.0, -1.0, -1, True))
            args = (jnp.int32(pool), jnp.float32(qty), jnp.float32(filled), jnp.bool_(True))
            state = state._replace(km=env_dark.km_learn(state.km, *args))
        if i not in (0, len(answers)):
            continue
        mask = tuple(bool(m) for m in np.asarray(state.eligible))
        size = tuple(int(x) for x in np.asarray(state.size))
        near = tuple(int(x) for x in np.asarray(state.near_size))
        ewma = tuple(float(x) for x in np.asarray(state.ewma_us))
        obs = Observation(1, int(p.qty), (1.0,) * n, size, ewma, (0.0,) * n, mask, 100.0, i, ewma, near)
        policy.act(None, obs, 0.5)
        np.testing.assert_allclose(seen[-1], np.asarray(env.observe(state, p)), rtol=1e-6, atol=1e-6)
    learned = float(seen[-1][7 * n + pool])
    assert 0.0 < learned < 1.0 and seen[0][7 * n + pool] == 1.0  # it moved from the untried optimism


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


def test_live_routing_imports_no_training_code_and_its_numpy_path_no_jax() -> None:
    """``routing`` (what runs live) never imports ``learn`` (training): not on import, and not while a
    learned router decides with numpy inference through a whole session. The numpy decision path's
    own modules (layout, numpy forward, checkpoint, the live forecaster) import no JAX either; the
    session itself does, for the latency forecaster's online SGD."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import hft_console.routing.registry, hft_console.routing.runner\n"
        "import hft_console.routing.models.layout, hft_console.routing.models.numpy_mlp\n"
        "import hft_console.routing.models.checkpoint, hft_console.routing.learned.forecast\n"
        "heavy = ('jax', 'flax', 'optax', 'hft_console.learn')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy[:3] or m.startswith(heavy[3])))\n"
        "from tests.conftest import make_settings\n"
        "from hft_console.engine.engine import Engine\n"
        "s = make_settings(session__router='dqn', session__inference='numpy', session__duration_s=2)\n"
        "engine = Engine(s, None)\n"
        "engine.run()\n"
        "assert engine.router.name == 'dqn' and engine.router.backend == 'numpy', engine.router.warnings\n"
        "print(sorted(m for m in sys.modules if m.startswith('hft_console.learn')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"], out.stdout
