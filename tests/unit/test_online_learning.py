"""Online fine-tuning: decisions pair with their answers and the next decision, DQN and PPO move
towards a venue that turns out cheaper, sessions stay reproducible on the simulated clock, the
learner thread stops with the session, and a failing update stops learning, not the session."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hft_console.routing.learned.online import OnlineLearner
from hft_console.routing.learned.policy import LearnedPolicy
from hft_console.routing.models import checkpoint
from hft_console.routing.models.agents import load_agent
from hft_console.routing.models.dqn import N_CHOICES, q_values_np
from hft_console.routing.models.layout import obs_dim
from hft_console.routing.models.ppo import logits_np
from hft_console.routing.policy import Observation, PolicySpec, Transition
from tests.conftest import learned_spec, make_settings

VENUES = tuple(v.name for v in make_settings().venues)  # the shipped set the checkpoints were trained on
N_VEN = len(VENUES)


def _spec(fine_tune: bool = True, explore: float = 0.0) -> PolicySpec:
    return learned_spec(fine_tune, explore)


def _obs(decision: int, rng: np.random.Generator) -> Observation:
    mask = tuple(bool(m) for m in rng.random(N_VEN) < 0.7) or (True,) * N_VEN
    if not any(mask):
        mask = (True,) * N_VEN
    lat = tuple(float(x) for x in rng.uniform(100, 900, N_VEN))
    size = tuple(int(x) for x in rng.integers(100, 500, N_VEN))
    return Observation(1, 100, (1.0,) * N_VEN, size, lat, (0.003,) * N_VEN, mask, 100.0, decision, lat, size)


class _Recorder:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, item: Any) -> None:
        self.items.append(item)

    def close(self) -> None:
        pass


def test_a_decision_pairs_with_its_own_answer_and_the_first_decision_after_it() -> None:
    policy = LearnedPolicy("dqn")
    policy.init(0, _spec())
    recorder = _Recorder()
    policy.learner = recorder  # type: ignore[assignment]
    rng = np.random.default_rng(0)
    seen = []
    for d in range(4):
        policy.act(None, _obs(d, rng), 0.9)
        seen.append(policy._last_x)
    # answers out of order; decision 2 never answers (risk denied); an unknown decision is ignored
    for d in (1, 0, 3, 99):
        cost = d / 10  # tells the decision apart in what the learner gets
        policy.update(None, Transition(0, 100, 100, cost, 500.0, -cost, d))
    assert recorder.items == []  # their next state is the next decision's observation: not made yet
    policy.act(None, _obs(4, rng), 0.9)
    seen.append(policy._last_x)
    assert [round(i[2], 3) for i in recorder.items] == [0.1, 0.0, 0.3]
    for item in recorder.items:
        d = round(item[2] * 10)
        np.testing.assert_array_equal(item[0], seen[d])
        np.testing.assert_array_equal(item[3], seen[4])
    policy.update(None, Transition(0, 100, 100, 0.4, 500.0, -0.4, 4))
    policy.update(None, Transition(0, 100, 100, 0.1, 500.0, -0.1, 1))  # answered twice: learned from once
    policy.act(None, _obs(5, rng), 0.9)
    assert [round(i[2], 3) for i in recorder.items] == [0.1, 0.0, 0.3, 0.4]
    np.testing.assert_array_equal(recorder.items[-1][3], policy._last_x)


def _cheap_venue_items(n: int, agent_params: Any, agent: str, rng: np.random.Generator) -> list[Any]:
    """Transitions where venue 0 costs 0.1 bps and every other venue 0.9 bps."""
    dim = obs_dim(N_VEN)
    items = []
    log_std = np.asarray(agent_params["log_std"]) if agent == "ppo" else None
    for _ in range(n):
        x = rng.normal(0, 0.5, dim).astype(np.float32)
        x[:N_VEN] = 1.0  # every venue eligible
        nxt = rng.normal(0, 0.5, dim).astype(np.float32)
        nxt[:N_VEN] = 1.0
        if agent == "dqn":
            venue = int(rng.integers(N_VEN))
            items.append((x, venue * N_CHOICES, 0.1 if venue == 0 else 0.9, nxt, np.zeros(0), math.nan))
        else:
            assert log_std is not None
            noise = rng.standard_normal(N_VEN + 1)  # the venues' logits and the take/post split
            sample = (np.exp(log_std) * noise).astype(np.float32)  # around a zero mean: the logp is approximate
            logp = float(np.sum(-0.5 * noise**2 - log_std - 0.5 * math.log(2 * math.pi)))
            venue = int(np.argmax(sample[:N_VEN]))
            items.append((x, 0, 0.1 if venue == 0 else 0.9, nxt, sample, logp))
    return items


@pytest.mark.parametrize("agent", ["dqn", "ppo"])
def test_fine_tuning_moves_towards_the_venue_that_is_cheaper(agent: str) -> None:
    params, meta = load_agent(checkpoint.models_dir(), agent, list(VENUES))
    policy = LearnedPolicy(agent)
    policy.init(0, _spec())
    assert policy.forecaster is not None
    published: list[Any] = []
    learner = OnlineLearner(
        agent, params, meta, policy.forecaster, published.append, threaded=False, rng=np.random.default_rng(0)
    )
    rng = np.random.default_rng(4)
    probe = _cheap_venue_items(200, params, agent, np.random.default_rng(9))

    def preference(p: Any) -> float:
        """How much more the network favours venue 0 than the others, averaged over probe states."""
        out = []
        for x, *_ in probe:
            q = q_values_np(p, x).reshape(N_VEN, N_CHOICES)[:, 0] if agent == "dqn" else logits_np(p, x)[:N_VEN]
            out.append(q[0] - np.mean(q[1:]))
        return float(np.mean(out))

    before = preference(params)
    for item in _cheap_venue_items(3000, params, agent, rng):
        learner.add(item)
        learner.between_batches()
    assert learner.updates > 0 and not learner.errors
    after = preference(published[-1])
    assert after > before + 0.05, (before, after)


def _session(tmp: Path, name: str, router: str, clock: str, duration: float) -> dict[str, Any]:
    from hft_console.engine.engine import Engine

    s = make_settings(
        session__router=router, session__clock=clock, session__duration_s=duration, session__online_explore=0.2
    )
    engine = Engine(s, tmp / name)
    engine.run()
    return json.loads((tmp / name / "summary.json").read_text())


def test_inline_fine_tuning_is_reproducible_and_learns(tmp_path: Path) -> None:
    a = _session(tmp_path, "a", "dqn", "sim", 60.0)
    b = _session(tmp_path, "b", "dqn", "sim", 60.0)
    assert a["online_learning"]["mode"] == "inline"
    assert a["online_learning"]["updates"] > 0 and a["online_learning"]["forecaster_steps"] > 0
    assert not a["online_learning"]["errors"]
    for key in ("pnl_total", "orders", "fills"):
        assert a[key] == b[key], key
    timing = ("update_ms_p50", "update_ms_max")
    assert {k: v for k, v in a["online_learning"].items() if k not in timing} == {
        k: v for k, v in b["online_learning"].items() if k not in timing
    }


def test_the_learner_thread_runs_beside_a_wall_clock_session_and_stops_with_it(tmp_path: Path) -> None:
    import threading

    summary = _session(tmp_path, "w", "ppo", "wall", 3.0)
    stats = summary["online_learning"]
    assert stats["mode"] == "thread" and not stats["errors"]
    assert stats["forecaster_steps"] > 0
    assert not [t for t in threading.enumerate() if t.name.startswith("online-")]


def test_a_failing_update_stops_learning_not_the_session() -> None:
    params, meta = load_agent(checkpoint.models_dir(), "dqn", list(VENUES))
    policy = LearnedPolicy("dqn")
    policy.init(0, _spec())
    assert policy.forecaster is not None
    learner = OnlineLearner(
        "dqn", params, meta, policy.forecaster, lambda p: None, threaded=False, rng=np.random.default_rng(0)
    )

    def broken(items: Any, rng: Any) -> None:
        raise FloatingPointError("nan in the loss")

    learner._tuner.learn = broken  # type: ignore[method-assign]
    for item in _cheap_venue_items(40, params, "dqn", np.random.default_rng(1)):
        learner.add(item)
        learner.between_batches()
    assert learner.errors == ["FloatingPointError: nan in the loss"]


def test_a_router_switched_to_mid_session_forecasts_from_what_was_measured() -> None:
    from hft_console.rng import Draws, rng_for
    from hft_console.routing.runner import RouterRunner

    runner = RouterRunner("best-price", _spec(False), Draws(rng_for(0, "router")), 0)
    ewma = (900.0, 850.0, 700.0, 120.0, 95.0, 800.0, 600.0, 300.0)[:N_VEN]
    last = (1500.0, 800.0, 650.0, 110.0, 90.0, 790.0, 640.0, 280.0)[:N_VEN]
    runner.switch("dqn", (ewma, last))
    forecaster = runner.policy.forecaster  # type: ignore[attr-defined]
    assert forecaster.ewma == list(ewma)
    assert [h[0] for h in forecaster.hist] == list(last)


def test_weights_that_are_not_finite_are_never_published() -> None:
    params, meta = load_agent(checkpoint.models_dir(), "dqn", list(VENUES))
    policy = LearnedPolicy("dqn")
    policy.init(0, _spec())
    assert policy.forecaster is not None
    published: list[Any] = []
    learner = OnlineLearner(
        "dqn", params, meta, policy.forecaster, published.append, threaded=False, rng=np.random.default_rng(0)
    )

    def diverged(items: Any, rng: Any) -> Any:
        import jax

        return jax.tree.map(lambda leaf: np.full_like(np.asarray(leaf), np.nan), params)

    learner._tuner.learn = diverged  # type: ignore[method-assign,union-attr]
    for item in _cheap_venue_items(40, params, "dqn", np.random.default_rng(1)):
        learner.add(item)
        learner.between_batches()
    assert published == [] and learner.errors == ["FloatingPointError: dqn weights not finite after an update"]


def test_without_fine_tuning_the_agent_is_frozen_and_its_forecaster_still_learns(tmp_path: Path) -> None:
    from hft_console.engine.engine import Engine

    s = make_settings(session__router="ppo", session__clock="sim", session__duration_s=30.0,
                      session__online_learning=False, session__online_explore=0.5)  # fmt: skip
    engine = Engine(s, tmp_path / "frozen")
    weights = engine.router.policy._weights  # type: ignore[attr-defined]
    engine.run()
    stats = json.loads((tmp_path / "frozen" / "summary.json").read_text())["online_learning"]
    assert stats["fine_tune"] is False and stats["updates"] == 0 and stats["forecaster_steps"] > 0
    assert engine.router.policy._weights is weights  # type: ignore[attr-defined]


def test_finished_engines_are_freed(tmp_path: Path) -> None:
    """The engine keeps what it built out of the collector's sight during a session only: a process
    running many sessions (a backtest worker) must not keep them all."""
    import gc
    import weakref

    from hft_console.engine.engine import Engine

    refs = []
    for _ in range(2):
        engine = Engine(make_settings(session__clock="sim", session__duration_s=2.0), None)
        engine.run()
        refs.append(weakref.ref(engine))
        del engine
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_a_router_that_fails_to_load_in_any_way_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from hft_console.rng import Draws, rng_for
    from hft_console.routing import runner as R

    real = R.make_policy

    def broken(name: str) -> Any:
        if name == "dqn":
            raise RuntimeError("disk on fire")
        return real(name)

    monkeypatch.setattr(R, "make_policy", broken)
    run = R.RouterRunner("best-price", _spec(False), Draws(rng_for(0, "router")), 0, background=True)
    assert run.request("dqn") is not None  # loading in the background
    deadline = time.monotonic() + 60  # a bound on a hang only
    while not run.poll() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.name == "thompson-discounted"
    assert run.warnings and "disk on fire" in run.warnings[0]
