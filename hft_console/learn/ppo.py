"""PPO router: a diagonal Gaussian over per-venue logits whose softmax over the eligible venues is the
allocation, plus one logit that splits take from post, trained end to end under one ``jax.jit`` on a
mix of calm, congested and degraded worlds.

Structure follows purejaxrl: a ``lax.scan`` over updates holding the rollout scan (vmapped envs), a
reverse-scan GAE, and epoch ⊃ minibatch scans; the chunk of updates is compiled once and called
repeatedly so ``progress`` can be reported from the host between calls.

The networks, the allocation (logits -> venue and share), the log-density, the clipped objective and
``MIN_FRACTION`` (why it is 1.0) are ``routing/models/ppo.py``, shared with the live session; this
module trains. The live engine re-asks with the chosen venue masked out, so the rest of the parent
follows the allocation renormalised over the remaining venues. See ``PPOConfig.min_fraction`` to
train with a floor anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax  # type: ignore[import-untyped]  # optax 0.2.8 ships no py.typed

from hft_console.learn.env import EnvParams, EnvState, observe, params_from_settings, reset, step
from hft_console.learn.evaluate import EvalRouter, draw_world, keep_state
from hft_console.routing.models import latency
from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.layout import obs_dim
from hft_console.routing.models.ppo import (
    LOG_2PI,
    MIN_FRACTION,
    active,
    actor_for,
    apply,
    clipped_policy_loss,
    decision,
    log_prob,
    networks,
)
from hft_console.settings import Settings


class PPOConfig(NamedTuple):
    num_envs: int = 128  # vectorised envs per update
    num_steps: int = 50  # rollout length per env per update (episode_len is a multiple of it)
    num_updates: int = 96  # 96 x 128 x 50 = 614k env steps (train in <= 120 s with the forecaster and DQN)
    num_chunks: int = 8  # host calls of the one compiled chunk (progress is reported between them)
    update_epochs: int = 4
    num_minibatches: int = 4
    gamma: float = 0.9  # short horizon: a decision's effect fades with the EWMA it updates
    gae_lambda: float = 0.9
    clip_eps: float = 0.2  # policy ratio clip, also the value clip
    vf_coef: float = 0.5
    ent_coef: float = 0.0  # the Gaussian's learned log_std explores; a bonus only widens it
    max_grad_norm: float = 0.5
    lr: float = 1e-3  # initial Adam step; then KL-adapted within [lr_min, lr_max]
    lr_min: float = 1e-5
    lr_max: float = 3e-3
    kl_target: float = 0.01  # per update: lr /= lr_factor above 2x target, *= lr_factor below target/2
    lr_factor: float = 1.5
    init_log_std: float = 0.0  # logits' noise; logits start near 0 (output layer scaled by 0.01)
    reward_center: float = 0.2  # reward = (reward_center - cost_bps) * reward_scale: ~[-25, 6]
    reward_scale: float = 10.0  # venue differences are ~0.01-0.1 bps; x10 keeps value targets O(1)
    episode_len: int = 200  # fresh world (new regime draw, EWMA at its prior) every this many steps
    regime_probs: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # calm, congested, degraded
    hidden: int = 64
    min_fraction: float = MIN_FRACTION
    reward: str = "expected"  # "expected": the action's mean cost in the hidden state; "realised": this draw's


DEFAULT = PPOConfig()


class Runner(NamedTuple):
    params: Params
    opt_state: Any
    env: EnvState  # batched
    world: EnvParams  # batched: each env's regime
    key: jax.Array


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array  # the sampled logits
    eligible: jax.Array
    logp: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    cost_bps: jax.Array


def init_params(key: jax.Array, n_venues: int, cfg: PPOConfig = DEFAULT) -> Params:
    """``{"actor", "critic"}`` linen param dicts and ``log_std`` (n_venues + 1,), all plain nested dicts."""
    actor, critic = networks(n_venues, cfg.hidden)
    x = jnp.zeros(obs_dim(n_venues))
    ka, kc = jax.random.split(key)
    a = actor.init(ka, x)["params"]
    # a near-uniform start so PPO's first steps explore every venue evenly (purejaxrl: gain 0.01)
    last = f"Dense_{len(a) - 1}"
    a = {**a, last: {"kernel": a[last]["kernel"] * 0.01, "bias": a[last]["bias"] * 0.0}}
    log_std = jnp.full(n_venues + 1, cfg.init_log_std)
    return {"actor": a, "critic": critic.init(kc, x)["params"], "log_std": log_std}


def _make_chunk(base: EnvParams, cfg: PPOConfig, updates: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``init(key) -> Runner`` and ``chunk(Runner) -> (Runner, metrics)`` running ``updates`` updates."""
    n_ven = int(base.median_us.shape[0])
    actor, critic = networks(n_ven, cfg.hidden)
    probs = jnp.asarray(cfg.regime_probs, dtype=jnp.float32)
    batch_size = cfg.num_envs * cfg.num_steps
    mb_size = batch_size // cfg.num_minibatches
    assert cfg.episode_len % cfg.num_steps == 0 and batch_size % cfg.num_minibatches == 0

    def make_opt(learning_rate: float) -> optax.GradientTransformation:
        return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(learning_rate, eps=1e-5))

    opt = optax.inject_hyperparams(make_opt)(learning_rate=cfg.lr)  # lr lives in opt_state: jit-adaptable

    def fresh(key: jax.Array) -> tuple[EnvState, EnvParams]:
        k_w, k_r = jax.random.split(key)
        # 0, 1 or 2 with odds probs
        world, start = draw_world(k_w, base, lambda k: jnp.sum(jax.random.uniform(k) > jnp.cumsum(probs)[:-1]))
        return reset(k_r, world, start), world

    def init(key: jax.Array) -> Runner:
        k_p, k = jax.random.split(key)
        params = init_params(k_p, n_ven, cfg)
        # placeholder worlds already at their episode's end: the first update draws the real ones,
        # so drawing and resetting worlds is compiled once (in the chunk), not twice (~3 s on 2 cores)
        env = jax.tree.map(lambda x: jnp.broadcast_to(x, (cfg.num_envs, *jnp.shape(x))), reset(k, base))
        env = env._replace(t=jnp.full(cfg.num_envs, cfg.episode_len, jnp.int32))
        world = jax.tree.map(lambda x: jnp.broadcast_to(x, (cfg.num_envs, *jnp.shape(x))), base)
        return Runner(params, opt.init(params), env, world, k)

    def policy(params: Params, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        return apply(actor, params["actor"], obs), apply(critic, params["critic"], obs)[..., 0]

    def env_step(carry: tuple[Params, EnvState, EnvParams, jax.Array], _: Any) -> tuple[Any, Batch]:
        params, env, world, key = carry
        key, k_noise, k_env = jax.random.split(key, 3)
        obs = jax.vmap(observe)(env, world)
        mean, value = policy(params, obs)
        action = mean + jnp.exp(params["log_std"]) * jax.random.normal(k_noise, mean.shape)
        logp = log_prob(action, mean, params["log_std"], active(env.eligible))
        venue, fraction, post = decision(action, env.eligible, env.near_size > 0, cfg.min_fraction)
        keys = jax.random.split(k_env, cfg.num_envs)
        env2, info = jax.vmap(step)(keys, env, venue, fraction, world, post)
        scored = info.expected_bps if cfg.reward == "expected" else info.cost_bps  # see learn/dqn.py's notes
        reward = (cfg.reward_center - scored) * cfg.reward_scale
        done = env2.t >= cfg.episode_len  # the episode's last step: GAE does not bootstrap past it
        batch = Batch(obs, action, env.eligible, logp, value, reward, done, info.cost_bps)
        return (params, env2, world, key), batch

    def gae(batch: Batch, last_value: jax.Array) -> tuple[jax.Array, jax.Array]:
        def back(carry: tuple[jax.Array, jax.Array], t: Batch) -> tuple[Any, jax.Array]:
            adv, next_value = carry
            live = 1.0 - t.done
            delta = t.reward + cfg.gamma * next_value * live - t.value
            adv = delta + cfg.gamma * cfg.gae_lambda * live * adv
            return (adv, t.value), adv

        _, adv = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value), batch, reverse=True)
        return adv, adv + batch.value

    def loss_fn(params: Params, mb: Batch, adv: jax.Array, ret: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean, value = policy(params, mb.obs)
        logp = log_prob(mb.action, mean, params["log_std"], active(mb.eligible))
        log_ratio = logp - mb.logp
        ratio = jnp.exp(log_ratio)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg = clipped_policy_loss(ratio, adv, cfg.clip_eps)
        v_clip = mb.value + jnp.clip(value - mb.value, -cfg.clip_eps, cfg.clip_eps)
        v_loss = 0.5 * jnp.maximum((value - ret) ** 2, (v_clip - ret) ** 2).mean()
        per_dim = params["log_std"] + 0.5 * (LOG_2PI + 1)  # entropy of the eligible dims, as in log_prob
        entropy = jnp.sum(jnp.where(active(mb.eligible), per_dim, 0.0), axis=-1).mean()
        kl = ((ratio - 1) - log_ratio).mean()  # the low-variance k3 estimator of KL(old || new)
        return pg + cfg.vf_coef * v_loss - cfg.ent_coef * entropy, jnp.stack([kl, v_loss, entropy])

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def update(runner: Runner, _: Any) -> tuple[Runner, jax.Array]:
        key, k_reset, k_perm = jax.random.split(runner.key, 3)
        # every episode_len steps all envs start a fresh world (they are in lockstep)
        new_env, new_world = jax.vmap(fresh)(jax.random.split(k_reset, cfg.num_envs))
        over = runner.env.t[0] >= cfg.episode_len
        env = jax.tree.map(lambda a, b: jnp.where(over, a, b), new_env, runner.env)
        world = jax.tree.map(lambda a, b: jnp.where(over, a, b), new_world, runner.world)
        (_, env, _, key), batch = jax.lax.scan(env_step, (runner.params, env, world, key), None, length=cfg.num_steps)
        _, last_value = policy(runner.params, jax.vmap(observe)(env, world))
        adv, ret = gae(batch, last_value)
        flat = jax.tree.map(lambda x: x.reshape((batch_size, *x.shape[2:])), (batch, adv, ret))

        def epoch(carry: tuple[Params, Any], k: jax.Array) -> tuple[Any, jax.Array]:
            perm = jax.random.permutation(k, batch_size)
            mbs = jax.tree.map(lambda x: x[perm].reshape((cfg.num_minibatches, mb_size, *x.shape[1:])), flat)

            def minibatch(c: tuple[Params, Any], mb: tuple[Batch, jax.Array, jax.Array]) -> tuple[Any, jax.Array]:
                params, opt_state = c
                grads, aux = grad_fn(params, *mb)
                updates, opt_state = opt.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), aux

            return jax.lax.scan(minibatch, carry, mbs)

        (params, opt_state), aux = jax.lax.scan(
            epoch, (runner.params, runner.opt_state), jax.random.split(k_perm, cfg.update_epochs)
        )
        kl, v_loss, entropy = aux.reshape(-1, 3).mean(0)
        # KL-targeted step size: shrink it after too large a policy move, grow it when moves are tiny
        lr = opt_state.hyperparams["learning_rate"]
        lr = jnp.where(
            kl > 2 * cfg.kl_target, lr / cfg.lr_factor, jnp.where(kl < cfg.kl_target / 2, lr * cfg.lr_factor, lr)
        )
        lr = jnp.clip(lr, cfg.lr_min, cfg.lr_max)
        opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr})
        metrics = jnp.stack([batch.cost_bps.mean(), kl, v_loss, entropy, lr, jnp.mean(params["log_std"])])
        return Runner(params, opt_state, env, world, key), metrics

    def chunk(runner: Runner) -> tuple[Runner, jax.Array]:
        return jax.lax.scan(update, runner, None, length=updates)

    return init, chunk


METRICS = ("cost_bps", "approx_kl", "value_loss", "entropy", "lr", "log_std")


def train(
    settings: Settings,
    cfg: PPOConfig = DEFAULT,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    predictor: Params | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train on ``settings``' venues; returns numpy params and metadata (env steps, steps/s, compile s,
    train s, config, per-chunk training curve)."""
    if cfg.num_updates % cfg.num_chunks:
        raise ValueError(f"num_updates {cfg.num_updates} is not a multiple of num_chunks {cfg.num_chunks}")
    predictor = latency.shared_weights() if predictor is None else predictor
    base = params_from_settings(settings, predictor=predictor)
    init, chunk = _make_chunk(base, cfg, cfg.num_updates // cfg.num_chunks)
    key = jax.random.key(seed)
    started = time.perf_counter()
    init_c = jax.jit(init).lower(key).compile()
    runner = init_c(key)
    chunk_c = jax.jit(chunk, donate_argnums=0).lower(runner).compile()  # compiled once, called num_chunks times
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    curve = []
    for i in range(cfg.num_chunks):
        runner, metrics = chunk_c(runner)
        m = np.asarray(metrics)  # (updates, len(METRICS)); also waits for the chunk
        curve.append({name: round(float(v), 6) for name, v in zip(METRICS, m.mean(0), strict=True)})
        if progress is not None:
            progress((i + 1) / cfg.num_chunks)
    train_s = time.perf_counter() - started
    steps = cfg.num_updates * cfg.num_envs * cfg.num_steps
    params = jax.tree.map(np.asarray, runner.params)
    meta = {
        "env_steps": steps,
        "latency_fingerprint": latency.fingerprint(predictor),
        "env_steps_per_s": round(steps / train_s),
        "compile_s": round(compile_s, 2),
        "train_s": round(train_s, 2),
        "config": cfg._asdict(),
        "hidden": [cfg.hidden, cfg.hidden],
        "activation": "tanh",
        "min_fraction": cfg.min_fraction,
        "reward": f"({cfg.reward_center} - cost_bps) * {cfg.reward_scale}",
        "curve": curve,
    }
    return params, meta


def eval_router(params: Params, min_fraction: float = MIN_FRACTION) -> EvalRouter:
    """The deterministic policy for ``evaluate.py``: mean logits, no learning within a scenario."""
    actor = jax.tree.map(jnp.asarray, params["actor"])  # works on traced params too (jit over params)
    net = actor_for(actor)

    def act(state: Any, s: EnvState, obs: jax.Array, key: jax.Array, p: EnvParams) -> tuple[Any, Any, Any, Any]:
        venue, fraction, post = decision(apply(net, actor, obs), s.eligible, s.near_size > 0, min_fraction)
        return state, venue, fraction, post

    return EvalRouter(lambda key: jnp.zeros((), jnp.int32), act, keep_state)
