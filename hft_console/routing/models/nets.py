"""The tiny Flax MLP shared by the learned routers and the latency forecaster: a linen module whose
parameters are a plain nested dict (``init``/``apply``, fast under ``jax.jit``). Its numpy mirror for
the live engine is ``numpy_mlp.NumpyMLP``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"relu": nn.relu, "tanh": jnp.tanh}


class MLP(nn.Module):
    """``in -> hidden... -> out`` dense layers (named ``Dense_0``, ``Dense_1``, ...), the activation
    between hidden layers and none on the output."""

    hidden: Sequence[int]
    out: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for width in self.hidden:
            x = act(nn.Dense(width)(x))
        return nn.Dense(self.out)(x)
