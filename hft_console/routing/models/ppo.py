"""The PPO router's networks, its allocation and log-density, and its clipped policy objective: what
training (``learn/ppo.py``), the online learner and the live policy share.

A diagonal Gaussian over per-venue logits whose softmax over the eligible venues is the allocation.
Allocation -> action (the same in training, evaluation and the live ``decide_allocation``): the venue
is the argmax of the (sampled in training, mean otherwise) logits over eligible venues, and the
fraction of the parent is that venue's softmax weight clipped to ``[min_fraction, 1]``.
``MIN_FRACTION`` is 1.0 (whole child to the argmax venue): the environment scores each child on its
own notional, and the square-root impact per share falls with the child's size, so any smaller floor
is learned as "always send the smallest slice" — a gain the environment never charges for, which
also beats the oracle spuriously. The actor's last output is the take/post split: the child rests (a
POST_ONLY at our side's touch) when it is above 0 and the venue shows something on our side (a dark
venue takes no posts), else it takes. Parameters: ``{"actor", "critic"}`` inner linen dicts and
``log_std`` ``(V + 1,)``.
"""

from __future__ import annotations

import math
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.nets import MLP
from hft_console.routing.models.numpy_mlp import NumpyMLP

MIN_FRACTION = 1.0  # see the module docstring: smaller floors exploit per-child scoring
LOG_2PI = math.log(2 * math.pi)


def networks(n_venues: int, hidden: int) -> tuple[MLP, MLP]:
    """The actor (``V`` logits and the post logit) and the critic (one value), two tanh layers of
    ``hidden`` each."""
    return MLP((hidden, hidden), n_venues + 1, "tanh"), MLP((hidden, hidden), 1, "tanh")


def active(eligible: jax.Array) -> jax.Array:
    """The action dimensions that change the world: the eligible venues' logits and the post logit."""
    return jnp.concatenate([eligible, jnp.ones((*eligible.shape[:-1], 1), bool)], axis=-1)


def decision(
    action: jax.Array, eligible: jax.Array, shows: jax.Array, min_fraction: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(venue, fraction, post)`` of an action ``(..., V + 1)``: ``allocation`` over the venue logits,
    and a post when the last entry is above 0 and the venue shows something on our side (``shows``)."""
    venue, fraction = allocation(action[..., :-1], eligible, min_fraction)
    post = (action[..., -1] > 0) & jnp.take_along_axis(shows, venue[..., None], axis=-1)[..., 0]
    return venue, fraction, post


def apply(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    """``net`` on observations ``(..., obs_dim)`` with its inner param dict (actor's or critic's)."""
    return cast(jax.Array, net.apply({"params": params}, x))  # linen's apply is typed as a union


def allocation(logits: jax.Array, eligible: jax.Array, min_fraction: float) -> tuple[jax.Array, jax.Array]:
    """The venue (argmax over eligible logits) and its softmax share among eligible venues, clipped to
    ``[min_fraction, 1]``; leading axes batch."""
    masked = jnp.where(eligible, logits, -jnp.inf)
    venue = jnp.argmax(masked, axis=-1)
    weight = jnp.max(jax.nn.softmax(masked, axis=-1), axis=-1)  # the argmax venue's share
    return venue, jnp.clip(weight, min_fraction, 1.0)


def log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array, eligible: jax.Array) -> jax.Array:
    """Diagonal Gaussian log-density over the ``eligible`` dimensions only (``active``: the eligible
    logits and the post logit): ineligible ones change nothing in the world, so their noise would only
    add variance to the gradient."""
    z = (action - mean) * jnp.exp(-log_std)
    per = -0.5 * z * z - log_std - 0.5 * LOG_2PI
    return jnp.sum(jnp.where(eligible, per, 0.0), axis=-1)


def clipped_policy_loss(ratio: jax.Array, adv: jax.Array, clip_eps: float) -> jax.Array:
    """PPO's clipped surrogate, negated and averaged: the policy term training and the live session's
    fine-tuning both minimise. ``ratio`` = new / old probability, ``adv`` the advantages, same shape."""
    return -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()


def actor_for(actor: Params) -> MLP:
    """The actor module matching a params dict (widths read from the dense layers' biases)."""
    widths = [int(actor[f"Dense_{i}"]["bias"].shape[0]) for i in range(len(actor))]
    return MLP(tuple(widths[:-1]), widths[-1], "tanh")


@jax.jit
def actor_mean(actor: Params, obs: jax.Array) -> jax.Array:
    """The actor's mean outputs ``(V + 1,)`` for one observation (jitted linen apply, no randomness)."""
    return apply(actor_for(actor), actor, obs)


_np_cache: list[tuple[Params, NumpyMLP]] = []  # the one params dict the live engine uses, kept alive


def logits_np(params_np: Params, obs: np.ndarray) -> np.ndarray:
    """``actor_mean`` in numpy, from the full params; buffers are built once per params dict."""
    if not _np_cache or _np_cache[0][0] is not params_np:
        _np_cache[:] = [(params_np, NumpyMLP(params_np["actor"], "tanh"))]
    return _np_cache[0][1](obs)
