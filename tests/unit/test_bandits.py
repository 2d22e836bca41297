from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hft_console.routing import bandits
from hft_console.routing.policy import Observation, PolicySpec, Transition

K = 6
SD = 0.5
MEANS = np.array([-0.7, -1.0, -0.4, -0.9, -0.6, -0.8])  # bps; arm 2 is best
CLOSE = np.array([-0.76, -1.0, -0.4, -0.88, -0.52, -0.64])  # −1.0…−0.4 in steps of 0.12; arm 2 is best
BEFORE = np.array([-1.0, -1.0, -0.3, -1.0, -0.6, -1.0])  # arm 2 best …
AFTER = np.array([-1.0, -1.0, -1.3, -1.0, -0.6, -1.0])  # … then worst: arm 4 is best
STATIONARY = ("egreedy", "ucb", "thompson")
ADAPTIVE = ("ucb-discounted", "thompson-discounted", "ucb-window")


def simulate(
    name: str, means_at: Callable[[int], np.ndarray], steps: int, seed: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """The numpy path step by step on Gaussian arms: the arms pulled and each pull's expected regret."""
    rng = np.random.default_rng(seed)
    noise = bandits.noise_np(name, K, rng, (steps,))
    shocks = rng.standard_normal(steps) * SD
    state, mask = bandits.bandit_init(name, K), np.ones(K, dtype=bool)
    arms, regret = np.empty(steps, dtype=int), np.empty(steps)
    for t in range(steps):
        means = means_at(t)
        arm = int(bandits.bandit_act(name, state, mask, noise[t]))
        state = bandits.bandit_update(name, state, arm, scale * (means[arm] + shocks[t]))
        arms[t], regret[t] = arm, means.max() - means[arm]
    return arms, regret


@pytest.mark.parametrize("name", bandits.BANDIT_NAMES)
def test_finds_the_best_arm_of_a_stationary_problem(name: str) -> None:
    shares = [(simulate(name, lambda t: MEANS, 3000, seed)[0][2250:] == 2).mean() for seed in range(3)]
    # forgetting costs the adaptive variants some of the share; the best arm still dominates
    assert np.mean(shares) > (0.9 if name in STATIONARY else 0.6), shares
    assert min(shares) > 0.5, shares


@pytest.mark.parametrize("name", ["ucb", "thompson"])
def test_regret_grows_sublinearly(name: str) -> None:
    regret = np.mean([simulate(name, lambda t: CLOSE, 10_000, seed)[1] for seed in range(2)], axis=0)
    first, second = regret[:5000].sum(), regret[5000:].sum()
    assert second < 0.5 * first, (first, second)


def test_adaptive_variants_recover_from_a_regime_switch_where_stationary_ones_lag() -> None:
    def means_at(t: int) -> np.ndarray:
        return BEFORE if t < 2000 else AFTER

    soon, late, post_regret = {}, {}, {}
    for name in bandits.BANDIT_NAMES:
        arms, regret = simulate(name, means_at, 4000, seed=11)
        soon[name], late[name] = (arms[2000:2500] == 4).mean(), (arms[3000:] == 4).mean()
        post_regret[name] = regret[2000:].sum()
    for name in ADAPTIVE:
        assert late[name] > 0.65 and soon[name] > 0.55, (name, soon, late)
    for name in STATIONARY:
        assert soon[name] < 0.4, (name, soon)
    assert max(post_regret[n] for n in ADAPTIVE) < 0.6 * min(post_regret[n] for n in STATIONARY), post_regret


@pytest.mark.parametrize("name", bandits.BANDIT_NAMES)
def test_decisions_do_not_depend_on_the_reward_scale(name: str) -> None:
    base = simulate(name, lambda t: CLOSE, 600, seed=3)[0]
    for scale in (64.0, 1 / 16):  # powers of two scale every statistic exactly
        assert (simulate(name, lambda t: CLOSE, 600, seed=3, scale=scale)[0] == base).all()


@pytest.mark.parametrize("nu", [2.0, 3.0, 7.5, 50.0])
def test_thompson_draws_follow_the_student_t_law(nu: float) -> None:
    rng, n = np.random.default_rng(int(nu)), 200_000
    t = bandits.student_t(np.full(n, nu), np.full(n, -2 / nu), rng.random((2, bandits.T_TRIES, n)), np)
    q = [0.005, 0.05, 0.25, 0.75, 0.95, 0.995]
    np.testing.assert_allclose(np.quantile(t, q), np.quantile(rng.standard_t(nu, n), q), rtol=0.05)


def random_masks(rng: np.random.Generator, steps: int) -> np.ndarray:
    masks = rng.random((steps, K)) < 0.4
    masks[np.arange(steps), rng.integers(0, K, steps)] = True  # at least one eligible
    return masks


@pytest.mark.parametrize("name", bandits.BANDIT_NAMES)
def test_never_picks_an_ineligible_arm(name: str) -> None:
    rng = np.random.default_rng(5)
    masks = random_masks(rng, 2000)
    noise = bandits.noise_np(name, K, rng, (2000,))
    state = bandits.bandit_init(name, K)
    for t, mask in enumerate(masks):
        arm = int(bandits.bandit_act(name, state, mask, noise[t]))
        assert mask[arm]
        state = bandits.bandit_update(name, state, arm, MEANS[arm] + SD * rng.standard_normal())
    for only in range(K):
        mask = np.arange(K) == only
        assert int(bandits.bandit_act(name, state, mask, noise[0])) == only


@pytest.mark.parametrize("name", bandits.BANDIT_NAMES)
def test_numpy_and_jitted_jax_scan_agree(name: str) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    steps, rng = 1500, np.random.default_rng(9)
    masks, noise = random_masks(rng, steps), bandits.noise_np(name, K, rng, (steps,))
    shocks = rng.standard_normal(steps) * SD

    state = bandits.bandit_init(name, K)
    np_arms = []
    for t in range(steps):
        arm = int(bandits.bandit_act(name, state, masks[t], noise[t]))
        state = bandits.bandit_update(name, state, arm, MEANS[arm] + shocks[t])
        np_arms.append(arm)

    with jax.enable_x64(True):

        def step(st: bandits.BanditState, x: tuple[Any, ...]) -> tuple[bandits.BanditState, Any]:
            mask, nz, shock = x
            arm = bandits.bandit_act(name, st, mask, nz, xp=jnp)
            return bandits.bandit_update(name, st, arm, jnp.asarray(MEANS)[arm] + shock, xp=jnp), arm

        xs = (jnp.asarray(masks), jnp.asarray(noise), jnp.asarray(shocks))
        jx_state, jx_arms = jax.jit(lambda s0, xs: jax.lax.scan(step, s0, xs))(bandits.bandit_init(name, K, xp=jnp), xs)
        assert np.asarray(jx_arms).tolist() == np_arms
        for field, a, b in zip(bandits.BanditState._fields, state, jx_state, strict=True):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-9, atol=1e-9, err_msg=field)


@pytest.mark.parametrize("name", bandits.BANDIT_NAMES)
def test_vmap_over_64_problems_under_jit(name: str) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    n, steps, rng = 64, 1500, np.random.default_rng(4)
    best = np.arange(n) % K
    means = jnp.asarray(np.where(np.arange(K) == best[:, None], -0.2, -0.9))  # each problem its own best arm
    noise = jnp.asarray(bandits.noise_np(name, K, rng, (n, steps)))  # float32, as JAX defaults
    shocks = jnp.asarray(rng.standard_normal((n, steps)) * SD)

    def one(m: Any, noise: Any, shocks: Any) -> Any:
        def step(st: bandits.BanditState, x: tuple[Any, ...]) -> tuple[bandits.BanditState, Any]:
            nz, shock = x
            arm = bandits.bandit_act(name, st, jnp.ones(K, dtype=bool), nz, xp=jnp)
            return bandits.bandit_update(name, st, arm, m[arm] + shock, xp=jnp), arm

        return jax.lax.scan(step, bandits.bandit_init(name, K, xp=jnp), (noise, shocks))

    states, arms = jax.jit(jax.vmap(one))(means, noise, shocks)
    assert arms.shape == (n, steps) and states.counts.shape == (n, K)
    assert all(bool(jnp.isfinite(a).all()) for a in (states.sums, states.sumsq, states.counts))
    assert float((arms[:, -500:] == best[:, None]).mean()) > 0.8


def test_jax_noise_has_the_declared_shapes() -> None:
    jax = pytest.importorskip("jax")
    for name in bandits.BANDIT_NAMES:
        u = np.asarray(bandits.noise_jax(name, K, jax.random.key(0), (3000,)))
        assert u.shape == (3000, *bandits.bandit_noise_shape(name, K))
        assert u.size == 0 or (u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02)


SPEC = PolicySpec(tuple("ABCDEF"), taker_fee=np.full(K, 0.003), prior_latency_us=np.full(K, 200.0))


def observation(mask: tuple[bool, ...], decision: int) -> Observation:
    return Observation(side=1, qty=100, price=(100.01,) * K, size=(300,) * K, latency_us=(200.0,) * K,
                       fee=(0.003,) * K, mask=mask, mid=100.0, decision=decision)  # fmt: skip


@pytest.mark.parametrize("cls", bandits.BANDIT_POLICIES)
def test_policy_wrapper_routes_learns_and_reports(cls: type[bandits.BanditPolicy]) -> None:
    policy, rng = cls(), np.random.default_rng(2)
    assert policy.name in bandits.BANDIT_NAMES
    state, picks = policy.init(7, SPEC), []
    for d in range(1500):
        mask = tuple(bool(x) for x in rng.random(K) < 0.8) if d % 3 else (True,) * K
        mask = mask if any(mask) else (True,) * K
        venue = policy.act(state, observation(mask, d), key=0.5)
        assert isinstance(venue, int) and mask[venue]
        cost = -MEANS[venue] + SD * rng.standard_normal()
        state = policy.update(state, Transition(venue, 100, 100, cost, 300.0, -cost))
        picks.append(venue)
    assert np.mean(np.array(picks[-300:]) == 2) > 0.5
    stats = policy.arm_stats(state)
    extra = {"egreedy": {"epsilon"}, "ucb": {"bound"}, "thompson": {"posterior_mean", "posterior_sd"}}
    assert set(stats) == {"pulls", "mean"} | extra[policy.name.split("-")[0]]
    assert len(stats["pulls"]) == K and all(math.isfinite(x) for x in stats["mean"])
    assert policy.update(state, Transition(0, 100, 0, math.nan, 300.0, math.nan)).bandit is state.bandit
    with pytest.raises(ValueError, match="no eligible venue"):
        policy.act(state, observation((False,) * K, 0), key=0.5)


def test_policy_is_reproducible_from_its_key_and_reports_unpulled_arms() -> None:
    def run(key: int) -> list[int]:
        policy = bandits.Thompson()
        state, picks = policy.init(key, SPEC), []
        for d in range(50):
            venue = policy.act(state, observation((True,) * K, d), key=0.5)
            state = policy.update(state, Transition(venue, 100, 100, 0.5, 300.0, -0.5 - 0.1 * venue))
            picks.append(venue)
        return picks

    assert run(1) == run(1)
    assert run(1) != run(2)
    fresh = bandits.arm_stats("ucb", bandits.bandit_init("ucb", K))
    assert fresh["pulls"] == [0.0] * K and all(math.isnan(x) for x in fresh["mean"])
    assert fresh["bound"] == [math.inf] * K


def test_unknown_bandit() -> None:
    with pytest.raises(ValueError, match="unknown bandit"):
        bandits.bandit_init("nosuch", K)


def test_ucb_window_is_ucb_until_its_window_fills_and_says_so() -> None:
    """Why ucb-window and ucb read the same in evaluate (200 decisions) and a 10 s backtest (50-70
    orders): until an answer leaves the 200-update window the two make the very same choices."""
    window = bandits.DEFAULT_CONFIG.window

    def means_at(t: int) -> np.ndarray:
        return BEFORE if t < window // 2 else AFTER

    plain, windowed = (simulate(n, means_at, 3 * window, seed=5)[0] for n in ("ucb", "ucb-window"))
    assert (plain[: window + 1] == windowed[: window + 1]).all()
    assert (plain[window + 1 :] != windowed[window + 1 :]).any()
    assert bandits.same_as("ucb-window", window) == "ucb" and bandits.same_as("ucb-window", window + 1) is None
    assert all(bandits.same_as(name, 10) is None for name in bandits.BANDIT_NAMES if name != "ucb-window")
