"""Online fine-tuning in a live session: the DQN/PPO router and the latency forecaster learn from the
session's own answers, off the decision path.

The engine thread only appends: a completed transition (the decision's observation, what was done,
the child's cost, and the observation of the first decision after its answer) to ``add``, and the
forecaster its examples. The forecaster learns in every session; the agent only with fine-tuning on. A
learner thread wakes every ``PERIOD_S``, takes what has queued, runs jitted updates (JAX releases
the GIL while it computes) and hands new weights back through ``publish``; the engine thread swaps
them in before its next decision. On the simulated clock the same updates run on the engine thread
before a parent order is routed (``between_batches``, from ``LearnedPolicy.learn_due``), once enough
transitions have queued: paced by decisions and answers, so a session stays reproducible from its
seed whatever the engine's batch length, and an update's time is not counted as decision latency.
A threaded learner compiles everything it runs when it is built (``compile_ahead``), not mid-session.

- DQN: a ring buffer of the session's transitions; every ``DQN_EVERY`` new ones, ``DQN_STEPS``
  Double-DQN Huber steps on minibatches from it (the training loss, ``models.dqn.double_dqn_loss``,
  with gamma and reward scaling from the checkpoint), Adam at a tenth of the training rate, a
  Polyak target. A child's own cost per share is what the whole child would have cost there (the
  environment charges no impact), so a transition teaches the whole-child action of its venue and kind
  (take or post).
- PPO is on-policy: only the decisions that explored (sampled from the Gaussian policy, with their
  log-probability) teach it. Every ``PPO_BATCH`` of them: ``PPO_EPOCHS`` epochs of the clipped
  objective (``models.ppo.clipped_policy_loss``) plus a value loss, with one-step advantages
  (reward plus gamma times the next state's value, minus the value), normalised.
- The forecaster: ``models.latency.sgd_steps_masked`` over its queued examples, in order.
- Weights that come out of an update not finite are never published: learning stops, with an error.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from hft_console.routing.models.checkpoint import leaves

PERIOD_S = 0.05
DQN_EVERY = 16
DQN_STEPS = 4
DQN_BATCH = 64
DQN_BUFFER = 4096
PPO_BATCH = 32
PPO_EPOCHS = 4
LR_SHARE = 0.1  # of the training learning rate
FORECAST_BUCKETS = (64, 256, 1024, 4096)  # padded batch sizes: a compile per size, not per batch
FORECAST_EVERY = 16  # inline: answers queued before a forecaster step

Completed = tuple[np.ndarray, int, float, np.ndarray, np.ndarray, float]  # obs, action, cost, next, sample, logp


class OnlineLearner:
    def __init__(
        self,
        agent: str,
        params: dict[str, Any],
        meta: dict[str, Any],
        forecaster: Any,
        publish: Callable[[dict[str, Any]], None],
        threaded: bool,
        rng: np.random.Generator,
        fine_tune: bool = True,
    ) -> None:
        """``fine_tune`` False: only the forecaster learns (the agent keeps its checkpoint's weights)."""
        import jax

        self.agent, self.forecaster, self.publish, self.threaded = agent, forecaster, publish, threaded
        self.fine_tune = fine_tune
        self.rng = rng
        self.queue: deque[Completed] = deque(maxlen=100_000)
        self.updates = 0
        self.transitions = 0
        self.forecaster_steps = 0
        self.update_ms: deque[float] = deque(maxlen=1000)
        self.errors: list[str] = []
        self._pending = 0
        cfg = meta.get("config", {})
        self._tuner: _Tuner | None = None
        if fine_tune:
            self._tuner = _DQNTuner(params, cfg) if agent == "dqn" else _PPOTuner(params, cfg)
        self._forecast_params = jax.tree.map(jax.numpy.asarray, forecaster.stacked)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if threaded:
            self.compile_ahead()

    def compile_ahead(self) -> None:
        """Compile what the learner will run (the forecaster's step on its smallest padded batch, the
        agent's update) now, on zeros of the shapes it will see, results dropped. For the learner
        thread: there a first-call compile traces in Python, holding the GIL for up to seconds while
        the engine decides (measured on two busy cores: two or three, 0.9-4.5 s in all, in a 60 s
        session). Inline, the first update compiles off the decision path: short sessions skip the wait."""
        import jax.numpy as jnp

        size, n_features = FORECAST_BUCKETS[0], len(self.forecaster.features(0))
        zeros = np.zeros(size, np.float32)
        venues, x = jnp.asarray(np.zeros(size, np.int32)), np.zeros((size, n_features), np.float32)
        _forecast_sgd(self._forecast_params, venues, x, zeros, zeros)
        if self._tuner is not None:
            self._tuner.compile_ahead()

    def add(self, item: Completed) -> None:
        """A completed transition (engine thread)."""
        self.queue.append(item)
        self._pending += 1

    def between_batches(self) -> bool:
        """Engine thread. Threaded (between market batches): start the learner thread the first time
        (not before the session runs). Inline (before a routing decision): learn here once a learning
        step's worth has queued. True when it learned here."""
        if self.threaded:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, name=f"online-{self.agent}", daemon=True)
                self._thread.start()
            return False
        agent_due = self._tuner is not None and self._pending >= self._tuner.every
        if agent_due or len(self.forecaster.examples) >= FORECAST_EVERY:
            self._pending = 0
            self.work()
            return True
        return False

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        ms = sorted(self.update_ms)
        return {
            "mode": "thread" if self.threaded else "inline",
            "fine_tune": self.fine_tune,
            "transitions": self.transitions,
            "updates": self.updates,
            "forecaster_steps": self.forecaster_steps,
            "update_ms_p50": round(ms[len(ms) // 2], 2) if ms else None,
            "update_ms_max": round(ms[-1], 2) if ms else None,
            "errors": self.errors[:3],
        }

    def _loop(self) -> None:
        while not self._stop.wait(PERIOD_S):
            self.work()

    def work(self) -> None:
        if self._stop.is_set():
            return
        try:
            self._forecaster_step()
            if self._tuner is None:
                return
            started = time.perf_counter()
            items = [self.queue.popleft() for _ in range(len(self.queue))]
            self.transitions += len(items)
            new = self._tuner.learn(items, self.rng)
            if new is not None:
                _check_finite(new, f"{self.agent} weights")
                self.updates += 1
                self.update_ms.append((time.perf_counter() - started) * 1e3)
                self.publish(new)
        except Exception as exc:  # a failed update must never take the session down: learning stops
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.set()

    def _forecaster_step(self) -> None:
        import jax
        import jax.numpy as jnp

        examples = self.forecaster.examples
        if not examples:
            return
        batch = [examples.popleft() for _ in range(min(len(examples), FORECAST_BUCKETS[-1]))]
        size = next(b for b in FORECAST_BUCKETS if b >= len(batch))
        venues = np.zeros(size, np.int32)
        x = np.zeros((size, len(batch[0][1])), np.float32)
        y = np.zeros(size, np.float32)
        mask = np.zeros(size, np.float32)
        for i, (v, xv, yv) in enumerate(batch):
            venues[i], x[i], y[i], mask[i] = v, xv, yv, 1.0
        new = _forecast_sgd(self._forecast_params, jnp.asarray(venues), x, y, mask)
        published = jax.tree.map(np.asarray, new)
        _check_finite(published, "latency forecaster weights")
        self._forecast_params = new
        self.forecaster_steps += len(batch)
        self.forecaster.publish(published)


def _check_finite(tree: Any, what: str) -> None:
    """Weights that are not finite are never handed to the engine: learning stops instead."""
    if not all(np.all(np.isfinite(leaf)) for leaf in leaves(tree)):
        raise FloatingPointError(f"{what} not finite after an update")


def _forecast_sgd(params: Any, venues: Any, x: Any, y: Any, mask: Any) -> Any:
    from hft_console.routing.models.latency import sgd_steps_masked  # imports JAX: learned routers only

    return sgd_steps_masked(params, venues, x, y, mask)


class _Tuner:
    every: int

    def learn(self, items: list[Completed], rng: np.random.Generator) -> dict[str, Any] | None:
        raise NotImplementedError

    def compile_ahead(self) -> None:
        """The update on zeros of the shapes ``learn`` passes it, the result dropped (the carry is kept)."""
        raise NotImplementedError


class _DQNTuner(_Tuner):
    def __init__(self, params: dict[str, Any], cfg: dict[str, Any]) -> None:
        import jax
        import jax.numpy as jnp
        import optax  # type: ignore[import-untyped]

        from hft_console.routing.models.dqn import (  # imports JAX: learned routers only
            N_CHOICES,
            double_dqn_loss,
            network,
        )

        self.every = DQN_EVERY
        self.center, self.scale = float(cfg.get("reward_center", 0.2)), float(cfg.get("reward_scale", 10.0))
        self.choices = tuple(cfg.get("choices", (0, 1, 2, 3)))
        if not {0, 2} <= set(self.choices):  # an answer teaches the whole-child action (see the module notes)
            raise ValueError(f"online DQN needs the whole-child take and post; the checkpoint allows {self.choices}")
        gamma, delta = float(cfg.get("gamma", 0.5)), float(cfg.get("huber_delta", 10.0))
        net = network(params)
        n_ven = int(params["params"][f"Dense_{len(params['params']) - 1}"]["bias"].shape[0]) // N_CHOICES
        tx = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(float(cfg.get("lr", 1e-3)) * LR_SHARE))
        choices = self.choices

        def loss_fn(p: Any, target: Any, mb: Any) -> Any:
            return double_dqn_loss(net, p, target, mb, n_ven, choices, gamma, delta)

        def step(c: Any, mb: Any) -> Any:
            p, target, opt = c
            loss, grads = jax.value_and_grad(loss_fn)(p, target, mb)
            updates, opt = tx.update(grads, opt, p)
            p = optax.apply_updates(p, updates)
            return (p, optax.incremental_update(p, target, 0.05), opt), loss

        self._learn = jax.jit(lambda c, batches: jax.lax.scan(step, c, batches))
        start = jax.tree.map(jnp.asarray, params)
        self.carry = (start, start, tx.init(start))
        dim = int(params["params"]["Dense_0"]["kernel"].shape[0])
        self.obs = np.zeros((DQN_BUFFER, dim), np.float32)
        self.next_obs = np.zeros((DQN_BUFFER, dim), np.float32)
        self.action = np.zeros(DQN_BUFFER, np.int32)
        self.reward = np.zeros(DQN_BUFFER, np.float32)
        self.filled = self.pos = self.fresh = 0

    def compile_ahead(self) -> None:
        steps = np.zeros((DQN_STEPS, DQN_BATCH, self.obs.shape[1]), np.float32)
        zeros = np.zeros((DQN_STEPS, DQN_BATCH), np.float32)
        self._learn(self.carry, (steps, zeros.astype(np.int32), zeros, steps))

    def learn(self, items: list[Completed], rng: np.random.Generator) -> dict[str, Any] | None:
        from hft_console.routing.models.dqn import pin_off, whole_child  # imports JAX: learned routers only

        for obs, action, cost, next_obs, _, _ in items:
            i = self.pos
            self.obs[i], self.next_obs[i] = obs, next_obs
            self.action[i] = whole_child(action)  # the whole-child action of its venue and kind
            self.reward[i] = -(cost - self.center) * self.scale
            self.pos = (i + 1) % DQN_BUFFER
            self.filled = min(DQN_BUFFER, self.filled + 1)
        self.fresh += len(items)
        if self.fresh < DQN_EVERY or self.filled < DQN_BATCH:
            return None
        self.fresh = 0
        idx = rng.integers(0, self.filled, size=(DQN_STEPS, DQN_BATCH))
        batches = (self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx])
        self.carry, _ = self._learn(self.carry, batches)
        import jax

        params = jax.tree.map(np.asarray, self.carry[0])
        return pin_off(params, self.choices)


class _PPOTuner(_Tuner):
    def __init__(self, params: dict[str, Any], cfg: dict[str, Any]) -> None:
        import jax
        import jax.numpy as jnp
        import optax

        from hft_console.routing.models.ppo import (  # imports JAX: learned routers only
            active,
            apply,
            clipped_policy_loss,
            log_prob,
            networks,
        )

        self.every = PPO_BATCH
        self.center, self.scale = float(cfg.get("reward_center", 0.2)), float(cfg.get("reward_scale", 10.0))
        gamma, clip = float(cfg.get("gamma", 0.9)), float(cfg.get("clip_eps", 0.2))
        vf_coef = float(cfg.get("vf_coef", 0.5))
        n_ven = int(params["log_std"].shape[0]) - 1  # the last dimension is the take/post split
        actor, critic = networks(n_ven, int(cfg.get("hidden", 64)))
        tx = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(float(cfg.get("lr", 1e-3)) * LR_SHARE))

        def loss_fn(p: Any, obs: Any, sample: Any, eligible: Any, logp_old: Any, adv: Any, target: Any) -> Any:
            mean = apply(actor, p["actor"], obs)
            logp = log_prob(sample, mean, p["log_std"], eligible)
            ratio = jnp.exp(logp - logp_old)
            policy_loss = clipped_policy_loss(ratio, adv, clip)
            value = apply(critic, p["critic"], obs)[..., 0]
            return policy_loss + vf_coef * jnp.mean((value - target) ** 2)

        def learn(c: Any, obs: Any, sample: Any, logp_old: Any, reward: Any, next_obs: Any) -> Any:
            p, opt = c
            eligible = active(obs[:, :n_ven] > 0.5)
            value = apply(critic, p["critic"], obs)[..., 0]
            target = reward + gamma * apply(critic, p["critic"], next_obs)[..., 0]
            adv = target - value
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)

            def epoch(c2: Any, _: Any) -> Any:
                p2, opt2 = c2
                grads = jax.grad(loss_fn)(p2, obs, sample, eligible, logp_old, adv, target)
                updates, opt2 = tx.update(grads, opt2, p2)
                return (optax.apply_updates(p2, updates), opt2), None

            c, _ = jax.lax.scan(epoch, (p, opt), None, PPO_EPOCHS)
            return c

        self._learn = jax.jit(learn)
        start = jax.tree.map(jnp.asarray, params)
        self.carry = (start, tx.init(start))
        self.dim, self.n_out = int(params["actor"]["Dense_0"]["kernel"].shape[0]), n_ven + 1
        self.batch: list[Completed] = []

    def compile_ahead(self) -> None:
        obs = np.zeros((PPO_BATCH, self.dim), np.float32)
        zeros = np.zeros(PPO_BATCH, np.float32)
        # the samples as ``update`` keeps them: float64, from plain Python floats
        self._learn(self.carry, obs, np.zeros((PPO_BATCH, self.n_out), np.float64), zeros, zeros, obs)

    def learn(self, items: list[Completed], rng: np.random.Generator) -> dict[str, Any] | None:
        import jax

        self.batch.extend(item for item in items if np.isfinite(item[5]))  # explored decisions only
        if len(self.batch) < PPO_BATCH:
            return None
        use, self.batch = self.batch[:PPO_BATCH], self.batch[PPO_BATCH:]
        obs = np.stack([u[0] for u in use])
        next_obs = np.stack([u[3] for u in use])
        sample = np.stack([u[4] for u in use])
        logp = np.array([u[5] for u in use], np.float32)
        reward = np.array([(self.center - u[2]) * self.scale for u in use], np.float32)
        self.carry = self._learn(self.carry, obs, sample, logp, reward, next_obs)
        return jax.tree.map(np.asarray, self.carry[0])  # type: ignore[no-any-return]
