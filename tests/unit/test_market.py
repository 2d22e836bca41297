from __future__ import annotations

import pickle

import numpy as np

from hft_console.market.source import DataError
from hft_console.market.synthetic import SyntheticMarket, ar1, start_price
from tests.conftest import make_settings


def market(seed: int = 1, **flags: object) -> SyntheticMarket:
    s = make_settings(market__bad_tick_rate=0.0, **flags)
    return SyntheticMarket(s.session.symbols, s.venues, s.market, seed)


def test_ar1_matches_the_recursion() -> None:
    rng = np.random.default_rng(0)
    eps = rng.standard_normal((2, 500))
    x0 = np.array([0.5, -1.0])
    got = ar1(x0, 0.97, eps)
    want = np.empty_like(eps)
    prev = x0
    for k in range(eps.shape[1]):
        prev = 0.97 * prev + eps[:, k]
        want[:, k] = prev
    assert np.allclose(got, want)


def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    a, b, c = market(1), market(1), market(2)
    ba, bb, bc = a.next_batch(50_000_000), b.next_batch(50_000_000), c.next_batch(50_000_000)
    assert np.array_equal(ba.ts, bb.ts) and np.array_equal(ba.bid, bb.bid)
    assert np.array_equal(ba.ask_size, bb.ask_size)
    assert not np.array_equal(ba.bid, bc.bid)


def test_quotes_are_sorted_tick_aligned_and_at_the_configured_rate() -> None:
    m = market()
    batch = m.next_batch(1_000_000_000)
    ts = np.array(batch.ts)
    assert np.all(np.diff(ts) >= 0) and ts.min() >= 0 and ts.max() < 1_000_000_000
    rate = m.cfg.ticks_per_s_per_symbol * 2
    assert abs(len(batch) - rate) < 5 * np.sqrt(rate)
    cents = np.array(batch.bid) * 100
    assert np.allclose(cents, np.round(cents))
    assert np.all(np.array(batch.ask) > np.array(batch.bid))
    assert len(set(batch.stream.tolist())) == 2 * sum(v.kind != "dark" for v in m.venues)  # dark venues quote nothing


def test_returns_are_fat_tailed_and_volatility_clusters() -> None:
    m = market(seed=4, session__symbols="AAPL")
    mids = []
    for i in range(1, 20_001):
        m.next_batch(i * 10_000_000)
        mids.append(m.fundamental()[0])
    r = np.diff(np.log(mids))
    kurtosis = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert kurtosis > 3.5
    a = np.abs(r[::10].reshape(-1, 10).sum(axis=1))
    assert np.corrcoef(a[:-1], a[1:])[0, 1] > 0.0
    assert abs(mids[0] / start_price("AAPL") - 1) < 0.01


def test_book_imbalance_carries_information_about_the_next_moves() -> None:
    m = market(seed=5, session__symbols="AAPL")
    imbalance, future = [], []
    prev_mid = None
    for i in range(1, 3001):
        batch = m.next_batch(i * 20_000_000)
        mid = m.fundamental()[0]
        if prev_mid is not None and len(batch):
            bs, asz = np.array(batch.bid_size), np.array(batch.ask_size)
            imbalance.append(((bs - asz) / (bs + asz)).mean())
            future.append(mid - prev_mid)
        prev_mid = mid
    corr = np.corrcoef(imbalance[:-1], future[1:])[0, 1]
    assert corr > 0.1


def test_unknown_symbols_get_a_stable_price() -> None:
    assert start_price("ZZZZ") == start_price("ZZZZ")
    assert 20 <= start_price("ZZZZ") < 500


def test_a_data_error_crosses_a_process_boundary_whole() -> None:
    again = pickle.loads(pickle.dumps(DataError("replay:t.csv", "row 3: bid = 'x': expected a number", 2)))
    assert isinstance(again, DataError) and again.exit_code == 2 and str(again).startswith("replay:t.csv: row 3")
