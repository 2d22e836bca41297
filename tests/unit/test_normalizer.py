from __future__ import annotations

import math

import numpy as np
import pytest

from hft_console.market.normalizer import OK, REJECT_REASONS, Normalizer
from hft_console.market.synthetic import SyntheticMarket
from tests.conftest import make_settings


@pytest.fixture
def norm() -> Normalizer:
    return Normalizer(n_symbols=2, n_venues=3, cfg=make_settings().normalizer)


def reason(code: int) -> str:
    return "ok" if code == OK else REJECT_REASONS[code]


def test_good_ticks_are_accepted_and_become_the_book(norm: Normalizer) -> None:
    assert norm.check(1_000, 0, 100.00, 100.01, 300, 200) == OK
    assert norm.check(2_000, 4, 50.00, 50.02, 100, 100) == OK
    assert norm.last_tick[0] == (1_000, 100.00, 100.01, 300, 200)
    assert norm.accepted == 2 and norm.rejected_total == 0


@pytest.mark.parametrize(
    ("bid", "ask", "bid_size", "ask_size", "expected"),
    [
        (math.nan, 100.01, 100, 100, "non_finite"),
        (100.0, math.inf, 100, 100, "non_finite"),
        (-100.0, 100.01, 100, 100, "non_positive"),
        (0.0, 100.01, 100, 100, "non_positive"),
        (100.02, 100.01, 100, 100, "crossed"),
        (100.01, 100.01, 100, 100, "crossed"),
        (0.001, 0.005, 100, 100, "out_of_range"),
        (100.0, 100.01, 0, 100, "bad_size"),
        (100.0, 100.01, 100, -5, "bad_size"),
        (585.33, 999999.9999, 18, 200, "wide_spread"),  # LOBSTER's placeholder for an empty ask level
        (0.01, 585.91, 100, 100, "wide_spread"),  # a stub bid
    ],
)
def test_each_kind_of_bad_price_is_rejected_and_counted(
    norm: Normalizer, bid: float, ask: float, bid_size: int, ask_size: int, expected: str
) -> None:
    assert reason(norm.check(1_000, 0, bid, ask, bid_size, ask_size)) == expected
    assert norm.rejected_by_reason() == {expected: 1}
    assert norm.last_tick[0] is None


def test_out_of_order_timestamp_is_rejected(norm: Normalizer) -> None:
    assert norm.check(5_000, 0, 100.0, 100.01, 100, 100) == OK
    assert reason(norm.check(4_999, 1, 100.0, 100.01, 100, 100)) == "out_of_order"
    assert norm.check(5_000, 1, 100.0, 100.01, 100, 100) == OK


def test_exact_duplicate_is_rejected_but_an_update_at_the_same_time_is_not(norm: Normalizer) -> None:
    assert norm.check(5_000, 0, 100.0, 100.01, 100, 100) == OK
    assert reason(norm.check(5_000, 0, 100.0, 100.01, 100, 100)) == "duplicate"
    assert norm.check(5_000, 0, 100.0, 100.01, 200, 100) == OK


def test_absurd_price_against_the_symbol_reference_is_rejected(norm: Normalizer) -> None:
    assert norm.check(1, 0, 100.0, 100.01, 100, 100) == OK
    assert reason(norm.check(2, 1, 1000.0, 1000.1, 100, 100)) == "deviation"
    assert norm.check(3, 1, 101.0, 101.01, 100, 100) == OK  # a 1% move is fine


def test_a_lasting_new_level_is_trusted_after_reanchor_after_rejects() -> None:
    cfg = make_settings(normalizer__reanchor_after=3).normalizer
    norm = Normalizer(1, 1, cfg)
    assert norm.check(1, 0, 100.0, 100.01, 100, 100) == OK
    assert norm.check(2, 0, 100.01, 100.02, 100, 100) == OK  # the anchor is confirmed
    results = [reason(norm.check(3 + i, 0, 200.0 + i, 200.01 + i, 100, 100)) for i in range(3)]
    assert results == ["deviation", "deviation", "ok"]
    assert norm.reanchors == 1


def test_synthetic_feed_corruption_is_all_caught() -> None:
    s = make_settings(market__bad_tick_rate=0.01)
    market = SyntheticMarket(s.session.symbols, s.venues, s.market, seed=3)
    norm = Normalizer(len(s.session.symbols), len(s.venues), s.normalizer)
    injected = 0
    for i in range(1, 301):
        batch = market.next_batch(i * 20_000_000)
        injected += sum(batch.injected_bad.values())
        norm.check_batch(batch.ts, batch.stream, batch.bid, batch.ask, batch.bid_size, batch.ask_size)
    assert injected > 100
    assert norm.rejected_total == injected


def test_a_placeholder_first_quote_never_becomes_the_anchor(norm: Normalizer) -> None:
    """The smallest input of issue 12 item 11: the placeholder is rejected, the real quotes are accepted."""
    ticks = [
        (0, 585.33, 999999.9999, 18, 200),
        (1_000_000, 585.33, 585.91, 18, 18),
        (2_000_000, 585.34, 585.91, 18, 18),
    ]
    assert [reason(norm.check(t, 0, b, a, bs, az)) for t, b, a, bs, az in ticks] == ["wide_spread", "ok", "ok"]
    batched = Normalizer(2, 3, norm.cfg)
    ts, bid, ask, bsz, asz = (np.array([t[i] for t in ticks]) for i in range(5))
    verdict = batched.check_batch(ts, np.zeros(3, dtype=np.int64), bid, ask, bsz, asz)
    assert [reason(int(v)) for v in verdict] == ["wide_spread", "ok", "ok"]


def test_a_bad_first_quote_gives_way_to_two_agreeing_quotes(norm: Normalizer) -> None:
    assert norm.check(1, 0, 5853.3, 5859.1, 100, 100) == OK  # prices ten times too high: nothing to compare with
    results = [reason(norm.check(2 + i, i % 3, 585.33 + i * 0.01, 585.91, 100, 100)) for i in range(4)]
    assert results == ["deviation", "ok", "ok", "ok"]  # one good quote lost, not reanchor_after (200)
    assert norm.reanchors == 1 and norm.ref_mid[0] == pytest.approx(585.635)


def test_a_confirmed_anchor_holds_against_a_bad_tick_and_disagreeing_deviants_never_reanchor(norm: Normalizer) -> None:
    assert norm.check(1, 0, 100.0, 100.01, 100, 100) == OK
    assert reason(norm.check(2, 1, 1000.0, 1000.1, 100, 100)) == "deviation"  # bad second tick: rejected
    assert norm.check(3, 2, 100.01, 100.02, 100, 100) == OK  # and the anchor is confirmed
    assert [reason(norm.check(4 + i, 1, 1000.0, 1000.1 + i, 100, 100)) for i in range(3)] == ["deviation"] * 3
    fresh = Normalizer(1, 3, norm.cfg)
    assert fresh.check(1, 0, 100.0, 100.01, 100, 100) == OK
    jumps = [(1000.0, 1000.1), (2000.0, 2000.1), (50.0, 50.01)]  # deviants that do not agree with each other
    assert [reason(fresh.check(2 + i, 1, b, a, 100, 100)) for i, (b, a) in enumerate(jumps)] == ["deviation"] * 3
    assert fresh.reanchors == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_per_tick_and_batch_checks_agree_on_bad_anchors_and_wide_quotes(seed: int) -> None:
    """Feeds whose symbols start with placeholders, stub and mis-scaled quotes: same verdicts, same state."""
    cfg = make_settings(normalizer__reanchor_after=4).normalizer
    rng = np.random.default_rng(seed)
    n, n_sym, n_ven = 3000, 3, 2
    stream = rng.integers(0, n_sym * n_ven, n)
    level = np.array([100.0, 250.0, 40.0])[stream // n_ven] * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    bid = np.round(level, 2)
    ask = bid + 0.01 * rng.integers(1, 4, n)
    kind = rng.choice(5, n, p=[0.8, 0.05, 0.05, 0.05, 0.05])
    kind[:12] = rng.choice([1, 3], 12)  # every symbol starts badly
    ask[kind == 1] = 999999.9999  # placeholder
    bid[kind == 2] = 0.01  # stub bid
    bid[kind == 3] *= 10  # mis-scaled, spread kept
    ask[kind == 3] *= 10
    bid[kind == 4] *= 1.5  # a level shift
    ask[kind == 4] *= 1.5
    ts = np.sort(rng.integers(0, 10**9, n))
    sizes = rng.integers(1, 500, (2, n))
    one, batched = Normalizer(n_sym, n_ven, cfg), Normalizer(n_sym, n_ven, cfg)
    for lo in range(0, n, 250):
        sl = slice(lo, lo + 250)
        verdict = batched.check_batch(ts[sl], stream[sl], bid[sl], ask[sl], sizes[0][sl], sizes[1][sl])
        per_tick = [one.check(int(ts[k]), int(stream[k]), float(bid[k]), float(ask[k]), int(sizes[0][k]),
                              int(sizes[1][k])) for k in range(lo, min(lo + 250, n))]  # fmt: skip
        assert per_tick == verdict.tolist()
        for attr in ("last_tick", "ref_mid", "streak", "confirmed", "dev_mid", "rejected", "accepted", "reanchors"):
            assert getattr(one, attr) == getattr(batched, attr), attr
    assert one.rejected_by_reason()["wide_spread"] > 100 and one.reanchors >= 3
