"""The DQN router's network, its greedy forward passes and its Double-DQN loss: what training
(``learn/dqn.py``), the online learner and the live policy share.

Action ``a = venue * N_CHOICES + k`` does ``layout.CHOICES[k]`` (take or post, a share of the parent) at
``venue``; ineligible venues (the observation's first ``V`` entries are eligibility), and posts where
nothing shows on our side (a dark venue), are masked to -inf when acting and inside the target's argmax.
Parameters are linen's ``{"params": {"Dense_i": ...}}``.
"""

from __future__ import annotations

from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import optax  # type: ignore[import-untyped]  # optax 0.2.8 ships no py.typed

from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.layout import CHOICES, SIZE_FRACTIONS
from hft_console.routing.models.nets import MLP
from hft_console.routing.models.numpy_mlp import NumpyMLP

N_CHOICES = len(CHOICES)
ALL_CHOICES = tuple(range(N_CHOICES))


def whole_child(action: int) -> int:
    """The action at the same venue and of the same kind (take/post) for the whole child."""
    venue, k = divmod(action, N_CHOICES)
    return venue * N_CHOICES + (k // len(SIZE_FRACTIONS)) * len(SIZE_FRACTIONS)


def network(params: Params) -> MLP:
    """The linen module matching ``params`` (its shapes are static, also under jit)."""
    inner = params["params"]
    layers = [inner[f"Dense_{i}"]["kernel"].shape for i in range(len(inner))]
    return MLP(hidden=tuple(int(s[1]) for s in layers[:-1]), out=int(layers[-1][1]))


def apply(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    """Q-values ``(..., V * N_CHOICES)`` of observations ``(..., obs_dim)``."""
    return cast(jax.Array, net.apply(params, x))


def masked(q: jax.Array, obs: jax.Array, n_venues: int, choices: tuple[int, ...] = ALL_CHOICES) -> jax.Array:
    """Q at -inf for every choice at an ineligible venue (eligibility is the observation's head), for
    posts where our side shows nothing (the third block of ``V``: a dark venue) and for choices the
    agent may not use."""
    eligible = jnp.repeat(obs[..., :n_venues] > 0.5, N_CHOICES, axis=-1)
    shows = jnp.repeat(obs[..., 2 * n_venues : 3 * n_venues] > 0, N_CHOICES, axis=-1)
    posts = jnp.tile(jnp.asarray([post for post, _ in CHOICES]), n_venues)
    ok = jnp.tile(jnp.isin(jnp.arange(N_CHOICES), jnp.asarray(choices)), n_venues)
    return jnp.where(eligible & ok & (shows | ~posts), q, -jnp.inf)


def pin_off(params: Params, choices: tuple[int, ...]) -> Params:
    """Choices the agent may not use get Q = -1e6 exactly (zero weights, that bias), so any consumer's
    greedy argmax skips them without knowing the config (finite: checkpoints refuse non-finite
    parameters). ``params``: numpy leaves; returns a new dict, the input untouched."""
    inner = params["params"]
    last = f"Dense_{len(inner) - 1}"
    off = np.tile(~np.isin(np.arange(N_CHOICES), choices), inner[last]["bias"].shape[0] // N_CHOICES)
    kernel, bias = np.array(inner[last]["kernel"]), np.array(inner[last]["bias"])
    kernel[:, off], bias[off] = 0.0, -1e6
    return {"params": {**inner, last: {"kernel": kernel, "bias": bias}}}


def double_dqn_loss(
    net: MLP,
    params: Params,
    target: Params,
    batch: tuple[jax.Array, jax.Array, jax.Array, jax.Array],
    n_venues: int,
    choices: tuple[int, ...],
    gamma: float,
    huber_delta: float,
) -> jax.Array:
    """Mean Huber loss (``huber_delta``) of Q(obs, action) against reward + gamma * Q_target(next,
    a*), where the online network picks a* among the next state's eligible actions and allowed
    ``choices``. ``batch``: obs ``(B, D)``, action ``(B,)`` int32, reward ``(B,)``, next obs ``(B, D)``.
    Training and the live session's fine-tuning both minimise this."""
    obs, action, reward, next_obs = batch
    q = jnp.take_along_axis(apply(net, params, obs), action[:, None], axis=1)[:, 0]
    # Double DQN: the online network picks the next action among eligible venues, the target values it
    best = jnp.argmax(masked(apply(net, params, next_obs), next_obs, n_venues, choices), axis=1)
    q_next = jnp.take_along_axis(apply(net, target, next_obs), best[:, None], axis=1)[:, 0]
    y = jax.lax.stop_gradient(reward + gamma * q_next)
    return jnp.mean(optax.huber_loss(q, y, delta=huber_delta))


@jax.jit
def q_values(params: Params, obs: jax.Array) -> jax.Array:
    """Q-values of one observation: a jitted linen apply over the plain dict (no randomness inside)."""
    return apply(network(params), params, obs)


_NP_CACHE: dict[int, tuple[Params, NumpyMLP]] = {}


def q_values_np(params_np: Params, obs: np.ndarray) -> np.ndarray:
    """``q_values`` in numpy, with buffers preallocated per params dict (treated as immutable: the
    weights are read once, on the first call with that dict)."""
    hit = _NP_CACHE.get(id(params_np))
    if hit is None or hit[0] is not params_np:
        if len(_NP_CACHE) >= 8:  # a few live checkpoints at most; keep the memory bounded
            _NP_CACHE.pop(next(iter(_NP_CACHE)))
        hit = _NP_CACHE[id(params_np)] = (params_np, NumpyMLP(params_np))
    return hit[1](obs)
