"""What keeps work out of the decision path changes nothing else: the collector runs between batches
(never inside a decision) and the process's collector is handed back as it was found; the learned
router's rehearsals (start-up, between batches, after an inline update) change no decision of a
session; a threaded online learner compiles everything it runs before the session starts. No timing
here: the figures are ``benchmarks/learning.py``'s and ``benchmarks/console.py``'s."""

from __future__ import annotations

import gc
import math
import sqlite3
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hft_console.engine.engine import Engine, collect_between_batches
from hft_console.routing.learned.online import DQN_BATCH, DQN_EVERY, PPO_BATCH, OnlineLearner
from hft_console.routing.learned.policy import LearnedPolicy
from hft_console.routing.models import checkpoint
from hft_console.routing.models.agents import load_agent
from hft_console.routing.models.layout import obs_dim
from tests.conftest import make_settings

VENUES = tuple(v.name for v in make_settings().venues)  # the shipped set the checkpoints were trained on
N_VEN = len(VENUES)


def _watch_decisions(engine: Engine) -> list[tuple[bool, int]]:
    """(automatic collection on, collections so far) at every decision of ``engine``."""
    seen: list[tuple[bool, int]] = []
    choose = engine.router.choose

    def watched(obs: Any) -> tuple[int, float, bool]:
        seen.append((gc.isenabled(), sum(s["collections"] for s in gc.get_stats())))
        out = choose(obs)
        after = sum(s["collections"] for s in gc.get_stats())
        assert after == seen[-1][1], "a collection ran inside a decision"
        return out

    engine.router.choose = watched  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("collector_on", [True, False])
def test_the_collector_waits_for_the_end_of_a_batch_and_is_handed_back(tmp_path: Path, collector_on: bool) -> None:
    """``collector_on`` False: a console turned automatic collection off; the engine still collects
    between its batches (the console's garbage too, never mid-decision) and leaves it off after."""
    engine = Engine(make_settings(session__duration_s=20.0), tmp_path / "s")
    seen = _watch_decisions(engine)
    was = gc.isenabled()
    (gc.enable if collector_on else gc.disable)()
    try:
        engine.run()
        assert gc.isenabled() is collector_on
    finally:
        (gc.enable if was else gc.disable)()
    assert len(seen) > 20 and not any(on for on, _ in seen)
    assert seen[-1][1] > seen[0][1]  # it did collect, between decisions


def test_a_full_collection_asked_for_runs_at_the_end_of_a_batch(tmp_path: Path) -> None:
    """A console asks (from its own thread) for a full collection; the engine thread runs it at the end
    of its next batch."""
    engine = Engine(make_settings(session__duration_s=5.0), tmp_path / "s")
    full_runs: list[int] = []  # full collections so far, at the end of each batch

    def ask(e: Engine) -> None:
        full_runs.append(gc.get_stats()[2]["collections"])
        if len(full_runs) == 3:
            e.full_collection_requested = True

    engine.on_batch.append(ask)
    was = gc.isenabled()
    try:
        engine.run()
    finally:
        (gc.enable if was else gc.disable)()
    assert full_runs[2] == full_runs[1] and full_runs[3] == full_runs[2] + 1
    assert not engine.full_collection_requested


def test_between_batches_collects_the_garbage_the_thresholds_would_have() -> None:
    class Node:
        ref: Any = None

    was = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        cycle = Node()
        cycle.ref = cycle
        watch = weakref.ref(cycle)
        del cycle
        collect_between_batches()  # below the threshold: nothing yet
        assert watch() is not None
        # young container objects past the threshold
        keep: list[list[int]] = [[] for _ in range(gc.get_threshold()[0] + 1)]
        collect_between_batches()
        assert watch() is None and gc.get_count()[0] < gc.get_threshold()[0]
        del keep
    finally:
        (gc.enable if was else gc.disable)()


def test_rehearsals_change_no_decision_of_a_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fine-tuning, exploring DQN session with its inline updates, against the same session with
    every rehearsal (start-up, between batches, after an update) turned into a no-op."""

    def session(name: str) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
        s = make_settings(session__router="dqn", session__inference="numpy", session__duration_s=40.0,
                          session__online_explore=0.3)  # fmt: skip
        engine = Engine(s, tmp_path / name)
        engine.run()
        assert engine.router.name == "dqn", engine.router.warnings
        db = sqlite3.connect(tmp_path / name / "journal.sqlite")
        rows = db.execute(
            "select ts_ns, venue, qty, order_type, status, filled from orders order by order_id"
        ).fetchall()
        db.close()
        stats = engine.router.online_stats()
        assert stats is not None
        return rows, {k: v for k, v in stats.items() if not k.startswith("update_ms")}

    rehearsed = session("rehearsed")
    monkeypatch.setattr(LearnedPolicy, "rehearse", lambda self: None)
    plain = session("plain")
    assert rehearsed[1]["updates"] > 0 and rehearsed[1]["transitions"] > DQN_BATCH
    assert rehearsed == plain


def _items(agent: str, n: int, rng: np.random.Generator) -> list[Any]:
    """Completed transitions shaped as the live policy hands them over (PPO's samples: float64)."""
    dim = obs_dim(N_VEN)
    items = []
    for _ in range(n):
        x, nxt = rng.normal(0, 0.5, dim).astype(np.float32), rng.normal(0, 0.5, dim).astype(np.float32)
        if agent == "dqn":
            items.append((x, int(rng.integers(N_VEN * 4)), 0.3, nxt, np.zeros(0, np.float32), math.nan))
        else:
            items.append((x, 0, 0.3, nxt, np.asarray(rng.normal(size=N_VEN + 1).tolist()), -3.0))
    return items


@pytest.mark.parametrize("agent", ["dqn", "ppo"])
def test_a_threaded_learner_compiles_everything_it_runs_before_the_session(agent: str) -> None:
    import jax.monitoring

    compiles: list[str] = []
    listening = {"on": False}

    def listen(event: str, duration_secs: float, **kwargs: str | int) -> None:
        if listening["on"] and event.endswith("backend_compile_duration"):
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    params, meta = load_agent(checkpoint.models_dir(), agent, list(VENUES))
    policy = LearnedPolicy(agent)
    policy.init(0, _spec())
    assert policy.forecaster is not None
    published: list[Any] = []
    learner = OnlineLearner(agent, params, meta, policy.forecaster, published.append, threaded=True,
                            rng=np.random.default_rng(0))  # fmt: skip
    listening["on"] = True
    try:
        rng = np.random.default_rng(1)
        for _ in range(3):  # what the thread's loop does, without the thread
            for v in range(N_VEN):
                policy.forecaster.record(v, float(rng.uniform(50, 2000)))
            for item in _items(agent, max(DQN_BATCH + DQN_EVERY, PPO_BATCH), rng):
                learner.add(item)
            learner.work()
    finally:
        listening["on"] = False
    assert not learner.errors and learner.updates > 0 and learner.forecaster_steps > 0
    assert compiles == []


def _spec() -> Any:
    from hft_console.learn import env
    from hft_console.routing.policy import PolicySpec

    s = make_settings()
    p = env.params_from_settings(s)
    fees = np.array([v.taker_fee for v in s.venues])
    return PolicySpec(VENUES, fees, np.asarray(p.prior_rt_us, dtype=np.float64), tick=p.tick, inference="numpy")
