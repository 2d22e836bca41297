"""DQN and PPO routers in the live engine: a trained checkpoint, one forward pass per decision.

``inference = "jit"`` (the default) runs the jitted JAX/Flax forward pass over a plain dict of
parameters, with synchronous CPU dispatch (set before JAX's first computation: the async hand-off
costs more than the work on two cores) and no randomness inside the jit; ``"numpy"`` runs the same
parameters through the numpy mirror (``models/numpy_mlp.py``), held equal to the jitted pass by a
parity test. The observation is laid out as ``models/layout.py`` says, exactly as the training
environment's ``observe`` builds it (held equal by a test), the latency forecaster's forecasts included
(``forecast.py``: every answer in the session feeds it). The networks come from ``routing/models``
(imported when a learned router is built: they import JAX). Around the forward pass a decision is
plain Python over cached pieces (``act``; the greedy choice in ``choice.py``), each piece held
bit-for-bit equal to the plain construction by ``tests/unit/test_decision_path.py``. Its whole path,
exploring and pairing answers included, is rehearsed on a scratch copy of the policy at start-up, between
market batches and after an inline update (``rehearse``), so a decision does not find its code and data
cold (measured: the first calls after start-up or an update took two to four times as long).
"""

from __future__ import annotations

import contextlib
import copy
import math
import struct
from collections.abc import Callable
from itertools import repeat
from operator import truediv
from typing import Any

import numpy as np

from hft_console.routing.dark_router import LiveDarkBook
from hft_console.routing.learned.choice import allocation, allowed_actions, best_q
from hft_console.routing.learned.choice import decide_allocation as decide_allocation  # re-exported
from hft_console.routing.learned.choice import decide_q as decide_q  # re-exported
from hft_console.routing.learned.forecast import LatencyForecaster
from hft_console.routing.learned.online import OnlineLearner
from hft_console.routing.models import checkpoint
from hft_console.routing.models.layout import CHOICES, obs_dim
from hft_console.routing.models.numpy_mlp import NumpyMLP
from hft_console.routing.policy import Observation, PolicySpec, Transition

LEARNED_NAMES = ("dqn", "ppo")
NORMALS_AHEAD = 256  # PPO's exploration noise drawn ahead between batches
ROWS_MAX = 4096  # (mask, shows) pairs whose observation head and allowed actions are kept
_COMPILED: dict[tuple[object, ...], Callable[..., Any]] = {}
WARM_UP_CALLS = 200  # forward passes after a compile; a quarter of it, whole rehearsed decisions
PENDING_MAX = 4096  # decisions kept for pairing with their answers (risk-denied ones never answer)
_LOG_2PI = math.log(2 * math.pi)


def _sync_dispatch() -> None:
    import jax

    with contextlib.suppress(Exception):  # a JAX without the flag: async dispatch still works
        jax.config.update("jax_cpu_enable_async_dispatch", False)  # type: ignore[no-untyped-call]


class LearnedPolicy:
    def __init__(self, name: str) -> None:
        self.name = name
        self.backend = "numpy"
        self.meta: dict[str, Any] = {}
        self.tick = 0.01
        self.fee_ticks: list[float] = []
        self.dark_book = LiveDarkBook(())  # the dark pools' censored-fill learner (``routing/dark_router.py``)
        self.dark_shares: tuple[float, ...] = ()  # its fill share of a whole parent per venue, the observation's
        self.choices: tuple[tuple[bool, float], ...] = ((False, 1.0),)
        self.posts = True  # its actions include posting a child (``RouterRunner.may_post``)
        self.min_fraction = 1.0
        self.parent_qty = 100.0
        self._forward: Callable[[np.ndarray], np.ndarray] | None = None
        self._forward_list: Callable[[np.ndarray], list[float]] | None = None
        # the observation, written in place per decision: ``_xa`` is it and a constant 1 (the numpy
        # forward's bias input), ``_x`` the observation view; ``_pack`` writes its per-venue blocks
        self._xa = np.ones(1, dtype=np.float32)
        self._x = self._xa[:-1]
        self._pack: Callable[..., None] = struct.Struct("0f").pack_into  # float32 values into ``_xa``
        self._scratch: LearnedPolicy | None = None  # what ``rehearse`` decides with
        self._rehearsals = 0
        self._no_near: tuple[int, ...] = ()
        self._rows: dict[tuple[tuple[bool, ...], tuple[bool, ...]], _Row] = {}
        self._actions: tuple[tuple[int, float, bool], ...] = ()  # DQN: action -> (venue, share, post)
        self._last_x: np.ndarray | None = None
        self._last_obs: Observation | None = None
        self._weights: Any = None
        self._incoming: Any = None  # (weights, log_std, std) from the learner thread
        self._applied: Any = None
        self._make_weights: Callable[[dict[str, Any]], Any] | None = None
        self.forecaster: LatencyForecaster | None = None
        self.explore = 0.0
        self.fine_tune = False
        self.learner: OnlineLearner | None = None
        self._rng = np.random.default_rng(0)
        self._log_std: np.ndarray | None = None
        self._std: list[float] = []  # exp(log_std), for PPO's exploring samples in plain Python
        self._normals: list[float] = []  # PPO: the next standard normals of ``_rng``, drawn ahead
        self._normal_at = 0
        # decision -> (observation, action, sample, log-probability); an exploring PPO decision keeps
        # its noise and log_std instead of the last two until it is answered (``update``: off the path)
        self._pending: dict[int, tuple[np.ndarray, int, Any, Any]] = {}
        self._answered: list[tuple[int, float]] = []  # (decision, cost bps), waiting for the next decision

    def init(self, key: int, spec: PolicySpec) -> Any:
        """Load and check the checkpoint (``CheckpointError`` when it is missing, corrupt or made for
        other venues) and warm the forward pass up, so the first decision pays no compile."""
        self.backend = spec.inference
        _sync_dispatch()  # before anything below can start JAX (a numpy-backend router first would fix it async)
        from hft_console.routing.models.agents import load_agent  # imports JAX: learned routers only
        from hft_console.routing.models.latency import numpy_params, shared_weights  # imports JAX: learned routers only
        from hft_console.routing.models.ppo import MIN_FRACTION  # imports JAX: learned routers only

        n = len(spec.venues)
        directory = checkpoint.models_dir()
        params, self.meta = load_agent(directory, self.name, list(spec.venues))
        self.tick = spec.tick
        self.parent_qty = spec.parent_qty
        self.fee_ticks = [float(f) / spec.tick for f in spec.taker_fee]
        self.dark_book = LiveDarkBook(spec.dark or (False,) * n)
        self.dark_shares = self.dark_book.fill_shares(self.parent_qty)
        self.choices = CHOICES
        k = len(CHOICES)
        self._actions = tuple((a // k, CHOICES[a % k][1], CHOICES[a % k][0]) for a in range(n * k))
        self._no_near = (0,) * n
        self._xa = np.ones(obs_dim(n) + 1, dtype=np.float32)
        self._x = self._xa[:-1]
        self._x[-2] = self.parent_qty / 100.0  # then the constant 1: the same for every decision
        # the per-venue blocks (``_observe``), however many ``layout.obs_dim`` says: native float32, as numpy's own
        self._pack = struct.Struct(f"={obs_dim(n) - 2}f").pack_into
        self.min_fraction = MIN_FRACTION if self.name == "ppo" else 1.0
        self._rng = np.random.default_rng([key, 0])
        warm = np.random.default_rng(0).normal(size=(WARM_UP_CALLS, obs_dim(n))).astype(np.float32)
        try:
            shared = numpy_params(shared_weights(directory))
            self.forecaster = LatencyForecaster(shared, [float(x) for x in spec.prior_latency_us], keep_examples=True)
            self._build_forward(params)
            assert self._forward is not None
            for x in warm:  # compile, then let the runtime settle: the first calls after a compile are slow
                out = self._forward(x)
        except Exception as exc:  # any failure here means the parameters do not fit the networks
            self._forward = None
            raise checkpoint.CheckpointError(
                f"{directory / (self.name + '.msgpack')}: parameters do not fit the {self.name} network or its "
                f"latency forecaster ({type(exc).__name__})"
            ) from None
        expected = n * len(self.choices) if self.name == "dqn" else n + 1  # PPO: and the take/post split
        if out.shape != (expected,):
            self._forward = None
            raise checkpoint.CheckpointError(
                f"{directory / (self.name + '.msgpack')}: the network answers {out.shape[0]} values, "
                f"expected {expected}"
            )
        if self.name == "ppo":
            self._log_std = np.asarray(params["log_std"], dtype=np.float64)
            self._std = np.exp(self._log_std).tolist()
        self.fine_tune, self.explore = spec.fine_tune, spec.explore if spec.fine_tune else 0.0
        self.learner = OnlineLearner(
            self.name, params, self.meta, self.forecaster, self.publish, spec.learning == "thread",
            np.random.default_rng([key, 1]), fine_tune=spec.fine_tune,
        )  # fmt: skip
        # the whole decision path over and over, so the first real decision is not also the first call of each piece
        prior, qty = tuple(float(x) for x in spec.prior_latency_us), int(spec.parent_qty)
        fees = tuple(float(f) for f in spec.taker_fee)
        self._last_obs = Observation(
            1, qty, (1.0,) * n, (qty,) * n, prior, fees, (True,) * n, 100.0, 0, prior, (qty,) * n
        )
        self._scratch = self._scratch_copy()
        for _ in range(WARM_UP_CALLS // 4):
            self.rehearse()
        return None

    def _build_forward(self, params: dict[str, Any]) -> None:
        """The forward pass reads the weights from ``self._weights`` on every call, so the learner's
        new weights are one reference swap. Compiled once per network shape in a process: backtests
        build an engine per scenario, and a compile per engine would cost more than the scenario."""
        if self.backend == "jit":
            import jax
            import jax.numpy as jnp

            from hft_console.routing.models.dqn import q_values  # imports JAX: only with inference "jit"
            from hft_console.routing.models.ppo import actor_mean  # imports JAX: only with inference "jit"

            inner = q_values if self.name == "dqn" else actor_mean
            pick = (lambda p: p) if self.name == "dqn" else (lambda p: p["actor"])
            leaves, treedef = jax.tree.flatten(pick(params))  # type: ignore[no-untyped-call]
            shapes = tuple(np.shape(x) for x in leaves)
            cache_key = (self.name, str(treedef), shapes)
            compiled = _COMPILED.get(cache_key)
            if compiled is None:
                # a flat tuple of weights: the cheapest argument to pass per call (about 1 µs over weights
                # baked in as constants, measured), and swappable
                compiled = jax.jit(lambda ws, x: inner(jax.tree.unflatten(treedef, ws), x))
                _COMPILED[cache_key] = compiled

            def make(p: dict[str, Any]) -> Any:
                return tuple(jnp.asarray(x) for x in jax.tree.leaves(pick(p)))  # type: ignore[no-untyped-call]

            self._make_weights = make
            self._forward = lambda x: np.asarray(compiled(self._weights, x))
            self._forward_list = lambda x: np.asarray(compiled(self._weights, x)).tolist()
        else:
            if self.name == "dqn":
                self._make_weights = lambda p: NumpyMLP(p, "relu")
            else:
                self._make_weights = lambda p: NumpyMLP(p["actor"], "tanh")
            xa, own = self._xa, self._x

            def forward_list(x: np.ndarray) -> list[float]:
                # the decision's own buffer already carries the bias input: no copy into the network's
                weights: NumpyMLP = self._weights
                return weights.as_list_augmented(xa) if x is own else weights.as_list(x)

            self._forward = lambda x: self._weights(x)
            self._forward_list = forward_list
        self._weights = self._make_weights(params)

    def publish(self, params: dict[str, Any]) -> None:
        """New weights from the learner (built there, taken up before the next decision)."""
        assert self._make_weights is not None
        log_std = np.asarray(params["log_std"], dtype=np.float64) if self.name == "ppo" else None
        std = None if log_std is None else np.exp(log_std).tolist()
        self._incoming = (self._make_weights(params), log_std, std)  # one assignment: weights and std together

    def _take_up(self) -> None:
        """The newest publish replaces the weights in use (never lost: nothing resets it)."""
        incoming = self._incoming
        self._weights, log_std, std = incoming
        if log_std is not None:
            self._log_std, self._std = log_std, std
        self._applied = incoming

    def act(self, state: Any, obs: Observation, key: float) -> tuple[int, float, bool]:
        """The observation (``_observe``), one forward pass, the greedy choice (``_greedy``), then when
        fine-tuning exploration and the learner's bookkeeping; plain Python around the forward pass (on
        eight venues numpy's per-call cost would be most of it). Held equal to ``learn.env.observe``
        and to the networks' argmax by tests."""
        forward = self._forward_list
        assert forward is not None and self.forecaster is not None, "init() first"
        if self._incoming is not self._applied:
            self._take_up()
        self._last_obs = obs
        row, shows = self._observe(obs)
        x = self._x
        out = forward(x)
        action, decision = self._greedy(out, row, shows)
        if not self.fine_tune:
            self._last_x = x  # the buffer itself: the next decision (or rehearsal) rewrites it
            return decision
        x = self._last_x = x.copy()  # the learner keeps each decision's observation
        return self._act_online(obs, (row, shows), x, out, key, (action, decision))

    def _observe(self, obs: Observation) -> tuple[_Row, tuple[bool, ...]]:
        """Write ``obs``'s per-venue blocks into the buffer ``_x`` (the parent size and the constant after
        them sit there from ``init``); returns its (mask, shows) row and shows. Eligibility values and
        allowed actions are kept per (mask, shows), the forecaster keeps its logs as answers come; the
        rest goes in by one ``struct`` pack (float64 to float32 as numpy casts, bit for bit, in a third
        of numpy's list conversion's time). One line per block, in ``models/layout.py``'s order: a
        block more in the layout is a line more here (the pack refuses a count that does not fit)."""
        near = obs.near_size or self._no_near  # not shown: no post anywhere
        shows = tuple(map(_POSITIVE, near))
        row = self._rows.get((obs.mask, shows))
        if row is None:
            row = self._row(obs.mask, shows)
        lat = obs.latency_us
        # the parent size the agent was trained on, not what is left of this parent: a follow-up
        # child must look like the decisions seen in training. ``r if r < 4.0 else 4.0`` is
        # min(r, 4.0) without a call; the logs are log(x / 100) over C iterators (no Python frame)
        qty = self.parent_qty
        assert self.forecaster is not None
        self._pack(
            self._xa,
            0,
            *row[0],  # eligibility
            *[r if (r := s / qty) < 4.0 else 4.0 for s in (*obs.size, *near)],  # sizes: the side we take, ours
            *map(_log, map(truediv, (*lat, *(obs.last_rt_us or lat)), _HUNDRED)),  # round trips: EWMA, last
            *self.forecaster.log_forecast,  # the forecaster's
            *self.fee_ticks,
            *self.dark_shares,
        )
        return row, shows

    def _greedy(self, out: list[float], row: _Row, shows: tuple[bool, ...]) -> tuple[int, tuple[int, float, bool]]:
        """The network's greedy choice: (DQN's action or 0, (venue, share, post))."""
        if self.name == "dqn":
            action = best_q(out, row[1])
            if action < 0:
                raise ValueError("no eligible venue to route to")
            return action, self._actions[action]
        return 0, allocation(out, row[1], shows, self.min_fraction)

    def _scratch_copy(self) -> LearnedPolicy:
        """A copy that decides as this policy does (the same forward pass, weights, buffer, forecaster
        and caches: its forward pass reads this policy's weights) with its own random stream, its own
        pending decisions, dark-pool learner and a learner that keeps nothing, exploring every other decision when this
        one fine-tunes: deciding with it changes nothing this policy decides or its learner gets."""
        scratch = copy.copy(self)
        scratch._rng, scratch._normals, scratch._normal_at = np.random.default_rng(0), [], 0
        scratch._pending, scratch._answered, scratch._scratch = {}, [], None
        scratch.learner = _Sink()  # type: ignore[assignment]
        scratch.dark_book = LiveDarkBook(self.dark_book.dark)  # its answers must not teach ours
        scratch.explore = 0.5 if self.fine_tune else 0.0
        return scratch

    def rehearse(self) -> None:
        """One whole decision on the scratch copy (``_scratch_copy``) over the last decision's
        observation, answered at once: the decision path's code and data back in the CPU's caches.
        Takes up published weights first, as the next decision would (they are warm too)."""
        scratch = self._scratch
        if scratch is None or self._last_obs is None:
            return
        if self._incoming is not self._applied:
            self._take_up()
        self._rehearsals += 1
        obs = self._last_obs._replace(decision=self._rehearsals)
        with contextlib.suppress(ValueError):  # nothing eligible now (a forecast gone NaN): the decision says so
            scratch.act(None, obs, 0.25 if self._rehearsals % 2 else 0.75)
            scratch.update(None, Transition(0, 1, 1, 0.0, 100.0, 0.0, self._rehearsals))

    def _row(self, mask: tuple[bool, ...], shows: tuple[bool, ...]) -> _Row:
        """What a (mask, shows) pair fixes (``_Row``), kept for the next decisions with the same pair."""
        if len(self._rows) >= ROWS_MAX:
            self._rows.clear()
        head = [1.0 if m else 0.0 for m in mask]
        eligible = tuple(v for v, ok in enumerate(mask) if ok)
        allowed = allowed_actions(mask, shows, self.choices) if self.name == "dqn" else eligible
        row = self._rows[(mask, shows)] = (head, allowed, np.asarray([*mask, True]))
        return row

    def _act_online(
        self, obs: Observation, seen: tuple[_Row, tuple[bool, ...]], x: np.ndarray, out: list[float], key: float,
        greedy: tuple[int, tuple[int, float, bool]],
    ) -> tuple[int, float, bool]:  # fmt: skip
        """Explore on a share ``explore`` of decisions (``key``: the decision's uniform draw) and keep the
        decision to pair with its answer. Its observation is the next state of every decision answered
        since the last one, as in the environment (``seen``, ``greedy``: ``_observe``'s, ``_greedy``'s)."""
        explored = key < self.explore
        sample: Any = _NO_SAMPLE
        logp: Any = math.nan
        row, shows = seen
        action, (venue, fraction, post) = greedy
        if explored and self.name == "dqn":
            allowed = [a for a in row[1] if out[a] > -1e5]
            action = allowed[int(self._rng.integers(len(allowed)))]
            venue, fraction, post = self._actions[action]
        elif explored:
            # the Gaussian sample in plain Python, from normals drawn ahead (the same sequence as one
            # draw per decision); its log-probability waits for the answer (``update``)
            n_out = len(out)
            at = self._normal_at
            if at + n_out > len(self._normals):
                self.draw_ahead(n_out)
                at = 0
            noise = self._normals[at : at + n_out]
            self._normal_at = at + n_out
            drawn = [o + s * z for o, s, z in zip(out, self._std, noise, strict=True)]
            sample, logp = drawn, (noise, self._log_std, row[2])
            venue, fraction, post = allocation(drawn, row[1], shows, self.min_fraction)
        if self._answered:
            assert self.learner is not None
            for answered, cost_bps in self._answered:
                mine = self._pending.pop(answered, None)
                if mine is not None:
                    self.learner.add((mine[0], mine[1], cost_bps, x, mine[2], mine[3]))
            self._answered.clear()
        self._pending[obs.decision] = (x, action, sample, logp)
        if len(self._pending) > PENDING_MAX:  # risk-denied decisions never answer
            self._pending.pop(next(iter(self._pending)))
        return venue, fraction, post

    def between_batches(self) -> None:
        """Once per market batch, off the decision path: ``rehearse`` keeps the whole path (JAX's dispatch
        included) in the CPU's caches between decisions that come every few hundred ms on the wall clock,
        every few thousand ticks on the simulated one. A threaded online learner starts here (once)."""
        self.rehearse()
        if self.explore > 0 and self.name == "ppo":
            self.draw_ahead()
        if self.learner is not None and self.learner.threaded:
            self.learner.between_batches()

    def draw_ahead(self, need: int = 0) -> None:
        """PPO exploring: keep ``need`` (and at least half a batch of) standard normals of ``_rng`` drawn
        ahead, in the order one draw per exploring decision takes them (one stream, nothing else draws)."""
        left = self._normals[self._normal_at :]
        if len(left) >= max(need, NORMALS_AHEAD // 2):
            return
        self._normals = left + self._rng.standard_normal(max(need, NORMALS_AHEAD)).tolist()
        self._normal_at = 0

    def learn_due(self) -> None:
        """Before a parent order is routed: an inline learner (simulated clock) takes the update it
        has queued enough answers for. Paced by decisions and answers, never by batches, so the
        engine's batch length cannot change what the router learns or decides."""
        if self.learner is not None and not self.learner.threaded and self.learner.between_batches():
            self.rehearse()  # the update went through the CPU's caches: the decision after it must not pay

    def update(self, state: Any, transition: Transition) -> Any:
        """The answer to one of this router's decisions: a transition for the learner at the next
        decision, whose observation is its next state. A dark pool's answer teaches its fill-share learner
        (the next observation's, recomputed here: off the decision path)."""
        if self.dark_book.learn(transition):
            self.dark_shares = self.dark_book.fill_shares(self.parent_qty)
        if self.fine_tune and transition.decision in self._pending:
            x, action, sample, logp = self._pending[transition.decision]
            if isinstance(logp, tuple):  # an exploring PPO decision: its log-probability, as numpy sums it
                noise, log_std, active = np.asarray(logp[0]), logp[1], logp[2]
                logp = float(np.sum(np.where(active, -0.5 * noise**2 - log_std - 0.5 * _LOG_2PI, 0.0)))
                self._pending[transition.decision] = (x, action, np.asarray(sample), logp)
            self._answered.append((transition.decision, transition.cost_bps))
        return state

    def record_answer(self, venue: int, rt_us: float) -> None:
        """Every answer in the session, whichever router sent the order: the forecaster learns from it."""
        if self.forecaster is not None:
            self.forecaster.record(venue, rt_us)

    def seed_latency(self, ewma_us: tuple[float, ...], last_us: tuple[float, ...]) -> None:
        """Switched to mid-session: the forecaster starts from what the session has measured."""
        if self.forecaster is not None:
            self.forecaster.seed(ewma_us, last_us)

    def close(self) -> None:
        if self.learner is not None:
            self.learner.close()

    def online_stats(self) -> dict[str, Any] | None:
        return None if self.learner is None else self.learner.stats()

    def arm_stats(self, state: Any) -> dict[str, list[float]] | None:
        """For the console: the latency forecaster's forecast of each venue's next round trip."""
        return None if self.forecaster is None else {"forecast_us": list(self.forecaster.forecast)}


_NO_SAMPLE = np.zeros(0, dtype=np.float32)
_POSITIVE = (0).__lt__  # ``s > 0`` as a C-level callable: ``shows`` without a generator
_HUNDRED = repeat(100.0)  # endless and stateless: shared by every decision
_log = math.log
# a (mask, shows) pair's observation eligibility values, its allowed actions (DQN) or eligible venues
# (PPO), and the PPO sample's active outputs (the eligible logits and the take/post split)
_Row = tuple[list[float], tuple[int, ...], np.ndarray]


class _Sink:
    """The scratch copy's learner: takes what a decision hands over and keeps nothing."""

    threaded = False

    def add(self, item: Any) -> None:
        pass

    def between_batches(self) -> bool:
        return False
