from __future__ import annotations

import math

import pytest

from hft_console.market.normalizer import OK, REJECT_REASONS, Normalizer
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
    results = [reason(norm.check(2 + i, 0, 200.0 + i, 200.01 + i, 100, 100)) for i in range(3)]
    assert results == ["deviation", "deviation", "ok"]
    assert norm.reanchors == 1


def test_synthetic_feed_corruption_is_all_caught() -> None:
    from hft_console.market.synthetic import SyntheticMarket

    s = make_settings(market__bad_tick_rate=0.01)
    market = SyntheticMarket(s.session.symbols, s.venue_specs(), s.market, seed=3)
    norm = Normalizer(len(s.session.symbols), len(s.venues), s.normalizer)
    injected = 0
    for i in range(1, 301):
        batch = market.next_batch(i * 20_000_000)
        injected += sum(batch.injected_bad.values())
        norm.check_batch(batch.ts, batch.stream, batch.bid, batch.ask, batch.bid_size, batch.ask_size)
    assert injected > 100
    assert norm.rejected_total == injected
