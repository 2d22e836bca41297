"""A Double-DQN router trained end to end under one ``jax.jit`` on the JAX routing environment.

Action ``a = venue * len(CHOICES) + k`` does ``CHOICES[k]`` at ``venue``: take or post (a POST_ONLY
resting for the strategy's time to live) a share of the parent; ineligible venues (not at the
consolidated best price: the observation's first ``V`` entries), and posts at a dark venue, are masked
to -inf when acting and inside the target's argmax/max. The agent trains on a vmapped batch of
environments, each drawing its own regime (calm / congested / degraded with a random degraded venue,
started congested as the evaluation does) at every episode start, so one network serves all three.

Training is purejaxrl-shaped: a ``lax.scan`` over updates; each update rolls every environment a few
steps with ε-greedy actions, writes the transitions into a ring buffer kept in the carry (plain jnp,
no flashbax), then, once the buffer holds ``learning_starts`` transitions, takes gradient steps
(``lax.cond``) and refreshes the target network every ``target_period`` learn steps (``lax.cond``,
``optax.incremental_update``). The scan is split into ``chunks`` calls of the same compiled function
so ``progress`` can be reported between them; it is compiled once, ahead of time, and timed apart.

Reward: ``-(cost_bps - reward_center) * reward_scale``. Takes cost 0.3-0.6 bps and posts -0.4 bps
(filled: half the spread and the rebate earned) to 1.5-2.5 bps (missed: the move away and the re-send),
so costs are centred at 0.2 and scaled to unit size. A post's fill and miss differ by about 2 bps (20
reward units) and a take's by about 0.5 bp, so the Huber loss's quadratic zone is 10 units: a narrow
one acts as an L1 loss on most targets and Q drifts to the median outcome (a fill) instead of the mean,
blind to fill odds — with posts filling about 80% of the time, every post then looks better than it
is (takes alone, a delta of 3 had sufficed).

By default (``reward = "expected"``) the reward is not the draw's cost but its expectation given the
environment's hidden state and the action (``StepInfo.expected_bps``: the oracle's expected cost of
that take or post there — latency integrated over the model, outages and rejects, a post's simulated
table by venue and pressure — plus the rest of the parent as scored). The router never sees the
hidden state; averaged over the hidden states behind one observation, that expectation is the
realised cost's expectation, so Q learns the same values, without the two basis points of luck
between a post's fill and its miss that otherwise swamp differences of hundredths of a bp (a
Rao-Blackwellised reward). Evaluation always scores the realised costs. The network, its forward passes and the loss
are ``routing/models/dqn.py`` (the live session fine-tunes with the same loss); this module trains.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax  # type: ignore[import-untyped]

from hft_console.learn.env import EnvParams, EnvState, observe, params_from_settings, reset, step
from hft_console.learn.evaluate import EvalRouter, draw_world, keep_state
from hft_console.routing.models import latency
from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.dqn import N_CHOICES, apply, double_dqn_loss, masked, network, pin_off
from hft_console.routing.models.layout import CHOICES, obs_dim
from hft_console.routing.models.nets import MLP
from hft_console.settings import Settings


class DQNConfig(NamedTuple):
    """Hyperparameters. Env steps trained = ``num_envs * rollout_steps * updates_per_chunk * chunks``."""

    hidden: tuple[int, ...] = (64, 64)  # MLP widths, relu
    num_envs: int = 128  # environments stepped in parallel (vmap)
    rollout_steps: int = 4  # steps per environment between learning phases
    updates_per_chunk: int = 200  # updates per compiled call
    chunks: int = 8  # calls of that function (progress is reported between them)
    grad_steps: int = 2  # gradient steps per update once learning has started
    batch_size: int = 256  # transitions per gradient step, uniform from the buffer
    buffer_size: int = 65_536  # ring buffer capacity (a multiple of num_envs * rollout_steps)
    learning_starts: int = 8_192  # transitions in the buffer before the first gradient step
    lr: float = 1e-3  # Adam
    max_grad_norm: float = 10.0  # global-norm clip before Adam
    gamma: float = 0.5  # discount; the world's hidden state moves on regardless of our action
    huber_delta: float = 10.0  # Huber loss's quadratic zone, in reward units (see the module notes)
    target_period: int = 100  # learn steps between target updates
    tau: float = 1.0  # target step size at each update (1.0 = hard copy, < 1 = Polyak)
    eps_start: float = 1.0  # ε-greedy, linear from eps_start to eps_end ...
    eps_end: float = 0.02
    eps_fraction: float = 0.4  # ... over this share of the updates
    reward_center: float = 0.2  # reward = -(cost_bps - reward_center) * reward_scale
    reward_scale: float = 10.0
    episode_len: int = 200  # steps before an environment restarts in a fresh world (as evaluation does)
    regime_mix: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # calm, congested, degraded
    choices: tuple[int, ...] = (0, 1, 2, 3)  # which CHOICES the agent may use (the others are pinned off)
    reward: str = "expected"  # the action's mean cost in the hidden state (module notes), or "realised"

    @property
    def env_steps(self) -> int:
        return self.num_envs * self.rollout_steps * self.updates_per_chunk * self.chunks


DEFAULT_CONFIG = DQNConfig()


Transitions = tuple[jax.Array, jax.Array, jax.Array, jax.Array]  # obs, action, reward, next obs


class Buffer(NamedTuple):
    obs: jax.Array  # (size, D)
    action: jax.Array  # (size,) int32
    reward: jax.Array  # (size,)
    next_obs: jax.Array  # (size, D)
    pos: jax.Array  # next write index
    filled: jax.Array  # entries written so far, at most size


class Carry(NamedTuple):
    params: Params
    target: Params
    opt_state: optax.OptState
    buffer: Buffer
    env_state: EnvState  # batched over environments
    env_params: EnvParams  # batched: each environment's own regime
    obs: jax.Array  # (N, D), the current observations
    key: jax.Array
    update: jax.Array  # updates done (drives ε)
    learn_steps: jax.Array


class Metrics(NamedTuple):
    cost_bps: jax.Array  # mean over the update's rollout
    loss: jax.Array  # mean over its gradient steps (0 before learning starts)
    eps: jax.Array


def make_train(
    settings: Settings, cfg: DQNConfig, predictor: Params | None = None
) -> tuple[Callable[[jax.Array], Carry], Callable[[Carry], tuple[Carry, Metrics]]]:
    """``init(key) -> carry`` and ``chunk(carry) -> (carry, per-update metrics)``, both pure.
    ``predictor``: the latency forecaster's starting weights (default: the shipped ones)."""
    base = params_from_settings(settings, predictor=predictor)
    n_ven = int(base.median_us.shape[0])
    dim, n_act = obs_dim(n_ven), n_ven * N_CHOICES
    net = MLP(hidden=cfg.hidden, out=n_act)
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr))
    mix = jnp.asarray(cfg.regime_mix) / sum(cfg.regime_mix)
    fractions = jnp.asarray([share for _, share in CHOICES])
    posts = jnp.asarray([post for post, _ in CHOICES])
    per_update = cfg.num_envs * cfg.rollout_steps
    if cfg.buffer_size % per_update or cfg.buffer_size < max(cfg.learning_starts, cfg.batch_size):
        raise ValueError(f"buffer_size must be a multiple of {per_update} and hold learning_starts and a batch")
    decay_updates = max(1.0, cfg.eps_fraction * cfg.updates_per_chunk * cfg.chunks)

    def fresh_env(key: jax.Array) -> tuple[EnvState, EnvParams]:
        k_world, k_reset = jax.random.split(key)
        p, start = draw_world(k_world, base, lambda k: jax.random.choice(k, 3, p=mix))
        return reset(k_reset, p, start), p

    def env_step(
        key: jax.Array, s: EnvState, p: EnvParams, action: jax.Array
    ) -> tuple[EnvState, EnvParams, jax.Array, jax.Array, jax.Array]:
        k_step, k_new = jax.random.split(key)
        k = action % N_CHOICES
        s, info = step(k_step, s, action // N_CHOICES, fractions[k], p, posts[k])
        next_obs = observe(s, p)  # before any restart: episodes only end by time, so we bootstrap
        s_new, p_new = fresh_env(k_new)
        done = s.t >= cfg.episode_len
        s, p = jax.tree.map(lambda a, b: jnp.where(done, a, b), (s_new, p_new), (s, p))
        return s, p, next_obs, info.cost_bps, info.expected_bps if cfg.reward == "expected" else info.cost_bps

    def init(key: jax.Array) -> Carry:
        k_net, k_env, key = jax.random.split(key, 3)
        params = cast(Params, net.init(k_net, jnp.zeros((dim,), jnp.float32)))
        env_state, env_params = jax.vmap(fresh_env)(jax.random.split(k_env, cfg.num_envs))
        obs = jax.vmap(observe)(env_state, env_params)
        size = cfg.buffer_size
        buffer = Buffer(
            jnp.zeros((size, dim)), jnp.zeros((size,), jnp.int32), jnp.zeros((size,)), jnp.zeros((size, dim)),
            jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
        )  # fmt: skip
        zero = jnp.zeros((), jnp.int32)
        return Carry(params, params, tx.init(params), buffer, env_state, env_params, obs, key, zero, zero)

    def act(params: Params, obs: jax.Array, key: jax.Array, eps: jax.Array) -> jax.Array:
        k_explore, k_pick = jax.random.split(key)
        q = masked(apply(net, params, obs), obs, n_ven, cfg.choices)
        greedy = jnp.argmax(q, axis=-1)
        # exploring: uniform over the eligible actions (the largest of uniform draws on the unmasked ones)
        explore = jnp.argmax(jnp.where(jnp.isfinite(q), jax.random.uniform(k_pick, q.shape), -1.0), axis=-1)
        return jnp.where(jax.random.uniform(k_explore, greedy.shape) < eps, explore, greedy)

    def loss_fn(params: Params, target: Params, batch: Transitions) -> jax.Array:
        return double_dqn_loss(net, params, target, batch, n_ven, cfg.choices, cfg.gamma, cfg.huber_delta)

    def grad_step(c: Carry, key: jax.Array) -> tuple[Carry, jax.Array]:
        idx = jax.random.randint(key, (cfg.batch_size,), 0, c.buffer.filled)
        b = c.buffer
        batch = (b.obs[idx], b.action[idx], b.reward[idx], b.next_obs[idx])
        loss, grads = jax.value_and_grad(loss_fn)(c.params, c.target, batch)
        updates, opt_state = tx.update(grads, c.opt_state, c.params)
        params = optax.apply_updates(c.params, updates)
        learn_steps = c.learn_steps + 1
        target = jax.lax.cond(
            learn_steps % cfg.target_period == 0,
            lambda: optax.incremental_update(params, c.target, cfg.tau),
            lambda: c.target,
        )
        return c._replace(params=params, target=target, opt_state=opt_state, learn_steps=learn_steps), loss

    def learn(c: Carry, key: jax.Array) -> tuple[Carry, jax.Array]:
        c, losses = jax.lax.scan(grad_step, c, jax.random.split(key, cfg.grad_steps))
        return c, jnp.mean(losses)

    def update(c: Carry, _: None) -> tuple[Carry, Metrics]:
        key, k_roll, k_learn = jax.random.split(c.key, 3)
        eps = cfg.eps_end + (cfg.eps_start - cfg.eps_end) * jnp.clip(1.0 - c.update / decay_updates, 0.0, 1.0)

        def roll(carry: tuple[EnvState, EnvParams, jax.Array], k: jax.Array) -> tuple[Any, tuple[jax.Array, ...]]:
            s, p, obs = carry
            k_act, k_env = jax.random.split(k)
            action = act(c.params, obs, k_act, eps)
            s, p, next_obs, cost, scored = jax.vmap(env_step)(jax.random.split(k_env, cfg.num_envs), s, p, action)
            reward = -(scored - cfg.reward_center) * cfg.reward_scale
            return (s, p, jax.vmap(observe)(s, p)), (obs, action, reward, next_obs, cost)

        (s, p, obs), (o, a, r, o2, cost) = jax.lax.scan(
            roll, (c.env_state, c.env_params, c.obs), jax.random.split(k_roll, cfg.rollout_steps)
        )
        b = c.buffer

        def write(dst: jax.Array, src: jax.Array) -> jax.Array:  # (steps, envs, ...) at the ring's write index
            return jax.lax.dynamic_update_slice_in_dim(dst, src.reshape((per_update, *src.shape[2:])), b.pos, 0)

        buffer = Buffer(
            write(b.obs, o), write(b.action, a), write(b.reward, r), write(b.next_obs, o2),
            (b.pos + per_update) % cfg.buffer_size, jnp.minimum(b.filled + per_update, cfg.buffer_size),
        )  # fmt: skip
        c = c._replace(buffer=buffer, env_state=s, env_params=p, obs=obs, key=key, update=c.update + 1)
        c, loss = jax.lax.cond(buffer.filled >= cfg.learning_starts, learn, lambda c, k: (c, jnp.zeros(())), c, k_learn)
        return c, Metrics(jnp.mean(cost), loss, eps)

    def chunk(c: Carry) -> tuple[Carry, Metrics]:
        return jax.lax.scan(update, c, None, cfg.updates_per_chunk)

    return init, chunk


def train(
    settings: Settings,
    cfg: DQNConfig = DEFAULT_CONFIG,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    predictor: Params | None = None,
    report: Callable[[int, float], None] | None = None,
) -> tuple[Params, dict[str, Any]]:
    """Train; returns the online network's params (plain nested dict of numpy arrays) and metadata.
    ``report(chunk, cost_bps)`` after each chunk: the mean cost of its ε-greedy decisions (the same ε
    schedule for every configuration, so a sweep's trials compare chunk by chunk)."""
    predictor = latency.shared_weights() if predictor is None else predictor
    init, chunk = make_train(settings, cfg, predictor)
    started = time.perf_counter()
    carry = jax.jit(init)(jax.random.key(seed))
    carry.obs.block_until_ready()  # one executable: every output is ready together; most of this is compile
    init_s = time.perf_counter() - started
    started = time.perf_counter()
    # compiled once, ahead of time; the carry is donated so the buffer is updated in place between calls
    compiled = jax.jit(chunk, donate_argnums=0).lower(carry).compile()
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    history: list[Metrics] = []
    for i in range(cfg.chunks):
        carry, metrics = compiled(carry)
        history.append(jax.device_get(metrics))  # also waits for the chunk, so the progress is honest
        if progress is not None:
            progress((i + 1) / cfg.chunks)
        if report is not None:
            report(i + 1, float(np.mean(history[-1].cost_bps)))
    train_s = time.perf_counter() - started
    params = pin_off(jax.tree.map(np.asarray, jax.device_get(carry.params)), cfg.choices)
    cost = np.concatenate([np.asarray(m.cost_bps) for m in history])
    loss = np.concatenate([np.asarray(m.loss) for m in history])
    tail = max(1, len(cost) // 10)
    n_ven = len(settings.venues)
    meta = {
        "venues": [v.name for v in settings.venues],
        "obs_dim": obs_dim(n_ven),
        "latency_fingerprint": latency.fingerprint(predictor),
        "actions": {"layout": "venue * len(choices) + k", "choices": [list(c) for c in CHOICES]},
        "network": {"hidden": list(cfg.hidden), "activation": "relu", "out": n_ven * N_CHOICES},
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg._asdict().items()},
        "seed": seed,
        "env_steps": cfg.env_steps,
        "learn_steps": int(carry.learn_steps),
        "env_steps_per_s": round(cfg.env_steps / train_s, 1),
        "init_s": round(init_s, 3),
        "compile_s": round(compile_s, 3),
        "train_s": round(train_s, 3),
        "train_cost_bps_first": round(float(cost[:tail].mean()), 4),
        "train_cost_bps_last": round(float(cost[-tail:].mean()), 4),
        "train_loss_last": round(float(loss[-tail:].mean()), 6),
    }
    return params, meta


def eval_router(params: Params) -> EvalRouter:
    """The greedy policy as an evaluation router (no online learning: the checkpoint is what ships)."""
    params = jax.tree.map(jnp.asarray, params)
    net = network(params)
    fractions = jnp.asarray([share for _, share in CHOICES])
    posts = jnp.asarray([post for post, _ in CHOICES])

    def act(state: Any, s: EnvState, obs: jax.Array, key: jax.Array, p: EnvParams) -> tuple[Any, Any, Any, Any]:
        q = masked(apply(net, params, obs), obs, s.eligible.shape[0])
        a = jnp.argmax(q)
        return state, a // N_CHOICES, fractions[a % N_CHOICES], posts[a % N_CHOICES]

    return EvalRouter(lambda key: jnp.zeros((), jnp.int32), act, keep_state)
