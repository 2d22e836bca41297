"""The array forms of the per-tick pipeline give what the per-tick forms give, tick for tick."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hft_console.domain import Quote
from hft_console.market.book import batch_nbbo
from hft_console.market.normalizer import OK, Normalizer
from hft_console.market.synthetic import SyntheticMarket
from hft_console.strategies.imbalance import ImbalanceStrategy
from tests.conftest import make_settings

SYMBOLS = ["AAPL", "MSFT", "GOOGL"]


def scalar_nbbo(quotes: list[Quote | None]) -> tuple[float, int, float, int]:
    bb, bbs, ba, bas = 0.0, 0, math.inf, 0
    for q in quotes:
        if q is None:
            continue
        if q[1] > bb:
            bb, bbs = q[1], q[3]
        elif q[1] == bb:
            bbs += q[3]
        if q[2] < ba:
            ba, bas = q[2], q[4]
        elif q[2] == ba:
            bas += q[4]
    return bb, bbs, ba, bas


@pytest.mark.parametrize(("seed", "bad_rate", "max_dev"), [(1, 0.0005, 0.05), (2, 0.05, 0.05), (4, 0.3, 0.0005)])
def test_batch_normaliser_book_and_signal_match_the_per_tick_forms(seed: int, bad_rate: float, max_dev: float) -> None:
    s = make_settings(
        market__bad_tick_rate=bad_rate, normalizer__max_deviation=max_dev, normalizer__reanchor_after=3,
        strategy__ema_half_life_ms=5,
    )  # fmt: skip
    market = SyntheticMarket(SYMBOLS, s.venues, s.market, seed)
    nv = len(s.venues)
    one, batched = Normalizer(3, nv, s.normalizer), Normalizer(3, nv, s.normalizer)
    per_tick, whole = ImbalanceStrategy(3, s.strategy), ImbalanceStrategy(3, s.strategy)
    for i in range(1, 40):
        b = market.next_batch(i * 50_000_000)
        before = list(batched.last_tick)
        verdict = batched.check_batch(b.ts, b.stream, b.bid, b.ask, b.bid_size, b.ask_size)
        book = batch_nbbo(np.flatnonzero(verdict == OK), b.ts, b.stream, b.bid, b.ask, b.bid_size, b.ask_size,
                          before, nv)  # fmt: skip
        rows = np.flatnonzero(book.valid)
        targets = whole.signal_batch(book.sym[rows], book.ts[rows], book.bid_size[rows], book.ask_size[rows])
        r = 0
        for k in range(len(b)):
            args = (int(b.ts[k]), int(b.stream[k]), float(b.bid[k]), float(b.ask[k]), int(b.bid_size[k]),
                    int(b.ask_size[k]))  # fmt: skip
            assert one.check(*args) == verdict[k]
            if verdict[k] != OK:
                continue
            sym = args[1] // nv
            bb, bbs, ba, bas = scalar_nbbo(one.last_tick[sym * nv : sym * nv + nv])
            j = int(np.searchsorted(book.index, k))
            assert (bb, bbs, ba, bas) == (book.bid[j], book.bid_size[j], book.ask[j], book.ask_size[j])
            if bbs and bas:
                per_tick.on_book(sym, args[0], bb, bbs, ba, bas, 0)
                assert per_tick.target[sym] == targets[r]
                r += 1
        assert one.last_tick == batched.last_tick and one.rejected == batched.rejected
        assert one.ref_mid == batched.ref_mid and one.streak == batched.streak
        assert per_tick.target == whole.target and per_tick.last_ns == whole.last_ns
        assert np.allclose(per_tick.ema, whole.ema, rtol=0, atol=1e-9)
    assert sum(one.rejected) > 0 or bad_rate < 0.001
