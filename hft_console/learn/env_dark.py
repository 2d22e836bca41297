"""Dark pools in the routing environment: the router's censored-feedback learner and each world's liquidity.

The router's learner is ``routing/dark.py`` (Ganchev et al. 2010: a Kaplan-Meier estimate of each pool's
hidden-liquidity tail from fills that only show min(order, hidden)), run here under jit exactly as the
live policy runs it with numpy, on the same grid (``layout.DARK_LEVELS`` share levels): the environment
keeps it in its state, as it keeps the measured round trips, because it is what the router knows, not
what the world is. Its estimate of the fill share a whole parent would meet is a block of the agents'
observation (``observe``) and what the ``dark-km`` router reads.

A pool's liquidity is not the same every day nor for every stock: each world (a training environment or
an evaluation scenario) draws its pools' hidden-size law around the configured one (``vary_liquidity``),
so the learner has something to find out that the configuration does not already say.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hft_console.routing import dark
from hft_console.routing.dark import DarkState
from hft_console.routing.models.layout import DARK_LEVELS

# the spread of a world's dark liquidity around the configured law: zero_prob ~ Beta with the configured
# mean and concentration ZERO_CONCENTRATION; the mean hidden size x a mean-one lognormal of sigma SIZE_SIGMA
ZERO_CONCENTRATION = 3.0
SIZE_SIGMA = 0.6


def km_start(n_venues: int) -> DarkState:
    """No knowledge yet, for every venue (only the dark ones' rows ever learn): every tail probability 1."""
    return dark.dark_init(n_venues, DARK_LEVELS, xp=jnp)


def km_learn(km: DarkState, venue: jax.Array, qty: jax.Array, filled: jax.Array, seen: jax.Array) -> DarkState:
    """``km`` after an order of ``qty`` shares to dark venue ``venue`` filled ``filled``; unchanged unless
    ``seen`` (the pool answered: an outage or a reject says nothing about its liquidity). Only that venue's
    row is recomputed (O(levels), not O(venues x levels))."""
    row = jax.tree.map(lambda a: a[venue][None], km)
    new = dark.dark_observe(row, qty[None], filled[None], xp=jnp)
    # one row written in place (a select over the whole state would copy every row each step)
    learned: DarkState = jax.tree.map(lambda a, b: a.at[venue].set(jnp.where(seen, b[0], a[venue])), km, new)
    return learned


def fill_share_feature(km: DarkState, is_dark: jax.Array, qty: jax.Array | float) -> jax.Array:
    """``(V,)`` the learned share of a ``qty``-share order each dark venue would fill, E[min(qty, H)]/qty
    (1 for a pool not tried yet: optimistic), 0 at a lit venue."""
    return jnp.where(is_dark > 0, dark.fill_share_estimate(km, qty, xp=jnp), 0.0)


def vary_liquidity(key: jax.Array, mean_shares: jax.Array, zero_prob: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One world's hidden-liquidity law per venue from the configured ``(V,)`` arrays (0 at lit venues,
    kept 0): zero_prob ~ Beta(c z, c (1 - z)) (mean z), the mean size x exp(sigma N - sigma^2 / 2) (mean 1)."""
    k_zero, k_size = jax.random.split(key)
    z = jnp.clip(zero_prob, 1e-3, 1 - 1e-3)
    drawn = jax.random.beta(k_zero, ZERO_CONCENTRATION * z, ZERO_CONCENTRATION * (1 - z))
    scale = jnp.exp(SIZE_SIGMA * jax.random.normal(k_size, mean_shares.shape) - SIZE_SIGMA**2 / 2)
    dark_pool = mean_shares > 0
    return jnp.where(dark_pool, mean_shares * scale, mean_shares), jnp.where(dark_pool, drawn, zero_prob)
