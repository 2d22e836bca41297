"""The fast live decision path changes no decision: the packed observation, the numpy forward pass in
place, the cached allowed actions, PPO's exploration drawn ahead, and the rehearsal between batches
each equal the plain construction they replace, bit for bit (no timing here: the figures are
``benchmarks/learning.py``'s)."""

from __future__ import annotations

import itertools
import math
import struct
from typing import Any

import numpy as np
import pytest

from hft_console.routing.learned.choice import allowed_actions, best_q, decide_allocation, decide_q
from hft_console.routing.learned.policy import LearnedPolicy
from hft_console.routing.models.layout import CHOICES
from hft_console.routing.models.numpy_mlp import NumpyMLP
from hft_console.routing.policy import Observation, PolicySpec, Transition
from tests.conftest import learned_spec, make_settings

VENUES = tuple(v.name for v in make_settings().venues)  # the shipped set the checkpoints were trained on
N_VEN = len(VENUES)
_LOG_2PI = math.log(2 * math.pi)


def _spec(fine_tune: bool, explore: float = 0.0) -> PolicySpec:
    return learned_spec(fine_tune, explore)


def _obs(decision: int, rng: np.random.Generator) -> Observation:
    """Random but plausible: some venues ineligible, some showing nothing on our side, sizes past the
    cap of 4 parents, now and then no last round trips or near sizes (an older caller)."""
    mask = tuple(bool(m) for m in rng.random(N_VEN) < 0.7)
    if not any(mask):
        mask = (True,) * N_VEN
    lat = tuple(float(x) for x in rng.uniform(30, 3000, N_VEN))
    last = () if rng.random() < 0.1 else tuple(float(x) for x in rng.uniform(30, 3000, N_VEN))
    size = tuple(int(x) for x in rng.integers(0, 700, N_VEN))
    near = () if rng.random() < 0.1 else tuple(int(x) * int(rng.random() < 0.8) for x in rng.integers(0, 700, N_VEN))
    return Observation(1, 100, (1.0,) * N_VEN, size, lat, (0.003,) * N_VEN, mask, 100.0, decision, last, near)


def _reference_observation(policy: LearnedPolicy, obs: Observation) -> np.ndarray:
    """The observation as the live path built it before (a list, then one numpy conversion)."""
    assert policy.forecaster is not None
    qty = policy.parent_qty
    last = obs.last_rt_us or obs.latency_us
    near = obs.near_size or (0,) * len(obs.mask)
    values = [1.0 if m else 0.0 for m in obs.mask]
    values += [min(s / qty, 4.0) for s in obs.size]
    values += [min(s / qty, 4.0) for s in near]
    values += [math.log(x / 100.0) for x in obs.latency_us]
    values += [math.log(x / 100.0) for x in last]
    values += policy.forecaster.log_forecast
    values += [*policy.fee_ticks, *policy.dark_book.fill_shares(qty), qty / 100.0, 1.0]
    return np.array(values, dtype=np.float32)


def _reference_q(q: list[float], mask: tuple[bool, ...], shows: tuple[bool, ...]) -> int:
    """The greedy argmax as a loop over every action (the earlier ``decide_q``)."""
    k = len(CHOICES)
    best, action = -math.inf, -1
    for a, value in enumerate(q):
        if value > best and mask[a // k] and (shows[a // k] or not CHOICES[a % k][0]):
            best, action = value, a
    return action


def _reference_allocation(
    out: list[float], mask: tuple[bool, ...], shows: tuple[bool, ...], floor: float
) -> tuple[int, float, bool]:
    logits = out[:-1]
    venue = max((v for v, ok in enumerate(mask) if ok), key=logits.__getitem__)
    top = logits[venue]
    total = sum(math.exp(x - top) for x, ok in zip(logits, mask, strict=True) if ok)
    return venue, min(1.0, max(floor, 1.0 / total)), out[-1] > 0 and shows[venue]


def test_the_greedy_choices_equal_the_loops_they_replace_ties_infinities_and_nan_included() -> None:
    rng = np.random.default_rng(3)
    k = len(CHOICES)
    for _ in range(3000):
        mask = tuple(bool(m) for m in rng.random(N_VEN) < 0.6)
        shows = tuple(bool(m) for m in rng.random(N_VEN) < 0.7)
        q = np.round(rng.normal(size=N_VEN * k), 1)  # rounded: ties happen
        q[rng.random(q.size) < 0.1] = -np.inf
        q[rng.random(q.size) < 0.05] = np.nan
        qs = q.tolist()
        action = best_q(qs, allowed_actions(mask, shows, CHOICES))
        assert action == _reference_q(qs, mask, shows)
        if action >= 0:
            assert decide_q(qs, mask, shows, CHOICES) == (action // k, CHOICES[action % k][1], CHOICES[action % k][0])
        else:
            with pytest.raises(ValueError):
                decide_q(qs, mask, shows, CHOICES)
        out = np.round(rng.normal(size=N_VEN + 1), 1).tolist()
        if any(mask):
            assert decide_allocation(out, mask, shows, 0.25) == _reference_allocation(out, mask, shows, 0.25)
        else:
            with pytest.raises(ValueError):
                decide_allocation(out, mask, shows, 0.25)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_numpy_forward_in_place_equals_the_plain_one_bit_for_bit(activation: str) -> None:
    rng = np.random.default_rng(4)
    sizes = (58, 64, 64, 32)
    params = {
        f"Dense_{i}": {
            "kernel": rng.normal(0, 0.3, (a, b)).astype(np.float32),
            "bias": rng.normal(0, 0.1, b).astype(np.float32),
        }
        for i, (a, b) in enumerate(itertools.pairwise(sizes))
    }
    net = NumpyMLP({"params": params}, activation)
    xa = np.ones(sizes[0] + 1, np.float32)
    for _ in range(200):
        x = rng.normal(size=sizes[0]).astype(np.float32)
        h = x.astype(np.float32)
        for i in range(len(sizes) - 1):  # the plain pass: bias folded in, a fresh array per layer
            w = np.vstack([params[f"Dense_{i}"]["kernel"], params[f"Dense_{i}"]["bias"][None, :]])
            h = np.dot(np.append(h, np.float32(1.0)), w)
            if i < len(sizes) - 2:
                h = np.maximum(h, 0.0) if activation == "relu" else np.tanh(h)
        xa[:-1] = x
        np.testing.assert_array_equal(net(x), h)
        assert net.as_list(x.tolist()) == h.tolist()
        assert net.as_list_augmented(xa) == h.tolist()
        np.testing.assert_array_equal(net.run_augmented(xa), h)


def test_the_struct_pack_casts_to_float32_as_numpy_does() -> None:
    rng = np.random.default_rng(5)
    f = rng.normal(size=20000).astype(np.float32)
    halfway = (f.astype(np.float64) + np.nextafter(f, np.float32(np.inf)).astype(np.float64)) / 2
    values = np.concatenate([rng.normal(0, 5, 20000), halfway, [0.0, -0.0, 1e-40, 5e-324, math.inf, -math.inf]])
    packed = np.zeros(values.size, np.float32)
    struct.pack_into(f"={values.size}f", packed.data, 0, *values.tolist())
    np.testing.assert_array_equal(packed.view(np.uint32), values.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("agent", ["dqn", "ppo"])
def test_the_packed_observation_equals_the_list_built_one(agent: str) -> None:
    policy = LearnedPolicy(agent)
    policy.init(0, _spec(fine_tune=False))
    rng = np.random.default_rng(6)
    for d in range(300):
        obs = _obs(d, rng)
        if rng.random() < 0.3:  # answers move the forecaster between decisions
            assert policy.forecaster is not None
            policy.forecaster.record(int(rng.integers(N_VEN)), float(rng.uniform(50, 2000)))
        policy.act(None, obs, 0.5)
        x = policy._last_x
        assert x is not None
        np.testing.assert_array_equal(x.view(np.uint32), _reference_observation(policy, obs).view(np.uint32))


class _Recorder:
    threaded = False

    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, item: Any) -> None:
        self.items.append(item)

    def between_batches(self) -> None:
        pass

    def close(self) -> None:
        pass


def _session(agent: str, rehearse: bool) -> tuple[list[Any], list[Any], LearnedPolicy]:
    """Decisions with fine-tuning and exploration, answers out of order; ``rehearse``: the policy's
    between-batches work (the rehearsal, normals drawn ahead) before every decision."""
    policy = LearnedPolicy(agent)
    policy.init(11, _spec(fine_tune=True, explore=0.3))
    recorder = _Recorder()
    policy.learner = recorder  # type: ignore[assignment]
    rng = np.random.default_rng(7)
    decisions = []
    for d in range(400):
        if rehearse:
            policy.between_batches()
        decisions.append(policy.act(None, _obs(d, rng), float(rng.random())))
        if d > 2 and rng.random() < 0.8:
            answered = d - int(rng.integers(1, 3))
            cost = float(rng.normal(0.5, 0.2))
            policy.update(None, Transition(0, 100, 100, cost, 500.0, -cost, answered))
    return decisions, recorder.items, policy


@pytest.mark.parametrize("agent", ["dqn", "ppo"])
def test_rehearsing_between_batches_changes_no_decision_and_nothing_the_learner_gets(agent: str) -> None:
    plain, plain_items, _ = _session(agent, rehearse=False)
    rehearsed, rehearsed_items, _ = _session(agent, rehearse=True)
    assert plain == rehearsed
    assert len(plain_items) == len(rehearsed_items) > 100
    for a, b in zip(plain_items, rehearsed_items, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:3] == b[1:3]
        np.testing.assert_array_equal(a[3], b[3])
        np.testing.assert_array_equal(a[4], b[4])
        assert a[5] == b[5] or (math.isnan(a[5]) and math.isnan(b[5]))


def test_ppo_exploration_draws_the_normals_and_log_probabilities_one_draw_per_decision_would() -> None:
    """The sample and its log-probability as ``np.asarray(out) + exp(log_std) * noise`` with one
    ``standard_normal`` per exploring decision from the policy's own stream (``default_rng([key, 0])``),
    the normals drawn ahead between batches or not."""
    policy = LearnedPolicy("ppo")
    policy.init(11, _spec(fine_tune=True, explore=0.3))
    policy.learner = _Recorder()  # type: ignore[assignment]
    reference = np.random.default_rng([11, 0])
    log_std = policy._log_std
    assert log_std is not None
    rng = np.random.default_rng(8)
    explored = 0
    for d in range(300):
        if d % 3:
            policy.between_batches()
        key = float(rng.random())
        policy.act(None, _obs(d, rng), key)
        if key >= 0.3:
            continue
        explored += 1
        x = policy._last_x
        assert x is not None
        out = np.asarray(policy._weights(x).tolist())  # the mean the decision saw (the weights never move here)
        noise = reference.standard_normal(N_VEN + 1)
        policy.update(None, Transition(0, 100, 100, 0.1, 500.0, -0.1, d))
        _, _, sample, logp = policy._pending[d]
        np.testing.assert_array_equal(sample, out + np.exp(log_std) * noise)
        active = np.asarray([*(x[:N_VEN] > 0.5), True])
        assert logp == float(np.sum(np.where(active, -0.5 * noise**2 - log_std - 0.5 * _LOG_2PI, 0.0)))
    assert explored > 50
