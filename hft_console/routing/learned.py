"""DQN and PPO routers in the live engine: a trained checkpoint, one forward pass per decision.

``inference = "jit"`` (the default) runs the jitted JAX/Flax forward pass over a plain dict of
parameters, with synchronous CPU dispatch (set before JAX's first computation: the async hand-off
costs more than the work on two cores) and no randomness inside the jit; ``"numpy"`` runs the same
parameters through the numpy mirror, held equal to the jitted pass by a parity test. The observation
is built exactly as the training environment builds it (``learn.env.observe_np``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hft_console.routing.policy import Observation, PolicySpec, Transition

LEARNED_NAMES = ("dqn", "ppo")
_FORWARDS: dict[tuple[object, ...], Callable[[np.ndarray], np.ndarray]] = {}
WARM_UP_CALLS = 200


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
        self.sizes: tuple[float, ...] = (1.0,)
        self.min_fraction = 1.0
        self.parent_qty = 100.0
        self._forward: Callable[[np.ndarray], np.ndarray] | None = None

    def init(self, key: int, spec: PolicySpec) -> Any:
        """Load and check the checkpoint (``CheckpointError`` when it is missing, corrupt or made for
        other venues) and warm the forward pass up, so the first decision pays no compile."""
        self.backend = spec.inference
        if self.backend == "jit":
            _sync_dispatch()  # before anything below can start JAX
        from hft_console.learn import checkpoint
        from hft_console.learn.env import SIZE_FRACTIONS, obs_dim

        n = len(spec.venues)
        directory = checkpoint.models_dir()
        params, self.meta = checkpoint.load(directory, self.name, list(spec.venues), obs_dim(n))
        agent: Any = importlib.import_module(f"hft_console.learn.{self.name}")
        # one compiled forward pass per checkpoint and backend in a process: backtests build an engine
        # per scenario, and a compile per engine would cost more than the scenario
        blob = (directory / f"{self.name}.msgpack").stat()
        cache_key = (self.name, self.backend, str(directory), tuple(spec.venues), blob.st_mtime_ns, blob.st_size)
        self._forward = _FORWARDS.get(cache_key)
        self.tick = spec.tick
        self.parent_qty = spec.parent_qty
        self.fee_ticks = [float(f) / spec.tick for f in spec.taker_fee]
        self.sizes = tuple(SIZE_FRACTIONS)
        self.min_fraction = float(getattr(agent, "MIN_FRACTION", 1.0))
        warm = np.random.default_rng(0).normal(size=(WARM_UP_CALLS, obs_dim(n))).astype(np.float32)
        try:
            if self._forward is None:
                if self.backend == "jit":
                    self._forward = _jitted_forward(agent, self.name, params)
                else:
                    forward_np = agent.q_values_np if self.name == "dqn" else agent.logits_np
                    self._forward = functools.partial(forward_np, params)
                _FORWARDS[cache_key] = self._forward
            for x in warm:  # compile, then let the runtime settle: the first calls after a compile are slow
                out = self._forward(x)
        except Exception as exc:  # any failure here means the parameters do not fit the network
            _FORWARDS.pop(cache_key, None)
            self._forward = None
            raise checkpoint.CheckpointError(
                f"{directory / (self.name + '.msgpack')}: parameters do not fit the {self.name} network "
                f"({type(exc).__name__})"
            ) from None
        expected = n * len(self.sizes) if self.name == "dqn" else n
        if out.shape != (expected,):
            _FORWARDS.pop(cache_key, None)
            self._forward = None
            raise checkpoint.CheckpointError(
                f"{directory / (self.name + '.msgpack')}: the network answers {out.shape[0]} values, "
                f"expected {expected}"
            )
        return None

    def act(self, state: Any, obs: Observation, key: float) -> tuple[int, float]:
        """The observation and the choice in plain Python: on six venues, numpy's per-call cost would
        be most of the decision. Held equal to ``env.observe`` and the agents' ``decide`` by tests."""
        assert self._forward is not None, "init() first"
        # the parent size the agent was trained on, not what is left of this parent: a follow-up
        # child must look like the decisions seen in training
        qty = self.parent_qty
        last = obs.last_rt_us or obs.latency_us
        values = [1.0 if m else 0.0 for m in obs.mask]
        values += [min(s / qty, 4.0) for s in obs.size]
        values += [math.log(x / 100.0) for x in obs.latency_us]
        values += [math.log(x / 100.0) for x in last]
        values += self.fee_ticks
        values += [qty / 100.0, 1.0]
        out = self._forward(np.array(values, dtype=np.float32)).tolist()
        if self.name == "dqn":
            return decide_q(out, obs.mask, self.sizes)
        return decide_allocation(out, obs.mask, self.min_fraction)

    def update(self, state: Any, transition: Transition) -> Any:
        return state

    def arm_stats(self, state: Any) -> dict[str, list[float]] | None:
        return None


def decide_q(q: list[float], mask: tuple[bool, ...], sizes: tuple[float, ...]) -> tuple[int, float]:
    """DQN: the eligible (venue, share) action with the highest Q (``dqn.decide`` in plain Python)."""
    k = len(sizes)
    best, action = -math.inf, -1
    for a, value in enumerate(q):
        if mask[a // k] and value > best:
            best, action = value, a
    if action < 0:
        raise ValueError("no eligible venue to route to")
    return action // k, sizes[action % k]


def decide_allocation(logits: list[float], mask: tuple[bool, ...], min_fraction: float) -> tuple[int, float]:
    """PPO: the eligible venue with the largest share of the mean allocation, and that share
    (``ppo.decide`` in plain Python)."""
    venue = max((v for v, ok in enumerate(mask) if ok), key=logits.__getitem__)
    top = logits[venue]
    total = sum(math.exp(x - top) for x, ok in zip(logits, mask, strict=True) if ok)
    return venue, min(1.0, max(min_fraction, 1.0 / total))


def _jitted_forward(agent: Any, name: str, params: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The agent's jitted forward pass with the parameters baked in as constants: no pytree of
    parameters to flatten per call, which measured fastest for single observations here."""
    import jax
    import jax.numpy as jnp

    if name == "dqn":
        inner, weights = agent._q_jit, _tree_map(jnp.asarray, params)
    else:
        inner, weights = agent._actor_mean, _tree_map(jnp.asarray, params["actor"])
    compiled = jax.jit(lambda x: inner(weights, x))
    return lambda x: np.asarray(compiled(x))


def _tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)
