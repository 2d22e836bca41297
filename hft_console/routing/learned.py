"""DQN and PPO routers in the live engine: a trained checkpoint, one forward pass per decision.

``inference = "jit"`` (the default) runs the jitted JAX/Flax forward pass over a plain dict of
parameters, with synchronous CPU dispatch (set before JAX's first computation: the async hand-off
costs more than the work on two cores) and no randomness inside the jit; ``"numpy"`` runs the same
parameters through the numpy mirror, held equal to the jitted pass by a parity test. The observation
is built exactly as the training environment builds it (``learn.env.observe_np``).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from hft_console.routing.policy import Observation, PolicySpec, Transition

LEARNED_NAMES = ("dqn", "ppo")


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
        self.fees = np.zeros(0, dtype=np.float32)
        self._decide: Callable[[np.ndarray, np.ndarray], tuple[int, float]] | None = None
        self._forward: Callable[[np.ndarray], np.ndarray] | None = None

    def init(self, key: int, spec: PolicySpec) -> Any:
        """Load and check the checkpoint (``CheckpointError`` when it is missing, corrupt or made for
        other venues) and warm the forward pass up, so the first decision pays no compile."""
        from hft_console.learn import checkpoint
        from hft_console.learn.env import obs_dim

        self.backend = spec.inference
        if self.backend == "jit":
            _sync_dispatch()
        n = len(spec.venues)
        params, self.meta = checkpoint.load(checkpoint.models_dir(), self.name, list(spec.venues), obs_dim(n))
        agent: Any = importlib.import_module(f"hft_console.learn.{self.name}")
        self._decide = agent.decide
        if self.backend == "jit":
            import jax.numpy as jnp

            device_params = _tree_map(jnp.asarray, params)
            forward = agent.q_values_jit if self.name == "dqn" else agent.logits_jit
            self._forward = lambda x: np.asarray(forward(device_params, x))
        else:
            forward_np = agent.q_values_np if self.name == "dqn" else agent.logits_np
            self._forward = lambda x: np.asarray(forward_np(params, x))
        self.tick, self.fees = spec.tick, np.asarray(spec.taker_fee, dtype=np.float32)
        self._forward(np.zeros(obs_dim(n), dtype=np.float32))
        return None

    def act(self, state: Any, obs: Observation, key: float) -> tuple[int, float]:
        from hft_console.learn.env import observe_np

        assert self._forward is not None and self._decide is not None, "init() first"
        mask = np.array(obs.mask, dtype=bool)
        last = obs.last_rt_us or obs.latency_us
        x = observe_np(
            mask, np.array(obs.size, dtype=np.float32), np.array(obs.latency_us, dtype=np.float32),
            np.array(last, dtype=np.float32), self.fees, float(obs.qty), self.tick,
        )  # fmt: skip
        venue, fraction = self._decide(self._forward(x), mask)
        return int(venue), float(fraction)

    def update(self, state: Any, transition: Transition) -> Any:
        return state

    def arm_stats(self, state: Any) -> dict[str, list[float]] | None:
        return None


def _tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)
