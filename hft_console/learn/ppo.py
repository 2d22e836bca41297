"""PPO router: a diagonal Gaussian over per-venue logits whose softmax over the eligible venues is the
allocation, trained end to end under one ``jax.jit`` on a mix of calm, congested and degraded worlds.

Structure follows purejaxrl: a ``lax.scan`` over updates holding the rollout scan (vmapped envs), a
reverse-scan GAE, and epoch ⊃ minibatch scans; the chunk of updates is compiled once and called
repeatedly so ``progress`` can be reported from the host between calls.

Allocation -> env action (the same in training, ``eval_router`` and the live ``decide``): the venue
is the argmax of the (sampled in training, mean otherwise) logits over eligible venues, and the
fraction of the parent is that venue's softmax weight clipped to ``[min_fraction, 1]``. The live
engine re-asks with the chosen venue masked out, so the rest of the parent follows the allocation
renormalised over the remaining venues. ``MIN_FRACTION`` is 1.0 (whole child to the argmax venue):
the environment scores each child on its own notional, and the square-root impact per share falls
with the child's size, so any smaller floor is learned as "always send the smallest slice" — a gain
the environment never charges for (the rest of the parent is not routed there), which also beats
the oracle spuriously. See ``PPOConfig.min_fraction`` to train with a floor anyway.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax  # type: ignore[import-untyped]  # optax 0.2.8 ships no py.typed

from hft_console.learn import env as E
from hft_console.learn import latency as L
from hft_console.learn.evaluate import EvalRouter
from hft_console.routing.models.nets import MLP, NumpyMLP, Params
from hft_console.settings import Settings

MIN_FRACTION = 1.0  # see the module docstring: smaller floors exploit per-child scoring
_LOG_2PI = math.log(2 * math.pi)


class PPOConfig(NamedTuple):
    num_envs: int = 128  # vectorised envs per update
    num_steps: int = 50  # rollout length per env per update (episode_len is a multiple of it)
    num_updates: int = 128  # 128 x 128 x 50 = 819k env steps: with the forecast in the state, 64 left seeds apart
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
    reward_center: float = 0.5  # reward = (reward_center - cost_bps) * reward_scale: ~[-0.5, 1.5]
    reward_scale: float = 10.0  # venue differences are ~0.01-0.1 bps; x10 keeps value targets O(1)
    episode_len: int = 200  # fresh world (new regime draw, EWMA at its prior) every this many steps
    regime_probs: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # calm, congested, degraded
    hidden: int = 64
    min_fraction: float = MIN_FRACTION


DEFAULT = PPOConfig()


class Runner(NamedTuple):
    params: Params
    opt_state: Any
    env: E.EnvState  # batched
    world: E.EnvParams  # batched: each env's regime
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


def _nets(n_venues: int, hidden: int) -> tuple[MLP, MLP]:
    return MLP((hidden, hidden), n_venues, "tanh"), MLP((hidden, hidden), 1, "tanh")


def _apply(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    return cast(jax.Array, net.apply({"params": params}, x))  # linen's apply is typed as a union


def init_params(key: jax.Array, n_venues: int, cfg: PPOConfig = DEFAULT) -> Params:
    """``{"actor", "critic"}`` linen param dicts and ``log_std`` (n_venues,), all plain nested dicts."""
    actor, critic = _nets(n_venues, cfg.hidden)
    x = jnp.zeros(E.obs_dim(n_venues))
    ka, kc = jax.random.split(key)
    a = actor.init(ka, x)["params"]
    # a near-uniform start so PPO's first steps explore every venue evenly (purejaxrl: gain 0.01)
    last = f"Dense_{len(a) - 1}"
    a = {**a, last: {"kernel": a[last]["kernel"] * 0.01, "bias": a[last]["bias"] * 0.0}}
    return {"actor": a, "critic": critic.init(kc, x)["params"], "log_std": jnp.full(n_venues, cfg.init_log_std)}


def _allocation(logits: jax.Array, eligible: jax.Array, min_fraction: float) -> tuple[jax.Array, jax.Array]:
    masked = jnp.where(eligible, logits, -jnp.inf)
    venue = jnp.argmax(masked, axis=-1)
    weight = jnp.max(jax.nn.softmax(masked, axis=-1), axis=-1)  # the argmax venue's share
    return venue, jnp.clip(weight, min_fraction, 1.0)


def _log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array, eligible: jax.Array) -> jax.Array:
    """Diagonal Gaussian log-density over the eligible logits only: ineligible ones change nothing
    in the world, so their noise would only add variance to the gradient."""
    z = (action - mean) * jnp.exp(-log_std)
    per = -0.5 * z * z - log_std - 0.5 * _LOG_2PI
    return jnp.sum(jnp.where(eligible, per, 0.0), axis=-1)


def _draw_world(key: jax.Array, base: E.EnvParams, probs: jax.Array) -> tuple[E.EnvParams, jax.Array]:
    """One env's regime: calm, congested (starting mostly congested, as the evaluation) or degraded
    with a random degraded venue — so one agent learns all three."""
    k_r, k_v = jax.random.split(key)
    r = jnp.sum(jax.random.uniform(k_r) > jnp.cumsum(probs)[:-1])  # 0, 1 or 2 with odds probs
    venue = jax.random.randint(k_v, (), 0, base.median_us.shape[0])
    worlds = [E.regime_params(base, name, venue) for name in E.REGIMES]
    picked = jax.tree.map(lambda c, g, d: jnp.where(r == 0, c, jnp.where(r == 1, g, d)), *worlds)
    return picked, jnp.where(r == 1, 0.7, 0.0)


def _make_chunk(base: E.EnvParams, cfg: PPOConfig, updates: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``init(key) -> Runner`` and ``chunk(Runner) -> (Runner, metrics)`` running ``updates`` updates."""
    n_ven = int(base.median_us.shape[0])
    actor, critic = _nets(n_ven, cfg.hidden)
    probs = jnp.asarray(cfg.regime_probs, dtype=jnp.float32)
    batch_size = cfg.num_envs * cfg.num_steps
    mb_size = batch_size // cfg.num_minibatches
    assert cfg.episode_len % cfg.num_steps == 0 and batch_size % cfg.num_minibatches == 0

    def make_opt(learning_rate: float) -> optax.GradientTransformation:
        return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(learning_rate, eps=1e-5))

    opt = optax.inject_hyperparams(make_opt)(learning_rate=cfg.lr)  # lr lives in opt_state: jit-adaptable

    def fresh(key: jax.Array) -> tuple[E.EnvState, E.EnvParams]:
        k_w, k_r = jax.random.split(key)
        world, start = _draw_world(k_w, base, probs)
        return E.reset(k_r, world, start), world

    def init(key: jax.Array) -> Runner:
        k_p, k = jax.random.split(key)
        params = init_params(k_p, n_ven, cfg)
        # placeholder worlds already at their episode's end: the first update draws the real ones,
        # so drawing and resetting worlds is compiled once (in the chunk), not twice (~3 s on 2 cores)
        env = jax.tree.map(lambda x: jnp.broadcast_to(x, (cfg.num_envs, *jnp.shape(x))), E.reset(k, base))
        env = env._replace(t=jnp.full(cfg.num_envs, cfg.episode_len, jnp.int32))
        world = jax.tree.map(lambda x: jnp.broadcast_to(x, (cfg.num_envs, *jnp.shape(x))), base)
        return Runner(params, opt.init(params), env, world, k)

    def policy(params: Params, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        return _apply(actor, params["actor"], obs), _apply(critic, params["critic"], obs)[..., 0]

    def env_step(carry: tuple[Params, E.EnvState, E.EnvParams, jax.Array], _: Any) -> tuple[Any, Batch]:
        params, env, world, key = carry
        key, k_noise, k_env = jax.random.split(key, 3)
        obs = jax.vmap(E.observe)(env, world)
        mean, value = policy(params, obs)
        action = mean + jnp.exp(params["log_std"]) * jax.random.normal(k_noise, mean.shape)
        logp = _log_prob(action, mean, params["log_std"], env.eligible)
        venue, fraction = _allocation(action, env.eligible, cfg.min_fraction)
        keys = jax.random.split(k_env, cfg.num_envs)
        env2, info = jax.vmap(E.step)(keys, env, venue, fraction, world)
        reward = (cfg.reward_center - info.cost_bps) * cfg.reward_scale
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
        logp = _log_prob(mb.action, mean, params["log_std"], mb.eligible)
        log_ratio = logp - mb.logp
        ratio = jnp.exp(log_ratio)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv).mean()
        v_clip = mb.value + jnp.clip(value - mb.value, -cfg.clip_eps, cfg.clip_eps)
        v_loss = 0.5 * jnp.maximum((value - ret) ** 2, (v_clip - ret) ** 2).mean()
        per_dim = params["log_std"] + 0.5 * (_LOG_2PI + 1)  # entropy of the eligible dims, as in _log_prob
        entropy = jnp.sum(jnp.where(mb.eligible, per_dim, 0.0), axis=-1).mean()
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
        _, last_value = policy(runner.params, jax.vmap(E.observe)(env, world))
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
    predictor = L.shared_weights() if predictor is None else predictor
    base = E.params_from_settings(settings, predictor=predictor)
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
        "latency_fingerprint": L.fingerprint(predictor),
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


# -- inference ------------------------------------------------------------------------------------------
def _actor_for(actor: Params) -> MLP:
    """The actor module matching a params dict (widths read from the dense layers' biases)."""
    widths = [int(actor[f"Dense_{i}"]["bias"].shape[0]) for i in range(len(actor))]
    return MLP(tuple(widths[:-1]), widths[-1], "tanh")


@jax.jit
def _actor_mean(actor: Params, obs: jax.Array) -> jax.Array:
    return _apply(_actor_for(actor), actor, obs)


def logits_jit(params: Params, obs: np.ndarray) -> np.ndarray:
    """The actor's mean logits for one observation (jitted linen apply, no randomness inside); only
    the actor's leaves cross the jit boundary, which keeps pytree flattening off the hot path."""
    return np.asarray(_actor_mean(params["actor"], obs))


_np_cache: list[tuple[Params, NumpyMLP]] = []  # the one params dict the live engine uses, kept alive


def logits_np(params_np: Params, obs: np.ndarray) -> np.ndarray:
    """``logits_jit`` in numpy (the live engine's fastest path); buffers are built once per params."""
    if not _np_cache or _np_cache[0][0] is not params_np:
        _np_cache[:] = [(params_np, NumpyMLP(params_np["actor"], "tanh"))]
    return _np_cache[0][1](obs)


def decide(logits: np.ndarray, mask: np.ndarray, min_fraction: float = MIN_FRACTION) -> tuple[int, float]:
    """The deterministic (mean) allocation's action: the eligible argmax venue and its softmax weight
    among eligible venues, clipped to ``[min_fraction, 1]``."""
    masked = np.where(mask, logits, -np.inf)
    venue = int(np.argmax(masked))
    z = np.exp(masked - masked[venue])
    return venue, float(min(1.0, max(min_fraction, 1.0 / z.sum())))


def eval_router(params: Params, min_fraction: float = MIN_FRACTION) -> EvalRouter:
    """The deterministic policy for ``evaluate.py``: mean logits, no learning within a scenario."""
    actor = jax.tree.map(jnp.asarray, params["actor"])  # works on traced params too (jit over params)
    net = _actor_for(actor)

    def act(state: Any, s: E.EnvState, obs: jax.Array, key: jax.Array, p: E.EnvParams) -> tuple[Any, Any, Any]:
        venue, fraction = _allocation(_apply(net, actor, obs), s.eligible, min_fraction)
        return state, venue, fraction

    return EvalRouter(lambda key: jnp.zeros((), jnp.int32), act, lambda state, venue, reward: state)


# -- the training report: python -m hft_console.learn.ppo [--save DIR] ------------------------------------
EVAL_SEED = 1000  # evaluation worlds drawn apart from any training seed


def evaluate_agent(
    settings: Settings,
    params: Params,
    scenarios: int = 60,
    steps: int = 200,
    seed: int = 0,
    min_fraction: float = MIN_FRACTION,
) -> dict[str, dict[str, float | None]]:
    """Agent vs best-price vs oracle per regime on the same paired worlds: cost, regret, edge captured."""
    from hft_console.learn.evaluate import versus_oracle

    return versus_oracle(E.params_from_settings(settings), eval_router(params, min_fraction), scenarios, steps, seed)


def main(argv: list[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    from hft_console.routing.models import checkpoint
    from hft_console.routing.registry import ROUTER_NAMES
    from hft_console.settings import load_settings

    ap = argparse.ArgumentParser(description="Train PPO with the default config, evaluate it, optionally save it.")
    ap.add_argument("--save", metavar="DIR", help="write the ppo checkpoint here (e.g. models)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    settings = load_settings({}, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)
    started = time.perf_counter()
    params, meta = train(settings, seed=args.seed)
    wall_s = time.perf_counter() - started
    print(f"env steps {meta['env_steps']:,} · {meta['env_steps_per_s']:,} steps/s · compile {meta['compile_s']} s "
          f"· train {meta['train_s']} s · wall {wall_s:.1f} s")  # fmt: skip
    for row in meta["curve"]:
        print("  " + " ".join(f"{k} {v:.4g}" for k, v in row.items()))
    evaluation = evaluate_agent(settings, params, seed=EVAL_SEED)
    for regime, r in evaluation.items():
        print(f"{regime:10s} " + " ".join(f"{k} {v}" for k, v in r.items()))
    if args.save:
        venues = [v.name for v in settings.venues]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        meta = {**meta, "venues": venues, "obs_dim": E.obs_dim(len(venues)), "mode": settings.session.mode,
                "seed": args.seed, "eval_seed": EVAL_SEED, "trained_at": stamp, "evaluation": evaluation}  # fmt: skip
        print("saved", checkpoint.save(Path(args.save), "ppo", params, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
