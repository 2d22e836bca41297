"""Pretraining of the latency forecaster's shared starting weights, and its error report against the
EWMA and a plain moving average.

Data: round trips answered in the JAX routing environment to a router picking uniformly among the
venues at the touch, a third of the worlds each calm, congested and degraded — each example is a
venue's history and EWMA before an answer, and the answer. Training: Adam on shuffled minibatches,
one ``jax.jit``. The report replays fresh worlds (another seed) with the forecaster learning online
from the pretrained weights, as the environment and the live session run it, and scores every
answer's forecast made just before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax  # type: ignore[import-untyped]  # optax 0.2.8 ships no py.typed

from hft_console.learn import env
from hft_console.learn.env import EnvParams, EnvState
from hft_console.learn.evaluate import scenario_params
from hft_console.routing.models import latency
from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.layout import CLIP, HISTORY
from hft_console.settings import Settings
from hft_console.venues.regimes import REGIMES

MA_WINDOW = 8  # answers in the plain moving average the error report compares against


class PretrainConfig(NamedTuple):
    envs_per_regime: int = 256
    steps: int = 400  # answers per world
    epochs: int = 4
    batch_size: int = 1024
    lr: float = 3e-3


DEFAULT = PretrainConfig()


class Answer(NamedTuple):
    venue: jax.Array
    rt_us: jax.Array
    x: jax.Array  # the answering venue's features before the answer
    ewma_us: jax.Array  # its EWMA before the answer
    forecast_us: jax.Array  # its forecast before the answer
    ma_us: jax.Array  # the plain moving average of its last MA_WINDOW answers


def _random_router_answers(world: EnvParams, key: jax.Array, start: jax.Array, steps: int) -> Answer:
    """One world's answers, in order, to a router picking uniformly among the eligible venues."""
    n = world.median_us.shape[0]
    k_reset, k_run = jax.random.split(key)
    s0 = env.reset(k_reset, world, start)
    window0 = jnp.broadcast_to(world.prior_rt_us[:, None], (n, MA_WINDOW))

    def body(carry: tuple[EnvState, jax.Array], k: jax.Array) -> tuple[Any, Answer]:
        s, window = carry
        k_pick, k_step = jax.random.split(k)
        venue = jnp.argmax(jnp.where(s.eligible, jax.random.uniform(k_pick, (n,)), -1.0))
        x = latency.features(jnp, s.fc.hist_us, s.fc.ewma_us, world.prior_rt_us)[venue]
        before = (s.fc.ewma_us[venue], s.fc.forecast_us[venue], jnp.mean(window[venue]))
        s, info = env.step(k_step, s, venue, jnp.ones(()), world)
        shifted = jnp.concatenate([jnp.full((n, 1), info.rt_us), window[:, :-1]], axis=1)
        window = jnp.where((jnp.arange(n) == venue)[:, None], shifted, window)
        return (s, window), Answer(venue, info.rt_us, x, *before)

    _, out = jax.lax.scan(body, (s0, window0), jax.random.split(k_run, steps))
    return out


def answers(base: EnvParams, envs_per_regime: int, steps: int, seed: int) -> dict[str, Answer]:
    """Per regime, ``(envs, steps)`` answers from fresh worlds."""
    run = jax.jit(jax.vmap(lambda w, k, s0: _random_router_answers(w, k, s0, steps)))
    key = jax.random.key(seed)
    out = {}
    for i, regime in enumerate(REGIMES):
        k_world, k_run = jax.random.split(jax.random.fold_in(key, i))
        worlds, start = scenario_params(base, regime, envs_per_regime, k_world)
        out[regime] = run(worlds, jax.random.split(k_run, envs_per_regime), start)
    return out


def pretrain(
    settings: Settings,
    seed: int = 0,
    cfg: PretrainConfig = DEFAULT,
    progress: Callable[[float], None] | None = None,
) -> tuple[Params, dict[str, Any]]:
    """Shared starting weights fitted to the config's venues in every regime; metadata with the
    error report."""
    started = time.perf_counter()
    base = env.params_from_settings(settings, predictor=latency.untrained())
    data = answers(base, cfg.envs_per_regime, cfg.steps, seed)
    x = jnp.concatenate([a.x.reshape(-1, latency.N_FEATURES) for a in data.values()])
    y = jnp.concatenate([jnp.clip(jnp.log(a.rt_us / a.ewma_us), -CLIP, CLIP).reshape(-1) for a in data.values()])
    n_batches = x.shape[0] // cfg.batch_size
    tx = optax.adam(cfg.lr)

    def batch_loss(params: Params, xb: jax.Array, yb: jax.Array) -> jax.Array:
        return jnp.mean(jax.vmap(latency.loss, in_axes=(None, 0, 0))(params, xb, yb))

    def epoch(carry: tuple[Params, Any], key: jax.Array) -> tuple[Any, jax.Array]:
        order = jax.random.permutation(key, x.shape[0])[: n_batches * cfg.batch_size].reshape(n_batches, -1)

        def one(c: tuple[Params, Any], idx: jax.Array) -> tuple[Any, jax.Array]:
            params, opt_state = c
            value, grads = jax.value_and_grad(batch_loss)(params, x[idx], y[idx])
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        carry, losses = jax.lax.scan(one, carry, order)
        return carry, jnp.mean(losses)

    @jax.jit
    def fit(key: jax.Array) -> tuple[Params, jax.Array]:
        params = latency.init_shared(key)
        (params, _), losses = jax.lax.scan(epoch, (params, tx.init(params)), jax.random.split(key, cfg.epochs))
        return params, losses

    params, losses = fit(jax.random.key(seed))
    params = latency.numpy_params(params)
    train_s = time.perf_counter() - started
    if progress is not None:
        progress(0.7)
    report = error_report(env.params_from_settings(settings, predictor=params), seed=seed + 1)
    if progress is not None:
        progress(1.0)
    meta = {
        "network": {
            "hidden": [latency.HIDDEN],
            "activation": "tanh",
            "features": latency.N_FEATURES,
            "history": HISTORY,
        },
        "config": cfg._asdict(),
        "online_lr": latency.ONLINE_LR,
        "examples": int(x.shape[0]),
        "train_loss_first": round(float(losses[0]), 5),
        "train_loss_last": round(float(losses[-1]), 5),
        "train_s": round(train_s, 2),
        "evaluation": report,
    }
    return params, meta


def _errors(forecast: np.ndarray, rt: np.ndarray) -> dict[str, float]:
    return {
        "mae_us": round(float(np.mean(np.abs(forecast - rt))), 1),
        "mae_log": round(float(np.mean(np.abs(np.log(forecast / rt)))), 4),
    }


def error_report(world: EnvParams, scenarios: int = 64, steps: int = 400, seed: int = 1) -> dict[str, Any]:
    """Per regime: the forecaster's error on every answer against the EWMA's and a moving average's
    (``mae_us``: mean absolute error in µs, timeouts included; ``mae_log``: mean |log(forecast/actual)|)."""
    out: dict[str, Any] = {}
    for regime, a in answers(world, scenarios, steps, seed).items():
        rt = np.asarray(a.rt_us, dtype=np.float64).ravel()
        rows = {
            "forecaster": _errors(np.asarray(a.forecast_us, dtype=np.float64).ravel(), rt),
            "ewma": _errors(np.asarray(a.ewma_us, dtype=np.float64).ravel(), rt),
            f"moving_average_{MA_WINDOW}": _errors(np.asarray(a.ma_us, dtype=np.float64).ravel(), rt),
        }
        out[regime] = {**rows, "answers": int(rt.size)}
    return out
