"""The censored-feedback dark-pool learner (``routing/dark.py``, Ganchev et al. 2010) on the project's own
hidden-liquidity law: Kaplan-Meier recovers the tail that averaging fills cannot, the expected fill
matches the environment's closed form, the choice learns the better pool (and with forgetting drops one
that dries up), and numpy and jitted jax agree."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hft_console.learn import env
from hft_console.routing import dark
from hft_console.settings.load import load_settings

Pools = tuple[np.ndarray, np.ndarray]  # (mean shares, zero prob) per pool

# the default config's DARK pool and a second, shallower one met more often
MEAN = np.array([200.0, 60.0])
ZERO = np.array([0.7, 0.4])
WORSE_BETTER: Pools = (np.array([200.0, 150.0]), np.array([0.7, 0.3]))  # fill share 0.24 vs 0.52 at q = 100
DRIED: Pools = (np.array([200.0, 150.0]), np.array([0.7, 0.97]))  # pool 1 dries up: fill share 0.02


def hidden(rng: np.random.Generator, pools: Pools, n: int) -> np.ndarray:
    """``(n, P)`` hidden sizes by the simulator's dark law (``VenueSim``'s dark branch, ``env.step``):
    0 with the zero prob, else max(1, round(Exp(mean)))."""
    mean, zero = pools
    size = np.maximum(1.0, np.round(rng.exponential(mean, (n, mean.shape[0]))))
    return np.where(rng.random((n, mean.shape[0])) < zero, 0.0, size)


@pytest.fixture(scope="module")
def dark_params() -> env.EnvParams:
    """What ``env.hidden_fill_share`` reads of the environment's parameters (only ``hidden_mean`` and
    ``hidden_zero_prob``: building the whole ``EnvParams`` costs ~9 s of jit), for the two pools;
    pool 0 is checked to be the default config's DARK venue."""
    spec = next(v for v in load_settings({}, environ={}, dotenv_path=None).venues if v.kind == "dark")
    assert (spec.name, spec.hidden_liquidity_mean_shares, spec.hidden_liquidity_zero_prob) == ("DARK", MEAN[0], ZERO[0])
    fields = SimpleNamespace(
        hidden_mean=jnp.asarray(MEAN, jnp.float32), hidden_zero_prob=jnp.asarray(ZERO, jnp.float32)
    )
    return cast(env.EnvParams, fields)


@pytest.fixture(scope="module")
def learned() -> tuple[dark.DarkState, np.ndarray]:
    """20 000 orders to each pool, sizes uniform on 1..1000 (any child up to risk.max_order_qty): the
    learned state and the fills."""
    rng = np.random.default_rng(2009)
    n = 20_000
    h = hidden(rng, (MEAN, ZERO), n)
    q = rng.integers(1, dark.S_MAX + 1, (n, 2)).astype(float)
    fills = np.minimum(q, h)
    state = dark.dark_init(2)
    for t in range(n):
        state = dark.dark_observe(state, q[t], fills[t])
    return state, fills


def test_kaplan_meier_recovers_the_tail_that_averaging_fills_underestimates(
    learned: tuple[dark.DarkState, np.ndarray],
) -> None:
    state, fills = learned
    true = dark.model_tail(MEAN, ZERO)
    km_err = np.abs(state.tail - true).max(axis=1)
    assert (km_err < 0.01).all(), km_err  # measured 0.0033 and 0.0055 (sampling sd at s = 1: 0.0032)
    # the naive estimator: fills taken as exact H, P(H >= s) ~ the share of fills >= s
    levels = np.arange(1, dark.S_MAX + 1)
    naive = (fills[:, :, None] >= levels).mean(axis=0)
    deep = np.array([99, 199])  # s = 100, 200 shares: censored by orders smaller than that
    km_rel, naive_rel = state.tail[:, deep] / true[:, deep] - 1.0, naive[:, deep] / true[:, deep] - 1.0
    assert (np.abs(km_rel) < 0.06).all(), km_rel  # measured within 5%
    assert (naive_rel < -0.08).all() and (naive_rel[:, 1] < -0.12).all(), naive_rel  # measured 9-21% low
    # the mean of H (within the 1000-share grid): KM within 2%, the mean of fills 5-20% low
    true_mean, km_mean, naive_mean = true.sum(axis=1), state.tail.sum(axis=1), fills.mean(axis=0)
    assert (np.abs(km_mean / true_mean - 1.0) < 0.02).all(), (km_mean, true_mean)  # 58.7 / 59.6, 36.5 / 36.0
    assert (naive_mean / true_mean < 0.96).all(), (naive_mean, true_mean)  # 47.7, 34.0


@pytest.mark.parametrize("q", [1, 10, 100, 500, 1000])
def test_expected_fill_matches_the_environments_closed_form(
    learned: tuple[dark.DarkState, np.ndarray], dark_params: env.EnvParams, q: int
) -> None:
    state, _ = learned
    closed = np.asarray(env.hidden_fill_share(dark_params, float(q))) * q
    model = dark.expected_fill(dark.model_tail(MEAN, ZERO), q)
    np.testing.assert_allclose(model, closed, rtol=1e-4)  # the same law, summed vs in closed form
    np.testing.assert_allclose(dark.expected_fill(state.tail, q), closed, rtol=0.03)
    share = dark.fill_share_estimate(state, q)
    np.testing.assert_allclose(share, closed / q, rtol=0.03)
    assert ((share >= 0.0) & (share <= 1.0)).all()


def test_expected_fill_sums_the_tail_and_extrapolates_it_flat() -> None:
    tail = dark.model_tail(MEAN, ZERO, levels=10)
    np.testing.assert_allclose(dark.expected_fill(tail, 2.5), tail[:, 0] + tail[:, 1] + 0.5 * tail[:, 2])
    np.testing.assert_allclose(dark.expected_fill(tail, 15), tail.sum(axis=1) + 5 * tail[:, -1])
    np.testing.assert_allclose(dark.expected_fill(tail, np.array([3.0, 0.0])), [tail[0, :3].sum(), 0.0])
    # the second moment the exploration bonus uses, against E[min(q, H)²] by brute force over the law
    h = hidden(np.random.default_rng(1), (MEAN, ZERO), 400_000)
    zero, s = np.zeros((2, 1)), np.arange(1, 11)
    fill_cum = np.concatenate([zero, tail.cumsum(axis=1)], axis=1)  # the cache as DarkState defines it
    square_cum = np.concatenate([zero, ((2 * s - 1) * tail).cumsum(axis=1)], axis=1)
    state = dark.dark_init(2, 10)._replace(tail=tail, fill_cum=fill_cum, square_cum=square_cum)
    mean, square = dark.fill_moments(state, 7.0)
    np.testing.assert_allclose(mean, np.minimum(h, 7.0).mean(axis=0), rtol=0.01)
    np.testing.assert_allclose(square, (np.minimum(h, 7.0) ** 2).mean(axis=0), rtol=0.01)


def simulate(
    pools_at: Callable[[int], Pools], steps: int, cfg: dark.DarkConfig, seed: int, q: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Children of ``q`` shares (the environment's order size) to the pool ``dark_choose`` picks, from no
    knowledge; the pools chosen and each choice's regret in expected shares filled."""
    rng = np.random.default_rng(seed)
    state, eligible = dark.dark_init(2, q, cfg), np.ones(2, dtype=bool)
    arms, regret = np.empty(steps, dtype=int), np.empty(steps)
    for t in range(steps):
        pools = pools_at(t)
        h = hidden(rng, pools, 1)[0]
        arm = int(dark.dark_choose(state, eligible, q, cfg))
        state = dark.dark_update(state, arm, q, min(q, h[arm]), cfg)
        fill = dark.expected_fill(dark.model_tail(*pools, levels=q), q)
        arms[t], regret[t] = arm, fill.max() - fill[arm]
    return arms, regret


@pytest.mark.parametrize("bonus", [1.0, 0.0])
def test_the_learner_sends_most_orders_to_the_deeper_pool(bonus: float) -> None:
    cfg = dark.DarkConfig(bonus=bonus)
    for seed in range(3):
        arms, regret = simulate(lambda t: WORSE_BETTER, 2000, cfg, seed)
        share = (arms[1000:] == 1).mean()
        assert share > 0.98, (seed, share)  # measured 0.989-1.0
        assert regret[1000:].sum() < 0.7 * regret[:1000].sum(), (seed, regret[:1000].sum(), regret[1000:].sum())


def test_forgetting_abandons_a_pool_that_dries_up_faster() -> None:
    def pools_at(t: int) -> Pools:
        return WORSE_BETTER if t < 1000 else DRIED

    stay, post = {}, {}
    for discount in (1.0, 0.99):
        arms, regret = simulate(pools_at, 2000, dark.DarkConfig(discount=discount), seed=7)
        assert (arms[500:1000] == 1).mean() > 0.8, discount  # both had found the better pool
        stay[discount], post[discount] = (arms[1000:] == 1).sum(), regret[1000:].sum()
    # measured (seed 7): of the 1000 orders after the switch 688 still go to the dried pool without
    # forgetting, 190 with γ = 0.99; regret 14 736 vs 4 070 expected shares unfilled
    assert stay[0.99] < 250 < 500 < stay[1.0], stay
    assert post[0.99] < 0.4 * post[1.0], post


def test_discount_decays_every_pools_counts() -> None:
    cfg = dark.DarkConfig(discount=0.5)
    state = dark.dark_update(dark.dark_init(2, 10, cfg), 0, 4, 2, cfg)
    state = dark.dark_update(state, 1, 4, 4, cfg)
    np.testing.assert_array_equal(state.at_risk[0], 0.5 * np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]))
    np.testing.assert_array_equal(state.events[0], 0.5 * np.eye(10)[2])
    np.testing.assert_array_equal(state.at_risk[1], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # censored: k < 4
    assert not state.events[1].any()


def _np_loop(h: np.ndarray, q: float, cfg: dark.DarkConfig) -> tuple[dark.DarkState, np.ndarray]:
    state, eligible = dark.dark_init(h.shape[1], 64, cfg), np.array([True, True, False, True])
    arms = np.empty(h.shape[0], dtype=int)
    for t in range(h.shape[0]):
        arms[t] = int(dark.dark_choose(state, eligible, q, cfg))
        state = dark.dark_update(state, arms[t], q, min(q, h[t, arms[t]]), cfg)
    return state, arms


@pytest.mark.parametrize("discount", [1.0, 0.98])
def test_numpy_and_jitted_jax_agree(discount: float) -> None:
    cfg, q, steps = dark.DarkConfig(discount=discount), 50.0, 300
    pools: Pools = (np.array([40.0, 200.0, 100.0, 20.0]), np.array([0.5, 0.7, 0.2, 0.1]))
    h = np.stack([hidden(np.random.default_rng(s), pools, steps) for s in range(3)])  # (3 runs, T, P)
    expected = [_np_loop(h[r], q, cfg) for r in range(3)]

    with jax.enable_x64(True):

        def run(hid: Any) -> tuple[dark.DarkState, Any]:
            eligible = jnp.array([True, True, False, True])

            def step(state: dark.DarkState, h_t: Any) -> tuple[dark.DarkState, Any]:
                arm = dark.dark_choose(state, eligible, q, cfg, xp=jnp)
                fill = jnp.minimum(q, h_t[arm])
                return dark.dark_update(state, arm, q, fill, cfg, xp=jnp), arm

            return jax.lax.scan(step, dark.dark_init(4, 64, cfg, xp=jnp), hid)

        states, arms = jax.jit(jax.vmap(run))(jnp.asarray(h))
        for r, (np_state, np_arms) in enumerate(expected):
            np.testing.assert_array_equal(np.asarray(arms[r]), np_arms)
            for field, a, b in zip(dark.DarkState._fields, np_state, states, strict=True):
                np.testing.assert_allclose(np.asarray(b[r]), a, rtol=1e-12, atol=1e-12, err_msg=field)
        one = jax.tree.map(lambda x: x[0], states)
        share = jax.jit(lambda s: dark.fill_share_estimate(s, q, xp=jnp))(one)
        np.testing.assert_allclose(np.asarray(share), dark.fill_share_estimate(expected[0][0], q), rtol=1e-12)
        for total in (0, 7, 150, 1000):  # 1000 > 4 pools x 64 levels: the rest goes past the grid
            alloc = jax.jit(lambda s, v: dark.dark_allocate(s, v, xp=jnp))(one, total)
            np.testing.assert_array_equal(np.asarray(alloc), dark.dark_allocate(expected[0][0], total))


def test_float32_jax_follows_numpy_within_rounding() -> None:
    """JAX's default float32 (the evaluation's): the same orders give the same tail to float32 rounding."""
    pools: Pools = (np.array([40.0, 200.0, 100.0, 20.0]), np.array([0.5, 0.7, 0.2, 0.1]))
    h = hidden(np.random.default_rng(5), pools, 400)
    state, arms = _np_loop(h, 50.0, dark.DarkConfig(discount=0.99))
    fills = np.minimum(50.0, h[np.arange(400), arms])

    def step(s: dark.DarkState, x: tuple[Any, Any]) -> tuple[dark.DarkState, None]:
        return dark.dark_update(s, x[0], 50.0, x[1], dark.DarkConfig(discount=0.99), xp=jnp), None

    init = dark.dark_init(4, 64, xp=jnp)
    jx, _ = jax.jit(lambda xs: jax.lax.scan(step, init, xs))((jnp.asarray(arms), jnp.asarray(fills, jnp.float32)))
    assert jx.tail.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(jx.tail), state.tail, atol=1e-5)
    got = jax.jit(lambda s: dark.fill_share_estimate(s, 50.0, xp=jnp))(jx)
    np.testing.assert_allclose(np.asarray(got), dark.fill_share_estimate(state, 50.0), atol=1e-5)


def test_allocation_is_the_sequential_greedy() -> None:
    rng = np.random.default_rng(3)
    state = dark.dark_init(3, 40)
    for _ in range(60):
        q = rng.integers(1, 41, 3).astype(float)
        state = dark.dark_observe(state, q, np.minimum(q, hidden(rng, (MEAN[[0, 1, 0]], ZERO[[0, 1, 1]]), 1)[0]))
    for total in (0, 1, 17, 60, 120, 130):
        placed = np.zeros(3, dtype=int)
        for _ in range(total):  # one share at a time where the next one is most likely to fill
            nxt = np.where(placed < 40, state.tail[np.arange(3), np.minimum(placed, 39)], -1.0)
            placed[nxt.argmax() if nxt.max() >= 0 else state.tail[:, -1].argmax()] += 1
        alloc = dark.dark_allocate(state, total)
        assert alloc.sum() == total
        got = np.sort(np.concatenate([state.tail[i, : min(a, 40)] for i, a in enumerate(alloc)]))
        want = np.sort(np.concatenate([state.tail[i, : min(a, 40)] for i, a in enumerate(placed)]))
        np.testing.assert_allclose(got, want, atol=1e-6)  # the same shares' worth (ties may land elsewhere)
    only = dark.dark_allocate(state, 30, eligible=np.array([False, True, False]))
    np.testing.assert_array_equal(only, [0, 30, 0])


def test_an_untouched_pool_is_optimistic() -> None:
    state = dark.dark_init(3, 100)
    assert (state.tail == 1.0).all()
    np.testing.assert_array_equal(dark.fill_share_estimate(state, 100), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(dark.dark_allocate(state, 10), [4, 3, 3])  # ties: round robin
    for _ in range(30):  # pool 0 learned: it fills half of every order
        state = dark.dark_update(state, 0, 100, 50)
    assert dark.fill_share_estimate(state, 100)[0] == pytest.approx(0.5)
    assert np.isinf(dark.choice_scores(state, 100)[1:]).all()
    assert int(dark.dark_choose(state, np.array([True, False, True]), 100)) == 2
    # fewer than min_at_risk orders: hazard 0, the pool still looks whole
    few = dark.dark_update(dark.dark_init(1, 100), 0, 100, 0)
    assert (few.tail == 1.0).all()


def test_bad_input_raises_on_the_numpy_path() -> None:
    state = dark.dark_init(2, 10)
    with pytest.raises(ValueError, match="q >= 1"):
        dark.dark_update(state, 0, 0, 0)
    with pytest.raises(ValueError, match=r"\[0, q\]"):
        dark.dark_update(state, 0, 5, 6)
    with pytest.raises(ValueError, match=r"\[0, q\]"):
        dark.dark_update(state, 0, 5, -1)
    with pytest.raises(ValueError, match="out of range"):
        dark.dark_update(state, 2, 5, 1)
    with pytest.raises(ValueError, match="finite"):
        dark.dark_update(state, 0, float("nan"), 1)
    with pytest.raises(ValueError, match=r"\[0, q\]"):
        dark.dark_observe(state, np.array([0.0, 3.0]), np.array([1.0, 0.0]))  # a fill where nothing went
    with pytest.raises(ValueError, match="no eligible"):
        dark.dark_choose(state, np.zeros(2, dtype=bool), 5)
    with pytest.raises(ValueError):
        dark.dark_init(0)
    # q = 0 in an allocation's observation means nothing was sent: counts unchanged
    same = dark.dark_observe(state, np.array([0.0, 0.0]), np.array([0.0, 0.0]))
    np.testing.assert_array_equal(same.at_risk, state.at_risk)
    # under jax the same q = 0 order is ignored (jax cannot raise on traced values)
    jx = dark.dark_update(dark.dark_init(2, 10, xp=jnp), 0, 0.0, 0.0, xp=jnp)
    assert not np.asarray(jx.at_risk).any()
