"""DQN and PPO routers in the live engine: a trained checkpoint, one forward pass per decision.

``inference = "jit"`` (the default) runs the jitted JAX/Flax forward pass over a plain dict of
parameters, with synchronous CPU dispatch (set before JAX's first computation: the async hand-off
costs more than the work on two cores) and no randomness inside the jit; ``"numpy"`` runs the same
parameters through the numpy mirror (``models/numpy_mlp.py``), held equal to the jitted pass by a
parity test. The observation is laid out as ``models/layout.py`` says, exactly as the training
environment's ``observe`` builds it (held equal by a test), the latency forecaster's forecasts included
(``forecast.py``: every answer in the session feeds it). The networks come from ``routing/models``
(imported when a learned router is built: they import JAX).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hft_console.routing.learned.forecast import LatencyForecaster
from hft_console.routing.learned.online import OnlineLearner
from hft_console.routing.models import checkpoint
from hft_console.routing.models.layout import CHOICES, obs_dim
from hft_console.routing.models.numpy_mlp import NumpyMLP
from hft_console.routing.policy import Observation, PolicySpec, Transition

LEARNED_NAMES = ("dqn", "ppo")
_COMPILED: dict[tuple[object, ...], Callable[..., Any]] = {}
WARM_UP_CALLS = 200
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
        self.choices: tuple[tuple[bool, float], ...] = ((False, 1.0),)
        self.posts = True  # its actions include posting a child (``RouterRunner.may_post``)
        self.min_fraction = 1.0
        self.parent_qty = 100.0
        self._forward: Callable[[np.ndarray], np.ndarray] | None = None
        self._forward_list: Callable[[np.ndarray], list[float]] | None = None
        self._tail: list[float] = []
        self._last_x: np.ndarray | None = None
        self._weights: Any = None
        self._incoming: Any = None  # (weights, log_std) from the learner thread
        self._applied: Any = None
        self._make_weights: Callable[[dict[str, Any]], Any] | None = None
        self.forecaster: LatencyForecaster | None = None
        self.explore = 0.0
        self.fine_tune = False
        self.learner: OnlineLearner | None = None
        self._rng = np.random.default_rng(0)
        self._log_std: np.ndarray | None = None
        self._pending: dict[int, tuple[np.ndarray, int, np.ndarray, float]] = {}
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
        self._tail = [*self.fee_ticks, self.parent_qty / 100.0, 1.0]
        self.choices = CHOICES
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
        # the whole decision path once over, so the first real decision is not also the first call of each piece
        prior = tuple(float(x) for x in spec.prior_latency_us)
        size = (int(spec.parent_qty),) * n
        dummy = Observation(1, int(spec.parent_qty), (1.0,) * n, size, prior,
                            tuple(float(f) for f in spec.taker_fee), (True,) * n, 100.0, 0, prior, size)  # fmt: skip
        for _ in range(WARM_UP_CALLS // 4):
            self.act(None, dummy, 1.0)
        self.fine_tune, self.explore = spec.fine_tune, spec.explore if spec.fine_tune else 0.0
        self.learner = OnlineLearner(
            self.name, params, self.meta, self.forecaster, self.publish, spec.learning == "thread",
            np.random.default_rng([key, 1]), fine_tune=spec.fine_tune,
        )  # fmt: skip
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
            self._forward = lambda x: self._weights(x)
            self._forward_list = lambda x: self._weights.as_list(x)
        self._weights = self._make_weights(params)

    def publish(self, params: dict[str, Any]) -> None:
        """New weights from the learner (built there, taken up before the next decision)."""
        assert self._make_weights is not None
        log_std = np.asarray(params["log_std"], dtype=np.float64) if self.name == "ppo" else None
        self._incoming = (self._make_weights(params), log_std)  # one assignment: weights and std together

    def act(self, state: Any, obs: Observation, key: float) -> tuple[int, float, bool]:
        """The observation and the choice in plain Python: on six venues, numpy's per-call cost would
        be most of the decision. Held equal to ``learn.env.observe`` and to the networks' argmax by tests."""
        assert self._forward_list is not None and self.forecaster is not None, "init() first"
        incoming = self._incoming
        if incoming is not self._applied:  # a newer publish than the one in use (never lost: no reset)
            self._weights, log_std = incoming
            self._log_std = log_std if log_std is not None else self._log_std
            self._applied = incoming
        forecaster = self.forecaster
        # the parent size the agent was trained on, not what is left of this parent: a follow-up
        # child must look like the decisions seen in training
        qty = self.parent_qty
        last = obs.last_rt_us or obs.latency_us
        near = obs.near_size or (0,) * len(obs.mask)  # not shown: no post anywhere
        values = [1.0 if m else 0.0 for m in obs.mask]
        values += [min(s / qty, 4.0) for s in obs.size]
        values += [min(s / qty, 4.0) for s in near]
        values += [math.log(x / 100.0) for x in obs.latency_us]
        values += [math.log(x / 100.0) for x in last]
        values += forecaster.log_forecast
        values += self._tail
        x = np.array(values, dtype=np.float32)
        self._last_x = x
        out = self._forward_list(x)
        shows = tuple(s > 0 for s in near)
        if not self.fine_tune:
            if self.name == "dqn":
                return decide_q(out, obs.mask, shows, self.choices)
            return decide_allocation(out, obs.mask, shows, self.min_fraction)
        return self._act_online(obs, shows, x, out, key)

    def _act_online(
        self, obs: Observation, shows: tuple[bool, ...], x: np.ndarray, out: list[float], key: float
    ) -> tuple[int, float, bool]:
        """As ``act``, exploring on a share ``explore`` of decisions (``key`` is the decision's uniform
        draw), and keeping the decision to pair with its answer. This decision's observation is the next
        state of every decision answered since the last one: as in the environment, where a step's next
        observation comes after its answer."""
        explored = key < self.explore
        sample, logp = _NO_SAMPLE, math.nan
        choices = self.choices
        k = len(choices)
        if self.name == "dqn":
            if explored:
                allowed = [a for a, q in enumerate(out) if _allowed(a, k, choices, obs.mask, shows) and q > -1e5]
                action = allowed[int(self._rng.integers(len(allowed)))]
                venue, (post, fraction) = action // k, choices[action % k]
            else:
                venue, fraction, post = decide_q(out, obs.mask, shows, choices)
                action = venue * k + choices.index((post, fraction))
        else:
            action = 0
            if explored:
                log_std = self._log_std
                assert log_std is not None
                noise = self._rng.standard_normal(len(out))
                sample = np.asarray(out) + np.exp(log_std) * noise
                active = np.asarray([*obs.mask, True])  # the eligible logits and the take/post split
                logp = float(np.sum(np.where(active, -0.5 * noise**2 - log_std - 0.5 * _LOG_2PI, 0.0)))
                venue, fraction, post = decide_allocation(sample.tolist(), obs.mask, shows, self.min_fraction)
            else:
                venue, fraction, post = decide_allocation(out, obs.mask, shows, self.min_fraction)
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
        """Called once per market batch. One forward pass on the last observation, its answer unused:
        it keeps the decision path (JAX's dispatch included) in the CPU's caches between decisions
        that come only every few hundred ms on the wall clock. A threaded online learner starts here
        (the first time); it then learns on its own thread between batches."""
        if self._forward is not None and self._last_x is not None:
            self._forward(self._last_x)
        if self.learner is not None and self.learner.threaded:
            self.learner.between_batches()

    def learn_due(self) -> None:
        """Before a parent order is routed: an inline learner (simulated clock) takes the update it
        has queued enough answers for. Paced by decisions and answers, never by batches, so the
        engine's batch length cannot change what the router learns or decides."""
        if self.learner is not None and not self.learner.threaded:
            self.learner.between_batches()

    def update(self, state: Any, transition: Transition) -> Any:
        """The answer to one of this router's decisions: a transition for the learner at the next
        decision, whose observation is its next state."""
        if self.fine_tune and transition.decision in self._pending:
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


def _allowed(
    a: int, k: int, choices: tuple[tuple[bool, float], ...], mask: tuple[bool, ...], shows: tuple[bool, ...]
) -> bool:
    venue = a // k
    return mask[venue] and (shows[venue] or not choices[a % k][0])


def decide_q(
    q: list[float], mask: tuple[bool, ...], shows: tuple[bool, ...], choices: tuple[tuple[bool, float], ...]
) -> tuple[int, float, bool]:
    """DQN: the allowed (venue, take/post, share) action with the highest Q — an eligible venue, a post
    only where our side shows something (``shows``; never a dark venue): the greedy argmax of
    ``models.dqn.masked``, in plain Python. Returns (venue, share, post); ``ValueError`` when no venue
    is eligible."""
    k = len(choices)
    best, action = -math.inf, -1
    for a, value in enumerate(q):
        if value > best and _allowed(a, k, choices, mask, shows):
            best, action = value, a
    if action < 0:
        raise ValueError("no eligible venue to route to")
    post, share = choices[action % k]
    return action // k, share, post


def decide_allocation(
    out: list[float], mask: tuple[bool, ...], shows: tuple[bool, ...], min_fraction: float
) -> tuple[int, float, bool]:
    """PPO: the eligible venue with the largest share of the mean allocation, that share, and a post
    when the split (the last output) is above 0 and our side shows something there
    (``models.ppo.decision`` in plain Python)."""
    logits = out[:-1]
    venue = max((v for v, ok in enumerate(mask) if ok), key=logits.__getitem__)
    top = logits[venue]
    total = sum(math.exp(x - top) for x, ok in zip(logits, mask, strict=True) if ok)
    return venue, min(1.0, max(min_fraction, 1.0 / total)), out[-1] > 0 and shows[venue]
