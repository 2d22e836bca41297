"""``dark-km`` (``routing/dark_router.py``): UCB over the lit venues, dark pools priced from the censored-fill
KM learner, how much to send by Ganchev's marginal rule. The live numpy policy and the jitted evaluation
twin make the same choices; the learner learns only from dark takes the pool answered; on a liquid pool the
router pings it with the marginal rule's size and beats ``ucb`` (paired, same worlds), on the default pool it
rarely goes dark; a headless session with it routes to DARK; ``LiveDarkBook`` is the environment's feature."""

from __future__ import annotations

import math
import re
import sqlite3
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hft_console.backtest.startup import session_info
from hft_console.engine.engine import Engine
from hft_console.engine.snapshot import arm_views
from hft_console.learn import env, env_dark
from hft_console.learn.evaluate import bandit_router, dark_km_router, scenario_params
from hft_console.routing import dark, dark_router
from hft_console.routing.dark_router import DarkKM, LiveDarkBook
from hft_console.routing.models.layout import DARK_LEVELS
from hft_console.routing.policy import Observation, PolicySpec, Transition
from hft_console.routing.registry import ROUTER_NAMES, make_policy
from tests.conftest import make_settings
from tests.ui.conftest import pane_text, wait_for

VENUES = ("NYSE", "NASDAQ", "ARCA", "BZX", "EDGX", "IEX", "BX", "DARK")


@pytest.fixture(scope="module")
def base() -> env.EnvParams:
    return env.params_from_settings(make_settings())


def spec_of(p: env.EnvParams) -> PolicySpec:
    n = p.dark.shape[0]
    fee = np.asarray(p.taker_fee, dtype=float)
    return PolicySpec(
        tuple(f"V{i}" for i in range(n)), fee, np.full(n, 200.0), tick=p.tick, parent_qty=p.qty,
        dark=tuple(bool(d) for d in np.asarray(p.dark) > 0), miss_penalty_ticks=p.miss_penalty_ticks,
    )  # fmt: skip


def observation(p: env.EnvParams, mask: np.ndarray, qty: float) -> Observation:
    n = mask.size
    fee = tuple(float(f) for f in np.asarray(p.taker_fee))
    return Observation(1, int(qty), (p.price,) * n, (100,) * n, (200.0,) * n, fee, tuple(bool(m) for m in mask),
                       p.price, 0)  # fmt: skip


def test_dark_km_is_a_router_the_engine_knows() -> None:
    assert "dark-km" in ROUTER_NAMES
    assert isinstance(make_policy("dark-km"), DarkKM)


def test_live_numpy_and_the_jitted_twin_make_the_same_choices(base: env.EnvParams) -> None:
    """The same history of answers taught to both (the live policy's updates; the environment's learner
    and the twin's update), then the same decisions asked of both, at random eligibility and sizes."""
    rng = np.random.default_rng(0)
    n = base.dark.shape[0]
    d = int(np.argmax(np.asarray(base.dark)))
    policy = DarkKM()
    live = policy.init(0, spec_of(base))
    twin = dark_km_router(np.asarray(base.dark))
    s = env.reset(jax.random.key(0), base)
    core = twin.init(jax.random.key(1))
    act = jax.jit(twin.act)
    learn = jax.jit(env_dark.km_learn)
    update = jax.jit(twin.update)
    went_dark = sizes = 0
    for t in range(240):
        v = int(rng.integers(n))
        qty = int(rng.integers(1, 160))
        hidden = 0 if rng.random() < 0.4 else max(1, round(rng.exponential(60.0)))
        filled, answered = min(qty, hidden) if v == d else qty, bool(rng.random() < 0.85)
        reward = -float(0.3 + 0.4 * rng.random() + 0.3 * (v == 2))  # bps: venues differ
        live = policy.update(live, Transition(v, qty, filled, -reward, 200.0, reward, t, answered))
        seen = jnp.asarray(answered and v == d)
        s = s._replace(km=learn(s.km, jnp.int32(v), jnp.float32(qty), jnp.float32(filled), seen))
        core = update(core, jnp.int32(v), jnp.float32(reward))
        for _ in range(2):
            mask = rng.random(n) < 0.7
            mask[rng.integers(n)] = True
            remaining = float(rng.integers(1, 300))
            p = base._replace(qty=remaining)
            venue, fraction = policy.act(live, observation(p, mask, remaining), 0.0)
            _, v_twin, f_twin, post = act(
                core, s._replace(eligible=jnp.asarray(mask)), jnp.zeros(1), jax.random.key(t), p
            )
            assert (venue, not bool(post)) == (int(v_twin), True), t
            assert round(fraction * remaining) == round(float(f_twin) * remaining), t
            went_dark += venue == d
            sizes += venue == d and fraction < 1.0
    assert went_dark > 20 and sizes > 5  # both paths exercised: lit and dark, partial dark pings included


def test_the_learner_learns_only_from_dark_takes_the_pool_answered(base: env.EnvParams) -> None:
    policy = DarkKM()
    state = policy.init(0, spec_of(base))
    d = int(np.argmax(np.asarray(base.dark)))
    ucb_before = state.core.bandit

    def ucb_unchanged() -> bool:
        return all(np.array_equal(a, b) for a, b in zip(state.core.bandit, ucb_before, strict=True))

    state = policy.update(state, Transition(d, 100, 0, 1.0, 5e5, -1.0, 0, answered=False))  # a timeout
    assert state.book.orders().sum() == 0 and ucb_unchanged()
    assert state.core.sent.tolist() == [1.0]  # but it was sent: the pool's answer rate falls
    state = policy.update(state, Transition(d, 100, 30, 0.7, 300.0, -0.7, 1))
    assert state.book.orders().tolist() == [1.0] and state.core.sent.tolist() == [2.0]
    assert ucb_unchanged()  # a dark answer is no UCB pull
    state = policy.update(state, Transition(0, 100, 100, 0.4, 300.0, -0.4, 2))  # lit: the UCB learns
    assert state.book.orders().tolist() == [1.0] and float(state.core.bandit.counts[0]) == 1.0
    assert float(state.core.bandit.counts[d]) == 0.0


def test_a_pool_that_never_answers_is_given_up(base: env.EnvParams) -> None:
    """A dark pool down from the start teaches the KM learner nothing; its answer rate stops the pings."""
    policy = DarkKM()
    state = policy.init(0, spec_of(base))
    n = base.dark.shape[0]
    d = int(np.argmax(np.asarray(base.dark)))
    mask = np.ones(n, dtype=bool)
    chosen = []
    for t in range(60):
        venue, _ = policy.act(state, observation(base, mask, base.qty), 0.0)
        chosen.append(venue)
        down = venue == d
        reward = -1.0 if down else -0.3  # a timeout costs the miss penalty (1 bps here); a lit take ~0.3
        transition = Transition(venue, 100, 0 if down else 100, -reward, 200.0, reward, t, answered=not down)
        state = policy.update(state, transition)
    assert chosen.count(d) <= 8 and d not in chosen[-20:] and state.book.orders().sum() == 0


def km_of_truth(mean: float, zero: float, orders: float = 1e7) -> dark.DarkState:
    """A learner that has seen ``orders`` uncensored answers of a pool with the project's law: its tail is
    the true one (expected counts: at risk N·P(H >= k), events N·P(H = k))."""
    tail = dark.model_tail(np.array([mean]), np.array([zero]), DARK_LEVELS + 1)
    survive = np.concatenate([[1.0], tail[0]])  # P(H >= k), k = 0..S
    at_risk, events = orders * survive[:-1], orders * (survive[:-1] - survive[1:])
    empty = np.zeros((1, DARK_LEVELS))
    state = dark.DarkState(
        at_risk[None], events[None], empty, np.zeros((1, DARK_LEVELS + 1)), np.zeros((1, DARK_LEVELS + 1))
    )
    return dark.dark_observe(state, np.zeros(1), np.zeros(1))  # sends nothing: recomputes what a choice reads


def ucb_with(scores: list[float], sent: list[float]) -> dark_router.RouterState:
    """A router whose lit UCB bounds are ``scores`` (−bps per venue) and that sent the pools ``sent``."""
    core = dark_router.router_init(len(scores), len(sent))
    return core._replace(bandit=core.bandit._replace(cache=np.array([scores])), sent=np.array(sent))


@pytest.mark.parametrize("lit_bps", [0.3, 0.45, 0.6])
def test_the_marginal_rule_sends_the_shares_cheaper_than_the_best_lit_venue(lit_bps: float) -> None:
    price, fee, miss = 200.0, 0.001, 0.02
    orders = 1e7
    km = km_of_truth(200.0, 0.2, orders)
    lit = lit_bps * price / 1e4  # $ a share
    sent = np.array([orders])  # every one answered
    plan = dark_router.dark_plan(km, sent, np.array([fee]), 100.0, lit, miss, 1.0)  # N = 1: ln N = 0, no width
    # share k is worth it while P(H >= k)·fee + (1 - P(H >= k))·miss < lit: P(H >= k) > (miss - lit)/(miss - fee)
    tail = dark.model_tail(np.array([200.0]), np.array([0.2]), 100)[0]
    expected = int((tail > (miss - lit) / (miss - fee)).sum())
    assert abs(int(plan.shares[0]) - expected) <= 1
    worth = tail[:expected]
    assert float(plan.saving[0]) == pytest.approx(float((lit - miss + worth * (miss - fee)).sum()), rel=0.02, abs=1e-6)
    # the router's choice on it: the pool when the rule sends a share, else the best lit bound
    state = ucb_with([-lit_bps, -9.0, 0.0], [orders])
    n_total = dark_router.answers(state)
    plan = dark_router.dark_plan(km, sent, np.array([fee]), 100.0, lit, miss, n_total)  # the width at N
    venue, shares = dark_router.choose(state, np.array([True, True, False]), km, np.array([2]), np.array([True]),
                                       np.array([fee]), 100.0, price, miss)  # fmt: skip
    assert (int(venue), int(shares)) == ((2, int(plan.shares[0])) if plan.shares[0] >= 1 else (0, 0))


def test_an_untried_pool_takes_the_whole_order_once_the_lit_arms_are_tried() -> None:
    km = dark.dark_init(1, DARK_LEVELS)
    args = (km, np.array([1]), np.array([True]), np.array([0.001]), 250.0, 200.0, 0.02)
    lit_untried, lit_tried = ucb_with([np.inf, 0.0], [0.0]), ucb_with([-0.4, 0.0], [0.0])
    assert dark_router.choose(lit_untried, np.array([True, False]), *args) == (0, 0)
    venue, shares = dark_router.choose(lit_tried, np.array([True, False]), *args)
    assert (int(venue), int(shares)) == (1, 250)  # optimism: every share, beyond the grid too
    venue, shares = dark_router.choose(lit_tried, np.array([False, False]), *args)
    assert (int(venue), int(shares)) == (1, 250)  # no lit venue eligible


Trace = dict[str, np.ndarray]


def trace(router: Any, worlds: env.EnvParams, start: jax.Array, steps: int, seed: int) -> Trace:
    """A rollout as ``evaluate`` runs one (``evaluate.rollout``), keeping what the tests read: per scenario and
    decision the cost (bps), the venue, the shares sent and the best lit UCB bound before the decision
    (``dark-km``'s lit estimate, −bps; +inf while a lit arm is untried)."""
    is_dark = worlds.dark[0] > 0

    def one(key: jax.Array, p: env.EnvParams, congested: jax.Array) -> tuple[jax.Array, ...]:
        k_reset, k_router, k_run = jax.random.split(key, 3)

        def body(carry: tuple[Any, Any], k: jax.Array) -> tuple[tuple[Any, Any], tuple[jax.Array, ...]]:
            s, r = carry
            k_act, k_env = jax.random.split(k)
            bandit = r.bandit if isinstance(r, dark_router.RouterState) else r  # dark-km's, or ucb's own
            lit = jnp.max(jnp.where(s.eligible & ~is_dark, bandit.cache[0], -jnp.inf))
            r, venue, fraction, post = router.act(r, s, env.observe(s, p), k_act, p)
            s, info = env.step(k_env, s, venue, fraction, p, post)
            return (s, router.update(r, venue, -info.cost_bps)), (info.cost_bps, venue, info.qty, lit)

        carry = (env.reset(k_reset, p, congested), router.init(k_router))
        return jax.lax.scan(body, carry, jax.random.split(k_run, steps))[1]

    keys = jax.random.split(jax.random.key(seed), start.shape[0])
    cost, venue, qty, lit = jax.jit(jax.vmap(one))(keys, worlds, start)
    return {"cost": np.asarray(cost, np.float64), "venue": np.asarray(venue), "qty": np.asarray(qty),
            "lit": np.asarray(lit, np.float64)}  # fmt: skip


def with_pool(p: env.EnvParams, zero: float) -> env.EnvParams:
    return p._replace(hidden_zero_prob=jnp.where(p.dark > 0, zero, 0.0))


SCENARIOS, STEPS = 256, 200


@pytest.fixture(scope="module")
def traces(base: env.EnvParams) -> dict[str, dict[str, Any]]:
    """``dark-km`` and ``ucb`` on the same calm worlds, each drawing its pool around the configured law
    (``evaluate.vary_dark``): a liquid pool (zero_prob 0.05) and the default one (0.7)."""
    out: dict[str, dict[str, Any]] = {}
    for label, zero in (("liquid", 0.05), ("default", float(np.max(np.asarray(base.hidden_zero_prob))))):
        worlds, start = scenario_params(with_pool(base, zero), "calm", SCENARIOS, jax.random.key(11))
        routers = {"dark-km": dark_km_router(np.asarray(base.dark)), "ucb": bandit_router("ucb", base.dark.shape[0])}
        out[label] = {name: trace(r, worlds, start, STEPS, 12) for name, r in routers.items()}
        out[label]["worlds"] = worlds
    return out


def marginal_truth(worlds: env.EnvParams, d: int, lit_bps: np.ndarray, qty: float) -> np.ndarray:
    """``(scenarios, steps)`` the marginal rule's size from each world's true hidden-liquidity tail against
    the router's lit estimate at each decision."""
    p = worlds  # batched: every leaf has a leading scenario axis, the same in every world but the pool's law

    def first(x: Any) -> float:
        return float(np.asarray(x).flat[0])

    tail = dark.model_tail(np.asarray(p.hidden_mean)[:, d], np.asarray(p.hidden_zero_prob)[:, d], int(qty))
    miss = first(p.miss_penalty_ticks) * first(p.tick)
    cost = miss - tail * (miss - float(np.asarray(p.taker_fee)[0, d]))  # (scenarios, levels) $ of the k-th share
    lit = np.clip(-lit_bps * first(p.price) / 1e4, -1e6, 1e6)
    return np.asarray((cost[:, None, :] < lit[..., None]).sum(axis=-1))


def test_on_a_liquid_pool_it_pings_with_the_marginal_size_and_beats_ucb(
    base: env.EnvParams, traces: dict[str, dict[str, Any]]
) -> None:
    d = int(np.argmax(np.asarray(base.dark)))
    km, ucb, worlds = traces["liquid"]["dark-km"], traces["liquid"]["ucb"], traces["liquid"]["worlds"]
    cost_km, cost_ucb = km["cost"].mean(axis=1), ucb["cost"].mean(axis=1)
    p_value = stats.wilcoxon(cost_km, cost_ucb, alternative="less").pvalue
    assert cost_km.mean() < cost_ucb.mean() and p_value < 1e-3, (cost_km.mean(), cost_ucb.mean(), p_value)
    late = (km["venue"] == d)[:, STEPS // 2 :]
    assert late.mean() > 0.5  # it found the liquidity
    sent = km["qty"][:, STEPS // 2 :][late]
    truth = marginal_truth(worlds, d, km["lit"], float(base.qty))[:, STEPS // 2 :][late]
    assert (sent < base.qty).mean() > 0.6  # mostly a slice, not the parent: the marginal rule, not a bandit arm
    # the size the rule gives on the learned tail tracks the rule on the true one: above it by the
    # optimism that shrinks as orders accumulate, never far below
    assert truth.mean() <= sent.mean() <= truth.mean() + 20, (sent.mean(), truth.mean())
    assert np.corrcoef(sent, truth)[0, 1] > 0.5


def test_on_the_default_pool_it_rarely_goes_dark(base: env.EnvParams, traces: dict[str, dict[str, Any]]) -> None:
    d = int(np.argmax(np.asarray(base.dark)))
    km, worlds = traces["default"]["dark-km"], traces["default"]["worlds"]
    illiquid = np.asarray(worlds.hidden_zero_prob)[:, d] >= 0.5  # worlds whose pool is as the config says
    dark_share = (km["venue"] == d).mean(axis=1)
    assert illiquid.sum() > SCENARIOS // 2 and dark_share[illiquid].mean() < 0.05
    assert (km["venue"] == d).mean() < 0.2  # all worlds, the liquid draws of the default law included


def test_the_live_book_is_the_environments_feature_for_the_same_orders(base: env.EnvParams) -> None:
    rng = np.random.default_rng(5)
    n = base.dark.shape[0]
    d = int(np.argmax(np.asarray(base.dark)))
    book = LiveDarkBook(tuple(bool(x) for x in np.asarray(base.dark) > 0))
    km = env_dark.km_start(n)
    learn = jax.jit(env_dark.km_learn)
    feature = jax.jit(env_dark.fill_share_feature)
    for t in range(150):
        v = d if rng.random() < 0.7 else int(rng.integers(n))
        qty = int(rng.integers(1, 200))  # past the grid too: flat beyond it, in both
        hidden = 0 if rng.random() < 0.5 else max(1, round(rng.exponential(70.0)))
        filled, answered = (min(qty, hidden), bool(rng.random() < 0.9)) if v == d else (qty, True)
        learnt = book.learn(Transition(v, qty, filled, 0.5, 200.0, -0.5, t, answered))
        assert learnt == (v == d and answered)
        km = learn(km, jnp.int32(v), jnp.float32(qty), jnp.float32(filled), jnp.asarray(v == d and answered))
        if t % 10 == 0:
            for q in (1.0, 37.0, base.qty, 300.0):
                want = np.asarray(feature(km, base.dark, q))
                assert book.fill_shares(q) == pytest.approx(want.tolist(), abs=1e-5)
    assert book.fill_shares(base.qty)[d] < 1.0 and book.orders()[0] == pytest.approx(float(km.at_risk[d, 0]))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A finished headless session (fast mode, simulated clock) routed by ``dark-km``."""
    engine = Engine(
        make_settings(session__router="dark-km", session__duration_s=60), tmp_path_factory.mktemp("dk") / "run"
    )
    engine.run()
    return engine


def test_a_headless_session_with_dark_km_routes_to_the_dark_pool(session: Engine) -> None:
    engine = session
    assert engine.router.name == "dark-km" and not engine.router.warnings and engine.run_dir is not None
    assert session_info(engine).router_kind == "bandit"  # what the start-up screen says of it: nothing trained
    db = sqlite3.connect(engine.run_dir / "journal.sqlite")
    try:
        routed = dict(
            db.execute("select venue, count(*) from orders where router = 'dark-km' group by venue").fetchall()
        )
        # answered: filled or cancelled unfilled (a timeout, VENUE_DOWN, or a reject is REJECTED; EXPIRED: no answer)
        (heard,) = db.execute(
            "select count(*) from orders where venue = 'DARK' and status not in ('REJECTED', 'EXPIRED')"
        ).fetchone()
    finally:
        db.close()
    assert routed.get("DARK", 0) >= 3 and sum(routed.values()) > routed["DARK"]  # lit venues too
    state = engine.router.state
    assert state.book.orders()[0] == heard >= 3  # the learner counts the pool's answers, no more
    arms = {a.venue: a for a in arm_views(engine)}
    assert set(arms) == {v.name for v in engine.venues}
    assert all(a.belief for a in arms.values())  # the router pane's Bound column: a figure or a dash per venue
    assert arms["DARK"].belief != "—" and arms["DARK"].pulls == routed["DARK"]
    figures = engine.router.policy.arm_stats(state)
    dark_venue = [v.name for v in engine.venues].index("DARK")
    assert 0.0 <= figures["fill_share"][dark_venue] <= 1.0 and figures["dark_orders"][dark_venue] == heard
    assert all(math.isnan(x) for i, x in enumerate(figures["fill_share"]) if i != dark_venue)


async def test_the_router_pane_renders_dark_km_s_arms(session: Engine) -> None:
    from hft_console.ui.app import ConsoleApp  # imports Textual: only this test needs it
    from hft_console.ui.panes import RouterPane  # imports Textual: as above

    app = ConsoleApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "DARK" in pane_text(app.query_one(RouterPane)))
        text = pane_text(app.query_one(RouterPane))
    assert "Bound" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.split() and line.split()[0] in VENUES}
    assert set(rows) == set(VENUES) and re.search(r"[+-]\d+\.\d\d", rows["DARK"]), text
