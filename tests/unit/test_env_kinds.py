"""The JAX environment's venue kinds mirror the venue simulator's: a feed delay ages the quote, an
inverted venue's negative fee pays, a speed-bump venue fills a share of takes whole at its midpoint, a
dark venue shows nothing, is always eligible and fills min(child, hidden) at the mid. The oracle's
expected cost is the mean of what a step charges, venue by venue."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hft_console.learn import env
from hft_console.learn.evaluate import baseline
from hft_console.routing.baselines import BestPrice, LowestFee
from hft_console.routing.policy import Observation
from tests.conftest import make_settings

N = 40_000  # steps per Monte Carlo estimate


@pytest.fixture(scope="module")
def world() -> tuple[env.EnvParams, list[str]]:
    s = make_settings()
    return env.params_from_settings(s), [v.name for v in s.venues]


def index(names: list[str], name: str) -> int:
    return names.index(name)


def steps(p: env.EnvParams, s: env.EnvState, venue: int, seed: int = 0) -> env.StepInfo:
    """``N`` independent steps from the same state, all to ``venue`` with the whole child."""
    keys = jax.random.split(jax.random.key(seed), N)
    return jax.vmap(lambda k: env.step(k, s, jnp.int32(venue), jnp.ones(()), p)[1])(keys)


def whole_child_state(p: env.EnvParams) -> env.EnvState:
    """Every venue eligible, every lit venue showing more than the parent: a step is the whole child."""
    s = env.reset(jax.random.key(0), p)
    return s._replace(eligible=jnp.ones_like(s.eligible), size=jnp.where(p.dark > 0, 0.0, 10 * p.qty))


def test_the_shipped_set_maps_every_kind(world: tuple[env.EnvParams, list[str]]) -> None:
    p, names = world
    dark, iex, bx = (index(names, n) for n in ("DARK", "IEX", "BX"))
    assert np.asarray(p.dark).tolist() == [1.0 if i == dark else 0.0 for i in range(len(names))]
    assert float(p.midpoint_share[iex]) > 0 and float(jnp.sum(p.midpoint_share)) == float(p.midpoint_share[iex])
    assert float(p.taker_fee[bx]) < 0
    assert float(p.hidden_mean[dark]) > 0 and float(jnp.sum(p.hidden_mean)) == float(p.hidden_mean[dark])


def test_a_dark_venue_is_always_eligible_displays_nothing_and_a_lit_venue_is_at_the_touch(
    world: tuple[env.EnvParams, list[str]],
) -> None:
    p, names = world
    dark = index(names, "DARK")
    states = jax.vmap(lambda k: env.reset(k, p))(jax.random.split(jax.random.key(3), 2000))
    eligible, size = np.asarray(states.eligible), np.asarray(states.size)
    assert eligible[:, dark].all() and (size[:, dark] == 0).all()
    lit = np.delete(eligible, dark, axis=1)
    assert lit.any(axis=1).all()  # some lit venue always shows the best price
    assert 0.2 < lit.mean() < 1.0  # and only some of them do
    obs = np.asarray(jax.vmap(lambda s: env.observe(s, p))(states))
    n = len(names)
    assert (obs[:, dark] == 1.0).all() and (obs[:, n + dark] == 0.0).all()  # eligible, shows 0 shares


@pytest.mark.parametrize(("mean", "zero", "qty"), [(200.0, 0.7, 100), (3.0, 0.2, 10), (0.2, 0.5, 5), (1e6, 0.0, 100)])
def test_the_hidden_fill_share_is_the_mean_of_min_child_hidden(
    world: tuple[env.EnvParams, list[str]], mean: float, zero: float, qty: int
) -> None:
    p, names = world
    dark = index(names, "DARK")
    p = p._replace(hidden_mean=p.hidden_mean.at[dark].set(mean), hidden_zero_prob=p.hidden_zero_prob.at[dark].set(zero))
    rng = np.random.default_rng(5)
    x = rng.exponential(mean, 1_000_000)
    hidden = np.where(rng.random(x.size) < zero, 0, np.maximum(1, np.round(x)))
    want = np.minimum(qty, hidden).mean() / qty
    assert float(env.hidden_fill_share(p, float(qty))[dark]) == pytest.approx(want, abs=2e-3)


def test_a_dark_fill_is_censored_at_the_mid_and_pays_only_the_fee(world: tuple[env.EnvParams, list[str]]) -> None:
    p, names = world
    dark = index(names, "DARK")
    p = p._replace(reject_prob=p.reject_prob * 0, outage_rate=p.outage_rate * 0)
    info = steps(p, whole_child_state(p), dark)
    filled, qty = np.asarray(info.filled), np.asarray(info.qty)
    assert (qty == p.qty).all() and ((filled >= 0) & (filled <= qty)).all()
    assert (filled == 0).mean() == pytest.approx(float(p.hidden_zero_prob[dark]), abs=0.01)
    fee, miss = float(p.taker_fee[dark]), p.miss_penalty_ticks * p.tick
    want_bps = (filled * fee + (qty - filled) * miss) / (qty * p.price) * 1e4  # no half spread: the mid
    np.testing.assert_allclose(np.asarray(info.cost_bps), want_bps, rtol=1e-4)
    assert filled.sum() / qty.sum() == pytest.approx(float(env.hidden_fill_share(p, p.qty)[dark]), abs=0.01)


def test_a_dark_venue_takes_the_child_it_displays_nothing_for(world: tuple[env.EnvParams, list[str]]) -> None:
    p, names = world
    dark = index(names, "DARK")
    s = whole_child_state(p)
    _, info = env.step(jax.random.key(1), s, jnp.int32(dark), jnp.asarray(0.5), p)
    assert float(info.qty) == round(0.5 * p.qty)


def test_a_midpoint_share_fills_whole_at_the_mid_even_when_the_touch_faded(
    world: tuple[env.EnvParams, list[str]],
) -> None:
    p, names = world
    iex = index(names, "IEX")
    gone = p._replace(
        fade_tau_us=1e-3, reject_prob=p.reject_prob * 0, outage_rate=p.outage_rate * 0
    )  # the touch never survives
    s = whole_child_state(gone)
    share = float(p.midpoint_share[iex])
    info = steps(gone, s, iex)
    filled = np.asarray(info.filled)
    assert set(np.unique(filled).tolist()) == {0.0, p.qty}
    assert (filled > 0).mean() == pytest.approx(share, abs=0.01)
    fee, miss = float(p.taker_fee[iex]), p.miss_penalty_ticks * p.tick
    at_mid = (p.qty * fee) / (p.qty * p.price) * 1e4  # filled at the mid: the fee, no half spread
    missed = miss / p.price * 1e4
    assert np.isclose(np.asarray(info.cost_bps)[filled > 0], at_mid, rtol=1e-4).all()
    assert np.isclose(np.asarray(info.cost_bps)[filled == 0], missed, rtol=1e-4).all()
    none = gone._replace(midpoint_share=gone.midpoint_share * 0)
    assert float(np.asarray(steps(none, s, iex).filled).sum()) == 0.0


def test_a_feed_delay_ages_the_quote_as_the_flight_does(world: tuple[env.EnvParams, list[str]]) -> None:
    p, _ = world
    flight = jnp.asarray([100.0, 100.0, 500.0])
    delay = jnp.asarray([0.0, 400.0, 0.0])
    odds = np.asarray(env.fill_odds(p, flight, delay))
    assert odds[1] < odds[0] and odds[1] == pytest.approx(odds[2], rel=1e-6)  # only the age counts


def test_an_inverted_venue_pays_the_taker(world: tuple[env.EnvParams, list[str]]) -> None:
    p, names = world
    bx = index(names, "BX")
    sure = p._replace(
        fade_tau_us=1e12, snipe_per_tick=0.0, reject_prob=p.reject_prob * 0, outage_rate=p.outage_rate * 0
    )
    info = steps(sure, whole_child_state(sure), bx)
    assert (np.asarray(info.filled) == p.qty).all()
    paid = (0.5 * p.tick + float(p.taker_fee[bx])) / p.price * 1e4  # half the spread less the taker rebate
    np.testing.assert_allclose(np.asarray(info.cost_bps), paid, rtol=1e-4)
    assert paid < 0.5 * p.tick / p.price * 1e4


@pytest.mark.parametrize("name", ["NASDAQ", "IEX", "BX", "DARK"])
@pytest.mark.parametrize("congested", [False, True])
def test_the_oracle_expects_what_a_step_charges(
    world: tuple[env.EnvParams, list[str]], name: str, congested: bool
) -> None:
    """Per kind, calm and congested: the mean cost of many whole-child steps against the oracle's
    expected cost (it integrates the latency body and takes a spike at its mean multiplier)."""
    p, names = world
    venue = index(names, name)
    s = whole_child_state(p)
    s = s._replace(congested=jnp.full_like(s.congested, congested))
    info = steps(p, s, venue, seed=11)
    want = float(env.expected_cost_bps(s, p)[venue])
    got = float(np.asarray(info.cost_bps).mean())
    sem = float(np.asarray(info.cost_bps).std() / np.sqrt(N))
    assert abs(got - want) < 4 * sem + 0.01 * want, (name, got, want, sem)


def observation_as_the_engine_builds_it(p: env.EnvParams, s: env.EnvState, side: int) -> Observation:
    """The engine's view of the state (``execution/order_flow.py`` ``route``): lit venues at the touch
    show the best price (a 1-tick spread around mid 100), others a worse one; a dark venue is offered
    at the lit best price with 0 shares, eligible for every take."""
    mid, half = 100.0, 0.5 * p.tick
    eligible = np.asarray(s.eligible)
    price = tuple(mid + side * (half if e else 3 * half) for e in eligible)  # a dark venue is eligible: the best
    size = tuple(int(x) for x in np.asarray(s.size))
    ewma = tuple(float(x) for x in np.asarray(s.ewma_us))
    fee = tuple(float(x) for x in np.asarray(p.taker_fee))
    return Observation(side, int(p.qty), price, size, ewma, fee, tuple(bool(e) for e in eligible), mid, 0, ewma)


@pytest.mark.parametrize("side", [1, -1])
def test_the_environments_baselines_choose_as_the_engines(world: tuple[env.EnvParams, list[str]], side: int) -> None:
    """Over many drawn states, for buys and sells: best-price never takes the dark venue (it shows no
    size at the best price), lowest-fee takes the inverted venue's rebate whenever it is at the touch."""
    p, names = world
    dark, bx = index(names, "DARK"), index(names, "BX")
    chose: dict[str, set[int]] = {"best-price": set(), "lowest-fee": set()}
    for i, key in enumerate(jax.random.split(jax.random.key(2), 200)):
        s = env.reset(key, p)
        s = s._replace(ewma_us=s.ewma_us * (1 + 0.1 * jax.random.uniform(jax.random.fold_in(key, i), s.ewma_us.shape)))
        obs = observation_as_the_engine_builds_it(p, s, side)
        for twin, live in (("best-price", BestPrice()), ("lowest-fee", LowestFee())):
            _, venue, _, post = baseline(twin).act(jnp.zeros((), jnp.int32), s, env.observe(s, p), key, p)
            assert not bool(post)
            assert int(venue) == live.act(None, obs, 0.5), (twin, i)
            chose[twin].add(int(venue))
            if twin == "lowest-fee":
                assert (int(venue) == bx) == bool(s.eligible[bx]), i
    assert dark not in chose["best-price"] and len(chose["best-price"]) > 3


def test_a_config_without_dark_or_midpoint_venues_is_the_plain_environment() -> None:
    s = make_settings()
    lit = [v for v in s.venues if v.kind in ("lit", "inverted")]
    p = env.params_from_settings(dataclasses.replace(s, venues=lit))
    assert float(jnp.sum(p.dark)) == 0 and float(jnp.sum(p.midpoint_share)) == 0
    st = env.reset(jax.random.key(0), p)
    assert bool(jnp.all(st.size > 0))
