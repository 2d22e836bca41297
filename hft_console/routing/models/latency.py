"""A per-venue round-trip forecaster: a small Flax MLP trained online, whose forecast the DQN and PPO
observation carries (layout 2).

The forecast is the venue's measured EWMA times a learned correction: the network reads the venue's
last ``HISTORY`` round trips and its EWMA, each as a log ratio (to the EWMA; the EWMA to the venue's
calm prior), and predicts the log ratio of the next round trip to the EWMA. In log terms no venue is
special, so one set of pretrained weights (``models/latency.*``, ``hft-console train --agent
latency``) starts every venue of any venue set; each venue then gets its own copy, moved by one SGD
step (Huber loss, so a timeout does not throw it) on every answer that venue gives. An untrained
network answers 0, which is the EWMA itself.

A loss in log space (Huber) makes the forecast a typical (median-like) round trip where the EWMA is a
mean pulled up by spikes and timeouts; the error report (``learn/latency_train.py``) therefore shows
both mean absolute error in µs and in log ratio, against the EWMA and a plain moving average.

``features`` works on numpy or jnp arrays; everything else here is pure jnp: ``record`` (vmapped
over venues) is what the JAX routing environment calls on every step, ``sgd_steps_masked`` what the
live session's learner applies to a batch of answers (``routing/learned/forecast.py`` mirrors the rest
in numpy). The network's answer is clipped to ±``CLIP`` in both. ``HISTORY``, ``ALPHA`` and ``CLIP``
live in ``layout.py``, which the JAX-free live forecaster reads too. Pretraining is
``learn/latency_train.py``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax  # type: ignore[import-untyped]  # optax 0.2.8 ships no py.typed

from hft_console.routing.models import checkpoint
from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.layout import ALPHA, CLIP, HISTORY, OBS_VERSION
from hft_console.routing.models.nets import MLP

HIDDEN = 16
ONLINE_LR = 0.01  # SGD step per answer, per venue
HUBER_DELTA = 1.0
N_FEATURES = HISTORY + 1
NET = MLP((HIDDEN,), 1, "tanh")


class Forecast(NamedTuple):
    """Per venue, leading axis V: the venue's own weights, its last answers (newest first), its
    EWMA, and the forecast of its next round trip."""

    params: Params
    hist_us: jax.Array  # (V, HISTORY)
    ewma_us: jax.Array  # (V,)
    forecast_us: jax.Array  # (V,)


def features(xp: Any, hist_us: Any, ewma_us: Any, prior_us: Any) -> Any:
    """``(..., V, HISTORY)``, ``(..., V)``, ``(..., V)`` -> ``(..., V, N_FEATURES)`` with numpy or jnp."""
    h = xp.clip(xp.log(hist_us / ewma_us[..., None]), -CLIP, CLIP)
    e = xp.clip(xp.log(ewma_us / prior_us), -CLIP, CLIP)[..., None]
    return xp.concatenate([h, e], axis=-1).astype(xp.float32)


def init_shared(key: jax.Array) -> Params:
    """Fresh shared weights answering 0 (the forecast starts as the EWMA)."""
    params = cast(Params, NET.init(key, jnp.zeros((N_FEATURES,), jnp.float32))["params"])
    return {**params, "Dense_1": {"kernel": params["Dense_1"]["kernel"] * 0.0, "bias": params["Dense_1"]["bias"]}}


def _apply(params: Params, x: jax.Array) -> jax.Array:
    return cast(jax.Array, NET.apply({"params": params}, x))[..., 0]


def _per_venue(params: Params, x: jax.Array) -> jax.Array:
    return jax.vmap(_apply)(params, x)


def stacked(shared: Params, n_venues: int) -> Params:
    """The shared weights copied per venue: every leaf gets a leading axis ``n_venues``."""
    return cast(
        Params, jax.tree.map(lambda leaf: jnp.broadcast_to(jnp.asarray(leaf), (n_venues, *jnp.shape(leaf))), shared)
    )


def start(shared: Params, prior_us: jax.Array, ewma_us: jax.Array | None = None) -> Forecast:
    """Every venue at its prior (or at a measured EWMA), with the shared weights."""
    n = prior_us.shape[0]
    ewma = prior_us if ewma_us is None else ewma_us
    hist = jnp.broadcast_to(ewma[:, None], (n, HISTORY))
    params = stacked(shared, n)
    x = features(jnp, hist, ewma, prior_us)
    return Forecast(params, hist, ewma, ewma * jnp.exp(jnp.clip(_per_venue(params, x), -CLIP, CLIP)))


def loss(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Huber loss (``HUBER_DELTA``) of one venue's weights on one example: features ``(N_FEATURES,)``,
    target log ratio ``()``."""
    return cast(jax.Array, optax.huber_loss(_apply(params, x), y, delta=HUBER_DELTA))


def record(f: Forecast, venue: jax.Array, rt_us: jax.Array, prior_us: jax.Array, lr: float = ONLINE_LR) -> Forecast:
    """``venue`` answered after ``rt_us``: one SGD step on its weights (the example is the forecast it
    just made), then its history, EWMA and forecast move on."""
    n = prior_us.shape[0]
    hit = jnp.arange(n) == venue
    x = features(jnp, f.hist_us, f.ewma_us, prior_us)
    y = jnp.clip(jnp.log(rt_us / f.ewma_us), -CLIP, CLIP)
    grads = jax.vmap(jax.grad(loss))(f.params, x, y)
    params = jax.tree.map(
        lambda p, g: p - lr * jnp.where(hit.reshape((n,) + (1,) * (p.ndim - 1)), g, 0.0), f.params, grads
    )
    shifted = jnp.concatenate([jnp.full((n, 1), rt_us), f.hist_us[:, :-1]], axis=1)
    hist = jnp.where(hit[:, None], shifted, f.hist_us)
    ewma = jnp.where(hit, f.ewma_us + ALPHA * (rt_us - f.ewma_us), f.ewma_us)
    forecast = ewma * jnp.exp(jnp.clip(_per_venue(params, features(jnp, hist, ewma, prior_us)), -CLIP, CLIP))
    return Forecast(params, hist, ewma, forecast)


@functools.partial(jax.jit, static_argnames=("lr",))
def sgd_steps_masked(
    params: Params, venues: jax.Array, x: jax.Array, y: jax.Array, mask: jax.Array, lr: float = ONLINE_LR
) -> Params:
    """``record``'s weight updates for a sequence of answers (``venues`` ``(B,)``, features
    ``(B, N_FEATURES)``, targets ``(B,)``), in order, on the per-venue weights: what the live session's
    learner applies. Examples with ``mask`` 0 are padding (batches padded to a few sizes, so the
    learner compiles once per size)."""

    def one(p: Params, example: tuple[jax.Array, jax.Array, jax.Array, jax.Array]) -> tuple[Params, None]:
        v, xv, yv, m = example
        g = jax.grad(loss)(jax.tree.map(lambda leaf: leaf[v], p), xv, yv)
        return jax.tree.map(lambda leaf, gl: leaf.at[v].add(-lr * m * gl), p, g), None

    out, _ = jax.lax.scan(one, params, (venues, x, y, mask))
    return out


def numpy_params(params: Params) -> dict[str, Any]:
    """The same tree with float32 numpy leaves (for the numpy forecaster and for checkpoints)."""
    return cast(dict[str, Any], jax.tree.map(lambda leaf: np.asarray(leaf, dtype=np.float32), params))


def untrained() -> Params:
    """Fresh shared weights from a fixed key: a forecaster that answers the EWMA."""
    return init_shared(jax.random.key(0))


_SHARED: dict[tuple[str, int, int], Params] = {}


def shared_weights(directory: Path | None = None) -> Params:
    """The shipped (or ``HFT_MODELS_DIR``'s) pretrained starting weights; an untrained forecaster
    (the EWMA) when there are none. The agents' checkpoints name the weights they were trained with
    (``latency_fingerprint``), so a mismatch is caught when they load (``agents.load_agent``)."""
    directory = checkpoint.models_dir() if directory is None else directory
    blob = directory / "latency.msgpack"
    try:
        stat = blob.stat()
    except OSError:
        return untrained()
    key = (str(blob), stat.st_mtime_ns, stat.st_size)
    if key not in _SHARED:
        try:
            params, _ = checkpoint.load(directory, "latency", None, None, OBS_VERSION)
        except checkpoint.CheckpointError:
            return untrained()
        _SHARED[key] = params
    return _SHARED[key]


def fingerprint(params: Params) -> str:
    """A short digest of forecaster weights, recorded in the agents' checkpoints."""
    from flax import serialization

    blob = serialization.msgpack_serialize(jax.tree.map(lambda x: np.asarray(x, dtype=np.float32), params))
    return hashlib.sha256(blob).hexdigest()[:16]
