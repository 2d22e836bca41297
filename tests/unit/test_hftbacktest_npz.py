"""hftbacktest .npz event files as a market source: the book rebuilt, quotes and prints, bad files refused."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from hft_console.market.hftbacktest_npz import HftBacktestMarket, top_of_book
from hft_console.market.source import DataError
from hft_console.market.synthetic import TickBatch
from tests.conftest import make_settings

# hftbacktest 2.4.4's event_dtype and flags (py-hftbacktest/hftbacktest/types.py), written out so the
# tests check the reader against the format, not against its own constants
EVENT_DTYPE = np.dtype(
    [("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"), ("order_id", "u8"),
     ("ival", "i8"), ("fval", "f8")],
    align=True,
)  # fmt: skip
EXCH, LOCAL, BUY, SELL = 1 << 31, 1 << 30, 1 << 29, 1 << 28
DEPTH, TRADE, CLEAR, SNAPSHOT, BBO = 1, 2, 3, 4, 5
BOTH = EXCH | LOCAL
SEC = 1_700_000_000
T0 = SEC * 10**9 + 250_000_000  # epoch ns; the session starts at SEC's whole second
LAT = 40_000  # feed latency in the data: local_ts = exch_ts + LAT
VENUES = ["NYSE", "NASDAQ", "ARCA"]


def row(kind: int, flags: int, t: int, px: float, qty: float, exch_t: int | None = None) -> tuple[object, ...]:
    """One event seen locally at T0 + t (exchange stamp LAT earlier unless given)."""
    exch = T0 + t - LAT if exch_t is None else exch_t
    return (kind | flags, exch, T0 + t, px, qty, 0, 0, 0.0)


def write(path: Path, rows: Sequence[tuple[object, ...]]) -> Path:
    np.savez(path, data=np.array(rows, dtype=EVENT_DTYPE))
    return path


AAPL_ROWS = [
    row(SNAPSHOT, BOTH | BUY, 1000, 100.00, 5),
    row(SNAPSHOT, BOTH | BUY, 1000, 99.99, 7),
    row(SNAPSHOT, BOTH | SELL, 1000, 100.02, 4),
    row(SNAPSHOT, BOTH | SELL, 1000, 100.03, 9),
    row(DEPTH, BOTH | SELL, 2000, 100.01, 3),
    row(DEPTH, EXCH | BUY, 2500, 100.01, 999),  # the exchange model's only: the feed never sees it
    row(TRADE, BOTH | BUY, 3000, 100.01, 2),
    row(DEPTH, BOTH | SELL, 3000, 100.01, 1),
    row(TRADE, BOTH | SELL, 4000, 100.00, 5),
    row(DEPTH, BOTH | BUY, 4000, 100.00, 0),
    row(DEPTH, BOTH | BUY, 5000, 99.99, 7),  # the same top: no quote
    row(CLEAR, BOTH | BUY, 6000, 99.99, 0),  # bids at or above 99.99 go: no bid, no quote
    row(CLEAR, BOTH | SELL, 7000, 100.03, 0),  # asks at or below 100.03 go: an empty book
    row(CLEAR, BOTH, 8000, math.nan, 0),  # a snapshot: both sides cleared, then refilled at the same time
    row(SNAPSHOT, BOTH | BUY, 8000, 99.98, 2.6),  # a quantity that is not whole: rounded, counted
    row(SNAPSHOT, BOTH | SELL, 8000, 100.04, 6),
]
# (session ts, bid, ask, bid size, ask size) on AAPL's stream: the tops and prints hftbacktest 2.4.4's
# HashMapMarketDepthBacktest (tick 0.01, lot 1) shows between these stamps (checked once, by hand)
AAPL_QUOTES = [
    (250_001_000, 100.00, 100.02, 5, 4),
    (250_002_000, 100.00, 100.01, 5, 3),
    (250_003_000, 100.00, 100.01, 5, 1),
    (250_004_000, 99.99, 100.01, 7, 1),
    (250_008_000, 99.98, 100.04, 3, 6),
]
AAPL_PRINTS = [(250_003_000, 100.01, 2, 1), (250_004_000, 100.00, 5, -1)]
MSFT_ROWS = [
    row(DEPTH, BOTH | BUY, 1500, 50.00, 10),
    row(BBO, BOTH | BUY, 1500, 50.00, 10),  # hftbacktest's local processor ignores these: skipped, counted
    row(DEPTH, BOTH | SELL, 1500, 50.05, 20),
    row(DEPTH, BOTH, 2000, 50.01, 3),  # no side: skipped, counted
    row(TRADE, BOTH, 3500, 50.02, 1),  # no aggressor: seen, printed for no one
    row(TRADE, BOTH | BUY, 3500, 50.05, 4),
]


def market(tmp_path: Path, **kw: object) -> HftBacktestMarket:
    paths = [write(tmp_path / "aapl.npz", AAPL_ROWS), write(tmp_path / "msft.npz", MSFT_ROWS)]
    return HftBacktestMarket(paths, ["AAPL", "MSFT"], VENUES, "NASDAQ", **kw)  # type: ignore[arg-type]


def drain(m: HftBacktestMarket, cuts: list[int]) -> list[TickBatch]:
    return [m.next_batch(t) for t in cuts]


def quotes(batches: list[TickBatch]) -> list[tuple[int, int, float, float, int, int]]:
    cols = [np.concatenate([getattr(x, c) for x in batches]) for c in ("ts", "stream", "bid", "ask")]
    sizes = [np.concatenate([getattr(x, c) for x in batches]) for c in ("bid_size", "ask_size")]
    return list(zip(*(c.tolist() for c in cols + sizes), strict=True))


def prints(batches: list[TickBatch]) -> list[tuple[int, int, float, int, int]]:
    got = [x.prints for x in batches if x.prints is not None]
    cols = [np.concatenate([getattr(p, c) for p in got]) for c in ("ts", "stream", "price", "size", "side")]
    return list(zip(*(c.tolist() for c in cols), strict=True))


CUTS = [250_000_000, 250_002_000, 250_003_500, 250_003_501, 250_010_000]


def test_quotes_and_prints_from_the_rebuilt_books(tmp_path: Path) -> None:
    m = market(tmp_path)
    assert m.label == "hftbacktest:aapl.npz,msft.npz" and m.symbols == ["AAPL", "MSFT"]
    assert not m.generated and m.feed_state == "sim" and math.isnan(m.fundamental_at(0, 250_001_000))
    assert m.offset_ns == SEC * 10**9 and m.end_ns == 250_008_001
    batches = drain(m, CUTS)
    assert [len(b) for b in batches] == [0, 2, 2, 0, 2]  # a batch holds the quotes seen before its end
    aapl = [(t, 1, b, a, bs, az) for t, b, a, bs, az in AAPL_QUOTES]
    msft = [(250_001_500, 4, 50.00, 50.05, 10, 20)]
    assert quotes(batches) == sorted(aapl + msft, key=lambda q: q[0])
    msft_print = (250_003_500, 4, 50.05, 4, 1)
    assert prints(batches) == [(t, 1, p, z, d) for t, p, z, d in AAPL_PRINTS[:1]] + [msft_print] + [
        (t, 1, p, z, d) for t, p, z, d in AAPL_PRINTS[1:]
    ]
    assert [b.trades for b in batches] == [0, 0, 1, 2, 1]  # the print with no aggressor is seen, not printed
    assert m.exhausted
    assert m.data_stats == {"messages": len(AAPL_ROWS) - 1 + len(MSFT_ROWS), "book_checks": 0, "book_mismatches": 0}
    assert m.quality == {
        "events_skipped": 3, "out_of_order": 0, "qty_rounded": 1, "prices_snapped": 0, "one_sided_books": 2,
        "skipped_by_kind": {"bbo": 1, "depth_no_side": 1, "trade_no_side": 1},
    }  # fmt: skip
    m.close()


def test_counts_cover_what_was_served(tmp_path: Path) -> None:
    m = market(tmp_path)
    m.next_batch(250_002_000)
    assert m.data_stats["messages"] == 7  # AAPL's four snapshot rows, MSFT's three rows at 1500
    assert m.quality["skipped_by_kind"] == {"bbo": 1, "depth_no_side": 0, "trade_no_side": 0}


def test_rewound_gives_the_same_batches(tmp_path: Path) -> None:
    m = market(tmp_path)
    first = drain(m, CUTS)
    again = m.rewound()
    assert not again.exhausted and again.data_stats["messages"] == 0
    second = drain(again, CUTS)
    assert quotes(second) == quotes(first) and prints(second) == prints(first)
    assert again.quality == m.quality
    assert again.q_ts is m.q_ts  # one parse shared by every run


def test_tick_snaps_float32_prices_and_refuses_off_grid(tmp_path: Path) -> None:
    rows = [row(DEPTH, BOTH | BUY, 0, float(np.float32(585.48)), 1), row(DEPTH, BOTH | SELL, 0, 585.50, 2)]
    m = HftBacktestMarket([write(tmp_path / "a.npz", rows)], ["AAPL"], VENUES, "NYSE", tick=0.01)
    b = m.next_batch(10**9)
    assert (float(b.bid[0]), float(b.ask[0]), int(b.stream[0])) == (585.48, 585.50, 0)
    assert m.quality["prices_snapped"] == 1
    rows[1] = row(DEPTH, BOTH | SELL, 0, 585.505, 2)
    with pytest.raises(DataError, match=r"b\.npz.*row 1: px = 585\.505 is off the 0\.01 tick grid"):
        HftBacktestMarket([write(tmp_path / "b.npz", rows)], ["AAPL"], VENUES, "NYSE", tick=0.01)


def test_a_few_rows_out_of_order_are_sorted_and_counted(tmp_path: Path) -> None:
    rows = [row(DEPTH, BOTH | BUY, 3000, 10.0, 1), row(DEPTH, BOTH | SELL, 1000, 10.5, 2),
            row(DEPTH, BOTH | BUY, 2000, 10.1, 3)]  # fmt: skip
    m = HftBacktestMarket([write(tmp_path / "a.npz", rows)], ["X"], VENUES, "NYSE")
    b = m.next_batch(10**9)
    assert quotes([b]) == [(250_002_000, 0, 10.1, 10.5, 3, 2)]  # the bid at 10.0 arrives later: not the best
    assert m.quality["out_of_order"] == 2 and m.quality["one_sided_books"] == 1


def test_crossing_level_hides_the_stale_side_as_hftbacktest_does() -> None:
    # ranks 0..3; asks at 2 and 3, bid at 0; a bid at 2 crosses the ask there: the best ask moves to 3
    ts = [1, 1, 1, 2, 3, 4]
    op, side, rank, qty = [0] * 6, [1, -1, -1, 1, 1, -1], [0, 2, 3, 2, 2, 3], [5, 4, 6, 1, 0, 0]
    got, one = top_of_book(ts, op, side, rank, qty, [False, False, True, True, True, True], 4)
    # the bid at 2 leaves: the best bid is 0 again, the stale ask at 2 stays hidden; then the ask at 3 goes
    assert got == [(1, 0, 2, 5, 4), (2, 2, 3, 1, 6), (3, 0, 3, 5, 6)]
    assert one == [4]


def test_partial_clears_keep_the_levels_beyond_px() -> None:
    # bids at ranks 0, 1, 2 and asks at 3, 4, 5; clear bids at or above 1 and asks at or below 3
    ts = [1] * 6 + [2, 3]
    op, side = [0] * 6 + [1, 1], [1, 1, 1, -1, -1, -1, 1, -1]
    rank, qty = [0, 1, 2, 3, 4, 5, 1, 3], [1, 2, 3, 4, 5, 6, 0, 0]
    got, _ = top_of_book(ts, op, side, rank, qty, [False] * 5 + [True] * 3, 6)
    assert got == [(1, 2, 3, 3, 4), (2, 0, 3, 1, 4), (3, 0, 4, 1, 5)]


def bad(tmp_path: Path, rows: Sequence[tuple[object, ...]], match: str) -> None:
    path = write(tmp_path / "bad.npz", rows)
    with pytest.raises(DataError) as exc:
        HftBacktestMarket([path], ["X"], VENUES, "NYSE")
    assert exc.value.exit_code == 2 and exc.value.source == "hftbacktest"
    assert "bad.npz" in exc.value.message
    assert match in exc.value.message, exc.value.message


GOOD = [row(DEPTH, BOTH | BUY, 0, 10.0, 1), row(DEPTH, BOTH | SELL, 0, 10.5, 1)]


def test_unknown_event_type(tmp_path: Path) -> None:
    bad(tmp_path, [*GOOD, row(7, BOTH, 5, 10.0, 1)], "row 2: event type 7 (ev = 0xc0000007), expected 1-5")


def test_l3_events_are_refused(tmp_path: Path) -> None:
    bad(tmp_path, [*GOOD, row(10, BOTH | BUY, 5, 10.0, 1)], "row 2: L3 order event (type 10), expected L2")


def test_too_many_rows_out_of_order(tmp_path: Path) -> None:
    late = [row(DEPTH, BOTH | BUY, 1000 + i, 10.0, 1) for i in range(101)]
    what = "row 3: local_ts = 1700000000250001000 is before row 2's 1700000000250005000 (101 feed rows out of order"
    bad(tmp_path, [*GOOD, row(TRADE, BOTH | BUY, 5000, 10.0, 1), *late], what)
    rows = [*GOOD, row(TRADE, BOTH | BUY, 5000, 10.0, 1), *late[:100]]  # 100 late rows: sorted, counted
    m = HftBacktestMarket([write(tmp_path / "ok.npz", rows)], ["X"], VENUES, "NYSE")
    m.next_batch(10**9)
    assert m.quality["out_of_order"] == 100


def test_bad_depth_values(tmp_path: Path) -> None:
    bad(tmp_path, [*GOOD, row(DEPTH, BOTH | BUY, 5, math.nan, 1)], "row 2: depth px = nan, qty = 1.0, expected")
    bad(tmp_path, [*GOOD, row(DEPTH, BOTH | SELL, 5, 10.0, -1)], "row 2: depth px = 10.0, qty = -1.0, expected")


def test_timestamps_not_in_ns(tmp_path: Path) -> None:
    rows = [(DEPTH | BOTH | BUY, SEC * 10**6, SEC * 10**6, 10.0, 1.0, 0, 0, 0.0)]
    bad(tmp_path, rows, "row 0: local_ts = 1700000000000000 reads as microseconds since the epoch, expected ns")
    ms = [(DEPTH | BOTH | BUY, SEC * 10**3, SEC * 10**3, 10.0, 1.0, 0, 0, 0.0)]  # Binance-style ms
    bad(tmp_path, ms, "row 0: local_ts = 1700000000000 reads as milliseconds since the epoch, expected ns")


def test_exchange_only_file_has_no_feed(tmp_path: Path) -> None:
    bad(tmp_path, [row(DEPTH, EXCH | BUY, 0, 10.0, 1)], "no feed rows, expected rows flagged LOCAL_EVENT")


def refused(path: Path, match: str) -> None:
    with pytest.raises(DataError) as exc:
        HftBacktestMarket([path], ["X"], VENUES, "NYSE")
    assert exc.value.exit_code == 2 and str(path) in exc.value.message
    assert match in exc.value.message, exc.value.message


def test_files_that_are_not_event_archives(tmp_path: Path) -> None:
    refused(tmp_path / "missing.npz", "no such file")
    (tmp_path / "text.npz").write_text("ev,exch_ts\n1,2\n")
    refused(tmp_path / "text.npz", "not a zip archive, expected a .npz archive")
    np.save(tmp_path / "plain.npy", np.array(GOOD, dtype=EVENT_DTYPE))
    refused(tmp_path / "plain.npy", "a .npy array, expected a .npz archive")
    np.savez(tmp_path / "other.npz", events=np.array(GOOD, dtype=EVENT_DTYPE))
    refused(tmp_path / "other.npz", "no `data` array (it has ['events'])")
    np.savez(tmp_path / "v1.npz", data=np.zeros((3, 6)))
    refused(tmp_path / "v1.npz", "dtype a 2-D float64 array (hftbacktest 1.x's layout")
    fields = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f4")])
    np.savez(tmp_path / "fields.npz", data=np.zeros(2, dtype=fields))
    refused(tmp_path / "fields.npz", "dtype px f4, qty missing, expected hftbacktest 2.x's event_dtype")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    refused(tmp_path / "broken.npz", "unreadable .npz archive")


def test_symbols_and_venue_must_match_the_files(tmp_path: Path) -> None:
    path = write(tmp_path / "a.npz", GOOD)
    with pytest.raises(DataError, match="1 files for the symbols X, Y, expected one file per symbol"):
        HftBacktestMarket([path], ["X", "Y"], VENUES, "NYSE")
    with pytest.raises(DataError, match=r"venue 'IEX', expected a configured venue \(NYSE, NASDAQ, ARCA\)"):
        HftBacktestMarket([path], ["X"], VENUES, "IEX")


def test_trade_prints_are_held_to_the_normaliser_rules(tmp_path: Path) -> None:
    rows = [*GOOD, row(TRADE, BOTH | BUY, 10, 10.5, 0), row(TRADE, BOTH | SELL, 20, 12.0, 3),
            row(TRADE, BOTH | SELL, 30, 10.0, 3)]  # fmt: skip
    rules = make_settings().normalizer  # max_deviation 0.05 of the last quoted mid (10.25)
    m = HftBacktestMarket([write(tmp_path / "a.npz", rows)], ["X"], VENUES, "ARCA", rules=rules)
    b = m.next_batch(10**9)
    assert b.trades == 3 and prints([b]) == [(250_000_030, 2, 10.0, 3, -1)]
    assert m.trades_rejected == 2 and m.trades_rejected_by_reason == {"bad_size": 1, "deviation": 1}
