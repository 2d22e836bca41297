from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hft_console.domain import LatencySpec, Order, Side, VenueSpec
from hft_console.rng import Draws, rng_for
from hft_console.venues.latency import CONGESTED, LatencyModel
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import SimVenue

CALM = LatencySpec(
    median_us=100.0, sigma=0.3, jitter_us=5.0, spike_prob=0.0, spike_mult_min=5.0, spike_mult_max=10.0,
    congested_mult=3.0, congested_spike_prob=0.0, calm_to_congested_per_s=0.0, congested_to_calm_per_s=0.0,
    outage_per_hour=0.0, outage_mean_s=10.0, outage_timeout_us=5000.0, speed_bump_us=0.0,
)  # fmt: skip


def model(spec: LatencySpec = CALM, seed: int = 1) -> LatencyModel:
    return LatencyModel(spec, Draws(rng_for(seed, "test")))


def samples(m: LatencyModel, n: int = 4000, step_ns: int = 1_000_000) -> np.ndarray:
    return np.array([m.one_way_ns(i * step_ns) for i in range(n)]) / 1000


def test_calm_latency_is_lognormal_around_the_median() -> None:
    us = samples(model())
    assert 95 < np.median(us) < 105
    assert us.min() >= 25.0
    assert np.percentile(us, 99) < 250


def test_spikes_make_a_heavy_tail() -> None:
    us = samples(model(dataclasses.replace(CALM, spike_prob=0.02)))
    assert np.percentile(us, 99.5) > 4 * np.median(us)


def test_congested_regime_multiplies_latency() -> None:
    spec = dataclasses.replace(CALM, calm_to_congested_per_s=1.0, congested_to_calm_per_s=1.0)
    m = model(spec)
    by_regime: dict[int, list[float]] = {0: [], 1: []}
    for i in range(20_000):
        lat = m.one_way_ns(i * 1_000_000) / 1000
        by_regime[m.regime].append(lat)
    ratio = np.median(by_regime[CONGESTED]) / np.median(by_regime[0])
    assert 2.5 < ratio < 3.5
    assert m.regime_changes > 5


def test_outages_come_and_go() -> None:
    m = model(dataclasses.replace(CALM, outage_per_hour=360.0, outage_mean_s=2.0))
    down = [m.is_down(i * 100_000_000) for i in range(6000)]
    share = sum(down) / len(down)
    assert 0.1 < share < 0.5
    assert m.outages > 10


def test_speed_bump_is_added_to_every_message() -> None:
    bumped = samples(model(dataclasses.replace(CALM, speed_bump_us=350.0), seed=2))
    plain = samples(model(seed=2))
    assert np.allclose(bumped - plain, 350.0)


def test_the_derived_figures_come_from_the_spec() -> None:
    spec = dataclasses.replace(CALM, speed_bump_us=350.0, spike_mult_max=8.0, congested_mult=2.0)
    m = model(spec)
    assert m.prior_round_trip_us() == pytest.approx(2 * (100.0 * np.exp(0.3**2 / 2) + 350.0))
    assert m.slowest_answer_us() == pytest.approx(2 * (100.0 * 20 * 8.0 * 2.0 + 350.0))  # beyond the timeout
    assert model(dataclasses.replace(CALM, outage_timeout_us=1e7)).slowest_answer_us() == 1e7


def test_a_probe_round_trip_is_two_one_way_draws_or_none_while_down() -> None:
    a, b = model(seed=3), model(seed=3)
    assert a.round_trip_us(0) == (b.one_way_ns(0) + b.one_way_ns(0)) / 1000
    out = model(dataclasses.replace(CALM, outage_per_hour=3600.0 * 100, outage_mean_s=1e4))
    assert out.round_trip_us(10**12) is None


def test_reading_down_as_drawn_draws_nothing() -> None:
    spec = dataclasses.replace(CALM, outage_per_hour=360.0, outage_mean_s=2.0, calm_to_congested_per_s=1.0)
    asked, left_alone = model(spec, seed=4), model(spec, seed=4)
    for i in range(200):
        asked.is_down_as_drawn(i * 50_000_000)
    assert [asked.one_way_ns(i * 10**9) for i in range(50)] == [left_alone.one_way_ns(i * 10**9) for i in range(50)]
    for t in range(50 * 10**9, 60 * 10**9, 10**8):
        asked.one_way_ns(t)  # an order draws the processes up to t: from then on the reading is exact
        assert asked.is_down_as_drawn(t) == asked.is_down(t)


VENUE = VenueSpec(
    name="V", taker_fee=0.003, maker_rebate=0.002, share=1.0, spread_ticks=1, depth_shares=300, depth_levels=2,
    feed_delay_us=0.0, reject_prob=0.0, latency=CALM,
)  # fmt: skip


def venue(fade_tau_us: float = 1e12, snipe: float = 0.0, spec: VenueSpec = VENUE) -> SimVenue:
    return SimVenue(spec, model(), Draws(rng_for(1, "fills")), 0.01, fade_tau_us, snipe)


def buy(qty: int, limit: float, ts: int = 0) -> Order:
    return Order(1, 1, "X", Side.BUY, qty, limit, "V", "best-price", ts, 100.0)


def test_fills_against_the_quote_at_arrival_and_walks_depth_within_the_limit() -> None:
    v = venue()
    ex = v.execute(buy(500, 100.02), 1000, 0, (900, 99.99, 100.01, 200, 200), fair_mid=100.0)
    assert ex.status == "FILLED"
    assert ex.fills == [(200, 100.01), (300, 100.02)]
    assert ex.fee == pytest.approx(500 * 0.003)


def test_partial_fill_when_the_touch_is_too_small_and_the_limit_stops_the_walk() -> None:
    ex = venue().execute(buy(500, 100.01), 1000, 0, (900, 99.99, 100.01, 200, 200), fair_mid=100.0)
    assert ex.status == "CANCELED" and ex.reason == "IOC_REMAINDER" and ex.fills == [(200, 100.01)]


def test_a_quote_that_moved_away_while_we_travelled_gives_no_fill() -> None:
    ex = venue().execute(buy(100, 100.01), 1000, 0, (900, 100.01, 100.02, 200, 200), fair_mid=100.0)
    assert ex.status == "CANCELED" and ex.fills == []


def test_our_own_fill_uses_up_displayed_size_until_the_quote_changes() -> None:
    v = venue(spec=dataclasses.replace(VENUE, depth_levels=1))
    quote = (900, 99.99, 100.01, 200, 200)
    assert v.execute(buy(150, 100.01), 1000, 0, quote, 100.0).fills == [(150, 100.01)]
    assert v.execute(buy(150, 100.01), 2000, 0, quote, 100.0).fills == [(50, 100.01)]
    assert v.execute(buy(150, 100.01), 3000, 0, (2500, 99.99, 100.01, 200, 200), 100.0).fills == [(150, 100.01)]


def test_stale_cheap_quotes_are_sniped_and_liquidity_fades_with_flight_time() -> None:
    sniped = venue(snipe=1.0)
    outcomes = [sniped.execute(buy(100, 100.01), 0, 0, (0, 99.99, 100.01, 500, 500), 100.04).status for _ in range(50)]
    assert outcomes.count("CANCELED") == 50  # three ticks through fair value: always gone
    slow = venue(fade_tau_us=100.0, spec=dataclasses.replace(VENUE, depth_levels=1))
    late = [slow.execute(buy(100, 100.01, ts=0), 500_000, 0, (0, 99.99, 100.01, 500, 500), 100.0) for _ in range(400)]
    share = sum(e.status == "CANCELED" for e in late) / 400
    assert share > 0.95  # 500 us of flight against a 100 us fade: almost always gone


def test_venue_rejects_and_outage_timeouts() -> None:
    always = venue(spec=dataclasses.replace(VENUE, reject_prob=1.0))
    ex = always.execute(buy(100, 100.01), 0, 0, (0, 99.99, 100.01, 500, 500), 100.0)
    assert ex.status == "REJECTED" and ex.reason == "VENUE_REJECT"
    timeout = venue().timeout(buy(100, 100.01, ts=1_000), 1_000)
    assert timeout.report_ns == 1_000 + 5_000_000 and timeout.reason == "VENUE_DOWN"


def test_monitor_percentiles_and_heatmap_buckets() -> None:
    mon = LatencyMonitor(["A", "B"], window=4, bucket_s=1.0, buckets=3, priors_us=[100.0, 200.0])
    for i, rt in enumerate([100, 200, 300, 400, 500]):
        mon.record(0, i * 1_000_000_000, i * 1_000_000_000 + rt * 1000)
    assert list(mon.window[0]) == [200, 300, 400, 500]
    assert mon.window_percentiles(0)["p50"] == pytest.approx(350.0)
    starts, rows = mon.heatmap(4_500_000_000)
    assert starts == [2_000_000_000, 3_000_000_000, 4_000_000_000]
    assert [cell[0] if cell else None for cell in rows[0]] == [300, 400, 500]
    mon.record(1, 4_000_000_000, 4_005_000_000, timed_out=True)
    assert mon.heatmap(4_500_000_000)[1][1][-1] == (None, None, 0, 1)
    assert mon.samples[1] == [] and mon.timeouts[1] == 1 and mon.ewma_us[1] > 200.0
    assert rows[1] == [None, None, None]


def sell(qty: int, limit: float) -> Order:
    return Order(1, 1, "X", Side.SELL, qty, limit, "V", "best-price", 0, 100.0)


def test_a_fill_is_never_better_than_the_displayed_price_even_off_the_grid() -> None:
    v = venue(spec=dataclasses.replace(VENUE, depth_levels=1))
    quote = (900, 100.015, 100.025, 200, 200)  # both sides between two cents
    assert v.execute(buy(100, 100.04), 1000, 0, quote, 100.02).fills == [(100, 100.03)]  # not 100.02
    assert v.execute(buy(100, 100.025), 1000, 0, quote, 100.02).fills == []  # 100.03 is beyond the limit
    assert v.execute(sell(100, 100.0), 1000, 0, quote, 100.02).fills == [(100, 100.01)]  # not 100.02
    noisy = (900, 585.4799999999999, 585.7300000000001, 200, 200)  # float noise only: the grid price itself
    assert v.execute(buy(100, 585.73), 1000, 0, noisy, 585.6).fills == [(100, 585.73)]
    assert v.execute(sell(100, 585.48), 1000, 0, noisy, 585.6).fills == [(100, 585.48)]


def test_no_fill_anywhere_in_the_fill_model_beats_the_displayed_touch() -> None:
    rng = np.random.default_rng(5)
    v = venue()
    for _ in range(500):
        bid = float(rng.uniform(10, 1000))
        ask = bid + float(rng.uniform(0.001, 0.05))
        quote = (0, bid, ask, 300, 300)
        for order, touch in ((buy(400, ask + 0.05), ask), (sell(400, bid - 0.05), bid)):
            fills = v.execute(order, 0, 0, quote, (bid + ask) / 2).fills
            assert all(order.side * (p - touch) >= 0 for _, p in fills), (quote, fills)
            assert all(abs(p * 100 - round(p * 100)) < 1e-6 for _, p in fills)  # on the cent grid
