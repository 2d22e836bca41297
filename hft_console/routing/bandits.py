"""Multi-armed bandit routers over venues, written once over an array module ``xp``.

The same pure functions run per decision in the engine with ``xp = numpy`` and under
``jax.jit``/``vmap``/``lax.scan`` with ``xp = jax.numpy``: the state is a NamedTuple of arrays, no
Python branches on array values, no in-place writes, and all randomness comes in as pre-drawn noise
(uniforms from ``noise_np`` / ``noise_jax``). ``name`` is a static string, dispatched on at trace time.
``update`` also recomputes what ``act`` needs (``BanditState.cache``), so the decision path only draws
and compares: a handful of numpy calls.

Arms are venues; the reward is ``-cost_bps`` on an unknown scale. All learners keep per-arm
(possibly discounted or windowed) sufficient statistics ``n, Σr, Σr²`` and estimate the reward scale
as the pooled within-arm variance ``v = Σ_i (Σr²_i − (Σr_i)²/n_i) / Σ_i max(n_i − 1, 0)`` (floored at
``var_floor``), so multiplying every reward by a constant leaves every decision unchanged. Arms not yet
pulled (count 0) come first; ineligible arms are never chosen.

- ``egreedy``: with probability ε_t = max(ε_min, ε_0 / (1 + t / decay)) a uniform eligible arm, else the
  best sample mean; t counts updates.
- ``ucb``: UCB1 with the exploration term scaled by the pooled sd (sub-Gaussian UCB with a plug-in scale):
  mean_i + c·√(2·v·ln N / n_i), N = Σ n_i.
- ``thompson``: Normal-Gamma posterior per arm, prior mean 0, κ0 pseudo-counts for the mean, shape α0
  and rate α0·v (prior mean precision 1/v, learned from all arms); each arm's mean is drawn from its
  Student-t marginal, μ_n + √(β_n/(α_n·κ_n))·t with t ~ t(2α_n), by Bailey's polar method (exact for
  any real degrees of freedom, from uniforms only) with ``T_TRIES`` candidates: each is accepted with
  probability π/4; if all are rejected (odds 5e-6), t = 0.
- ``ucb-discounted`` / ``thompson-discounted``: the same rules on statistics multiplied by γ before each
  update (D-UCB, Garivier & Moulines 2011), so N = Σ n_i ≤ 1/(1 − γ) and a neglected arm's bound widens.
- ``ucb-window``: the UCB rule over the last W updates (SW-UCB), kept in a ring buffer of (arm, reward).
  Until an answer first leaves the window it decides exactly as ``ucb`` (``same_as``): a run of at most
  W = 200 updates — an ``evaluate`` scenario, a 10 s backtest scenario — cannot tell the two apart, and
  the tools say so instead of reporting it as a router of its own. A window short enough to fill there
  (32–50) forgets too fast to learn venues whose costs differ by less than one answer's noise: in
  ``evaluate`` it came out close to ``random``. It is meant for sessions: 200 orders are ~40 s of one.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from hft_console.routing.policy import Observation, PolicySpec, Transition

Array = Any  # a numpy or a jax array; the functions are generic over ``xp``

BANDIT_NAMES = ("egreedy", "ucb", "thompson", "ucb-discounted", "thompson-discounted", "ucb-window")
T_TRIES = 8
_TINY = 1e-30  # a guard against 0/0 that float32 can still represent


class BanditConfig(NamedTuple):
    """Hyperparameters; each bandit reads only its own fields."""

    epsilon0: float = 0.5  # egreedy: initial exploration rate
    epsilon_min: float = 0.02  # egreedy: floor, so a changed venue is still seen
    epsilon_decay: float = 300.0  # egreedy: updates until ε has halved
    c: float = 1.0  # ucb*: width of the bound in units of √(2·v·ln N / n)
    discount: float = 0.995  # *-discounted: γ, a memory of about 1/(1 − γ) = 200 updates
    window: int = 200  # ucb-window: W updates, the same most any arm can count as with γ = 0.995
    kappa0: float = 0.01  # thompson*: prior pseudo-count on the mean (prior mean 0)
    alpha0: float = 1.0  # thompson*: prior shape on the precision, worth 2·α0 observations of spread
    var_floor: float = 1e-8  # all: least reward variance assumed, so the bound never collapses to 0


DEFAULT_CONFIG = BanditConfig()


class BanditState(NamedTuple):
    counts: Array  # (K,) rewards seen per arm: plain, discounted or in the window
    sums: Array  # (K,) Σ reward, same weighting
    sumsq: Array  # (K,) Σ reward², same weighting
    steps: Array  # () int32 updates so far
    ring_arm: Array  # (W,) int32 arm of each of the last W updates, -1 while empty (ucb-window; W = 0 else)
    ring_reward: Array  # (W,) their rewards
    # (R, K) what ``act`` needs, recomputed by ``update`` so the decision path only samples and compares:
    # egreedy (score, ε), ucb* (score,), thompson* (μ_n, √(β_n/(α_n·κ_n)), ν = 2α_n, −2/ν);
    # the score is +inf for an unpulled arm
    cache: Array


def _check(name: str) -> None:
    if name not in BANDIT_NAMES:
        raise ValueError(f"unknown bandit {name!r}: expected one of {', '.join(BANDIT_NAMES)}")


def same_as(name: str, updates: int, cfg: BanditConfig = DEFAULT_CONFIG) -> str | None:
    """The bandit that makes exactly the same decisions as ``name`` over a run of ``updates`` updates,
    given the same noise; None when ``name`` is a router of its own there. ``ucb-window`` is ``ucb``
    until its window is full and an update pushes the oldest answer out."""
    _check(name)
    return "ucb" if name == "ucb-window" and updates <= cfg.window else None


def bandit_noise_shape(name: str, n_arms: int) -> tuple[int, ...]:
    """The shape of one decision's noise, uniforms on [0, 1): egreedy a coin and one per arm; thompson
    ``T_TRIES`` polar candidates (a pair each) per arm; ucb* none."""
    _check(name)
    if name == "egreedy":
        return (n_arms + 1,)
    if name.startswith("thompson"):
        return (2, T_TRIES, n_arms)
    return (0,)


def noise_np(name: str, n_arms: int, rng: np.random.Generator, batch: tuple[int, ...] = ()) -> Array:
    return rng.random(batch + bandit_noise_shape(name, n_arms))


def noise_jax(name: str, n_arms: int, key: Array, batch: tuple[int, ...] = ()) -> Array:
    import jax

    return jax.random.uniform(key, batch + bandit_noise_shape(name, n_arms))


def bandit_init(name: str, n_arms: int, cfg: BanditConfig = DEFAULT_CONFIG, xp: Any = np) -> BanditState:
    _check(name)
    w = cfg.window if name == "ucb-window" else 0
    zeros = xp.zeros(n_arms)
    state = BanditState(zeros, zeros, zeros, xp.zeros((), xp.int32), xp.full(w, -1, xp.int32), xp.zeros(w), zeros)
    return _refresh(name, state, cfg, xp)


def _mean(state: BanditState, xp: Any) -> Array:
    return state.sums / xp.maximum(state.counts, _TINY)  # 0 where unpulled


def _pooled_var(state: BanditState, mean: Array, cfg: BanditConfig, xp: Any) -> Array:
    within = xp.maximum(state.sumsq - state.sums * mean, 0.0).sum()
    dof = xp.maximum(state.counts - 1.0, 0.0).sum()
    return xp.maximum(within / xp.maximum(dof, 1.0), cfg.var_floor)


def _epsilon(state: BanditState, cfg: BanditConfig, xp: Any) -> Array:
    return xp.maximum(cfg.epsilon_min, cfg.epsilon0 / (1.0 + state.steps / cfg.epsilon_decay))


def _ucb(state: BanditState, cfg: BanditConfig, xp: Any) -> Array:
    """Upper bounds; N = Σ n is the step count, its discounted or its windowed version."""
    n = state.counts
    mean = _mean(state, xp)
    log_n = xp.log(xp.maximum(n.sum(), 1.0))
    return mean + cfg.c * xp.sqrt(2.0 * _pooled_var(state, mean, cfg, xp) * log_n / xp.maximum(n, _TINY))


def _posterior(state: BanditState, cfg: BanditConfig, xp: Any) -> tuple[Array, Array, Array, Array]:
    """Normal-Gamma posterior (μ_n, κ_n, α_n, β_n) with prior (0, κ0, α0, α0·v).

    β_n = β0 + ½(Σr² − (Σr)²/n) + κ0·n·x̄²/(2κ_n) = β0 + ½(Σr² − (Σr)²/κ_n), which needs no n > 0."""
    n, s = state.counts, state.sums
    kappa = n + cfg.kappa0
    mu = s / kappa
    beta = cfg.alpha0 * _pooled_var(state, _mean(state, xp), cfg, xp) + 0.5 * xp.maximum(state.sumsq - s * mu, 0.0)
    return mu, kappa, cfg.alpha0 + 0.5 * n, beta


def _refresh(name: str, state: BanditState, cfg: BanditConfig, xp: Any) -> BanditState:
    n = state.counts
    unpulled = n <= 0
    if name == "egreedy":
        rows = [xp.where(unpulled, xp.inf, _mean(state, xp)), xp.zeros_like(n) + _epsilon(state, cfg, xp)]
    elif name.startswith("ucb"):
        rows = [xp.where(unpulled, xp.inf, _ucb(state, cfg, xp))]
    else:
        mu, kappa, alpha, beta = _posterior(state, cfg, xp)
        rows = [xp.where(unpulled, xp.inf, mu), xp.sqrt(beta / (alpha * kappa)), 2.0 * alpha, -1.0 / alpha]
    return state._replace(cache=xp.stack(rows))


def student_t(nu: Array, neg_2_over_nu: Array, u: Array, xp: Any) -> Array:
    """One t(ν) draw per arm by Bailey's polar method: (U, V) uniform on the unit disc,
    T = U·√(ν·(W^(−2/ν) − 1)/W) with W = U² + V²; the first accepted candidate row. ``nu`` and
    ``neg_2_over_nu`` (−2/ν) are ``(K,)``, ``u`` uniforms ``(2, T_TRIES, K)``; returns ``(K,)``, 0 for
    an arm whose candidates were all rejected."""
    s = 2.0 * u - 1.0
    w = (s * s).sum(axis=0)
    ok = (w < 1.0) & (w > 0.0)
    w = xp.where(ok, w, 0.5)  # keeps rejected candidates finite (and numpy quiet)
    t = xp.where(ok, s[0] * xp.sqrt(nu * (w**neg_2_over_nu - 1.0) / w), 0.0)
    return t[ok.argmax(axis=0), xp.arange(t.shape[1])]  # none accepted: row 0, where t = 0


def bandit_act(
    name: str, state: BanditState, mask: Array, noise: Array, cfg: BanditConfig = DEFAULT_CONFIG, xp: Any = np
) -> Array:
    """The arm to pull, an int array of shape (); ``mask`` must have an eligible arm. ``cfg`` is not read:
    what act needs was computed by ``update`` (or ``init``) with the config given there."""
    _check(name)
    if name == "egreedy":
        score, eps = state.cache
        greedy = xp.where(mask, score, -xp.inf).argmax()
        explore = xp.where(mask, noise[1:], -1.0).argmax()  # iid uniforms: a uniform eligible arm
        return xp.where(noise[0] < eps[0], explore, greedy)
    if name.startswith("ucb"):
        score = state.cache[0]
    else:
        mu, scale, nu, neg_2_over_nu = state.cache
        score = mu + scale * student_t(nu, neg_2_over_nu, noise, xp)
    return xp.where(mask, score, -xp.inf).argmax()


def _onehot_set(a: Array, i: Array, value: Array, xp: Any) -> Array:
    """``a`` with ``a[i] = value`` as a new array: jax arrays are immutable, and a numpy caller may keep
    the old state."""
    return xp.where(xp.arange(a.shape[0]) == i, value, a).astype(a.dtype)


def bandit_update(
    name: str, state: BanditState, arm: Array, reward: Array, cfg: BanditConfig = DEFAULT_CONFIG, xp: Any = np
) -> BanditState:
    """The state after ``arm`` paid ``reward``."""
    _check(name)
    hot = xp.arange(state.counts.shape[0]) == arm
    n, s, ss = state.counts, state.sums, state.sumsq
    if name.endswith("-discounted"):
        n, s, ss = cfg.discount * n, cfg.discount * s, cfg.discount * ss
    elif name == "ucb-window":
        pos = state.steps % state.ring_arm.shape[0]
        old_r = state.ring_reward[pos]
        out = xp.arange(n.shape[0]) == state.ring_arm[pos]  # all False while the slot is empty (-1)
        n, s, ss = n - out, s - old_r * out, ss - old_r * old_r * out
        # an arm that left the window entirely restarts from exact zeros, not from rounding residue
        s, ss = xp.where(n > 0, s, 0.0), xp.where(n > 0, ss, 0.0)
        ring_arm, ring_reward = (
            _onehot_set(state.ring_arm, pos, arm, xp),
            _onehot_set(state.ring_reward, pos, reward, xp),
        )
        state = state._replace(ring_arm=ring_arm, ring_reward=ring_reward)
    state = state._replace(
        counts=n + hot, sums=s + reward * hot, sumsq=ss + reward * reward * hot, steps=state.steps + 1
    )
    return _refresh(name, state, cfg, xp)


def arm_stats(name: str, state: BanditState, cfg: BanditConfig = DEFAULT_CONFIG) -> dict[str, list[float]]:
    """For the console: ``pulls`` (weighted as the bandit weighs them), ``mean`` (nan before a pull), and
    ``bound`` (ucb*; inf before a pull), ``posterior_mean``/``posterior_sd`` (thompson*, Student-t sd;
    nan/inf before a pull)
    or ``epsilon`` (egreedy, one value)."""
    _check(name)
    st = BanditState(*(np.asarray(a, dtype=float) for a in state))
    pulled = st.counts > 0
    mean = _mean(st, np)
    out = {"pulls": st.counts.tolist(), "mean": np.where(pulled, mean, np.nan).tolist()}
    if name == "egreedy":
        out["epsilon"] = [float(_epsilon(st, cfg, np))]
    elif name.startswith("ucb"):
        out["bound"] = np.where(pulled, _ucb(st, cfg, np), np.inf).tolist()
    else:
        mu, kappa, alpha, beta = _posterior(st, cfg, np)
        dof = 2.0 * alpha
        sd = np.sqrt(beta / (alpha * kappa) * dof / np.maximum(dof - 2.0, _TINY))
        out["posterior_mean"] = np.where(pulled, mu, np.nan).tolist()  # no belief yet beyond the prior
        out["posterior_sd"] = np.where(pulled & (dof > 2.0), sd, np.inf).tolist()
    return out


class _NoiseStream:
    """Noise for the live path, drawn in blocks from a seeded Generator so a decision only slices."""

    def __init__(self, name: str, n_arms: int, seed: int, block: int = 256) -> None:
        self.name, self.n_arms, self.block = name, n_arms, block
        self.rng = np.random.default_rng(seed)
        self._refill()

    def _refill(self) -> None:
        self.draws = noise_np(self.name, self.n_arms, self.rng, (self.block,))
        self.i = 0

    def next(self) -> Array:
        if self.i == self.block:
            self._refill()
        self.i += 1
        return self.draws[self.i - 1]

    def top_up(self) -> None:
        """Refill off the decision path (from ``update``) once the block runs low."""
        if self.i > self.block // 2:
            self._refill()


class LiveBandit(NamedTuple):
    bandit: BanditState
    noise: _NoiseStream


class BanditPolicy:
    """A bandit behind the ``Policy`` protocol, on the numpy path. The protocol's one-uniform ``key``
    is not enough noise for Thompson, so all bandits draw from a Generator seeded by ``init``'s key."""

    name = ""

    def __init__(self, cfg: BanditConfig | None = None) -> None:
        self.cfg = cfg or BanditConfig()

    def init(self, key: int, spec: PolicySpec) -> LiveBandit:
        n = len(spec.venues)
        return LiveBandit(bandit_init(self.name, n, self.cfg), _NoiseStream(self.name, n, key))

    def act(self, state: LiveBandit, obs: Observation, key: float) -> int:
        if True not in obs.mask:
            raise ValueError("no eligible venue")
        return int(bandit_act(self.name, state.bandit, np.array(obs.mask, dtype=bool), state.noise.next(), self.cfg))

    def update(self, state: LiveBandit, transition: Transition) -> LiveBandit:
        state.noise.top_up()
        if not math.isfinite(transition.reward):  # one bad report must not poison the statistics for good
            return state
        bandit = bandit_update(self.name, state.bandit, transition.venue, transition.reward, self.cfg)
        return LiveBandit(bandit, state.noise)

    def arm_stats(self, state: LiveBandit) -> dict[str, list[float]]:
        return arm_stats(self.name, state.bandit, self.cfg)


class EpsilonGreedy(BanditPolicy):
    name = "egreedy"


class UCB(BanditPolicy):
    name = "ucb"


class Thompson(BanditPolicy):
    name = "thompson"


class DiscountedUCB(BanditPolicy):
    name = "ucb-discounted"


class DiscountedThompson(BanditPolicy):
    name = "thompson-discounted"


class WindowUCB(BanditPolicy):
    name = "ucb-window"


BANDIT_POLICIES: tuple[type[BanditPolicy], ...] = (
    EpsilonGreedy,
    UCB,
    Thompson,
    DiscountedUCB,
    DiscountedThompson,
    WindowUCB,
)
