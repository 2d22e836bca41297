"""LOBSTER files: the rebuilt book against an independent per-order book, checks, anomalies, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hft_console.market.lobster import LobsterMarket, lobster_sources
from hft_console.market.source import DataError
from tests.lobster_files import Msg, random_messages, write_lobster

VENUES = ["NYSE", "NASDAQ"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebuilt_book_matches_an_independent_per_order_book(tmp_path: Path, seed: int) -> None:
    msgs, initial = random_messages(seed, 3000)
    path = write_lobster(tmp_path, msgs, levels=3, initial=initial)
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    market.next_batch(10**16)
    stats = market.data_stats
    assert stats["messages"] == 3000
    assert stats["book_checks"] == 3000
    assert stats["book_mismatches"] == 0, stats["mismatch_rows"]
    assert stats["anomalies"] == {"out_of_order": 0, "unknown_order": 0, "duplicate_order": 0}
    assert stats["messages_by_type"]["halt"] == 2
    assert stats["messages_by_type"]["execute_hidden"] > 0


def test_quotes_are_the_top_of_book_after_each_change_and_prints_every_execution(tmp_path: Path) -> None:
    initial = {1: [1_000_000, 300, 1], 2: [1_000_100, 200, -1]}
    msgs: list[Msg] = [
        (34_200.1, 1, 10, 100, 1_000_000, 1),  # bid 100.00 grows to 400
        (34_200.2, 5, 0, 40, 1_000_050, -1),  # hidden sell order executed at 100.005: a buyer's print
        (34_200.3, 4, 2, 200, 1_000_100, -1),  # the only ask executes: the ask side empties
        (34_200.4, 1, 11, 100, 1_000_200, -1),  # a new ask at 100.02
        (34_200.5, 6, -1, 500, 1_000_100, -1),  # a cross trade: no aggressor
    ]
    path = write_lobster(tmp_path, msgs, levels=1, initial=initial)
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 50_000}, 0.01)
    b = market.next_batch(10**16)
    assert b.ts.tolist() == [100_050_000, 400_050_000]  # feed delay 50 us added; the one-sided row shows nothing
    assert b.bid.tolist() == [100.0, 100.0] and b.ask.tolist() == [100.01, 100.02]
    assert b.bid_size.tolist() == [400, 400] and b.ask_size.tolist() == [200, 100]
    assert b.stream.tolist() == [1, 1]  # symbol 0 at NASDAQ (venue 1)
    assert b.prints is not None
    assert b.prints.price.tolist() == [100.005, 100.01, 100.01]
    assert b.prints.side.tolist() == [1, 1, 0]
    assert b.prints.size.tolist() == [40, 200, 500]
    assert market.data_stats["one_sided_rows"] == 1
    assert market.offset_ns % 1_000_000_000 == 0 and market.offset_ns > 1_704_000_000 * 10**9


def test_a_book_row_that_disagrees_is_counted_and_named(tmp_path: Path) -> None:
    msgs, initial = random_messages(5, 200)
    path = write_lobster(tmp_path, msgs, levels=2, initial=initial)
    book = path.with_name(path.name.replace("_message_", "_orderbook_"))
    rows = book.read_text().splitlines()
    fields = rows[41].split(",")
    fields[3] = str(int(fields[3]) + 7)  # the best bid's size, 7 shares off
    rows[41] = ",".join(fields)
    book.write_text("\n".join(rows) + "\n")
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    market.next_batch(10**16)
    stats = market.data_stats
    assert stats["book_mismatches"] == 1
    assert stats["mismatch_rows"][0].startswith(f"{book}: row 42: bid level 1 at ")
    assert stats["mismatch_rows"][0].endswith(f": file {int(fields[3])} shares, rebuilt {int(fields[3]) - 7}")


def test_without_an_orderbook_file_nothing_is_checked(tmp_path: Path) -> None:
    msgs, initial = random_messages(6, 100)
    path = write_lobster(tmp_path, msgs, initial=initial, book=False)
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    market.next_batch(10**16)
    assert market.data_stats["book_checks"] == 0 and market.data_stats["messages"] == 100


def test_several_symbols_merge_by_time_and_a_folder_reads_them_all(tmp_path: Path) -> None:
    a = [(34_200.1, 1, 10, 100, 1_000_000, 1), (34_200.3, 1, 11, 100, 1_000_100, -1)]
    b = [(34_200.2, 1, 20, 100, 2_000_000, 1), (34_200.4, 1, 21, 100, 2_000_100, -1)]
    write_lobster(tmp_path, a, symbol="AAA")
    write_lobster(tmp_path, b, symbol="BBB")
    market = LobsterMarket([(tmp_path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    assert market.symbols == ["AAA", "BBB"]
    batch = market.next_batch(10**16)
    assert batch.stream.tolist() == [1, 3] and batch.bid.tolist() == [100.0, 200.0]
    assert market.data_stats["messages"] == 4
    only_b = LobsterMarket([(tmp_path, "NASDAQ")], ["BBB"], VENUES, {"NASDAQ": 0}, 0.01)
    assert only_b.symbols == ["BBB"]


def test_messages_are_counted_as_they_are_replayed(tmp_path: Path) -> None:
    msgs = [(34_200.0 + i, 1, 10 + i, 100, 1_000_000 - 100 * (i % 2) if i % 2 == 0 else 1_000_100, 1 - 2 * (i % 2))
            for i in range(10)]  # fmt: skip
    path = write_lobster(tmp_path, msgs, levels=1)
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    market.next_batch(3 * 10**9 + 1)  # messages at 0, 1, 2 and 3 s
    assert market.data_stats["messages"] == 4 and market.data_stats["book_checks"] == 4
    again = market.rewound()
    assert again.data_stats["messages"] == 0 and not again.exhausted


def test_out_of_order_and_unknown_orders_are_counted_then_refused_past_the_limit(tmp_path: Path) -> None:
    msgs: list[Msg] = [
        (34_200.1, 1, 10, 100, 1_000_000, 1),
        (34_200.3, 1, 11, 100, 1_000_100, -1),
        (34_200.2, 1, 12, 100, 1_000_000, 1),  # earlier than the row before
        (34_200.4, 3, 99, 100, 999_000, 1),  # order 99 never submitted, not in the first book
    ]
    path = write_lobster(tmp_path, msgs[:3], levels=2)  # its first row shows the whole book: 99.90 is empty
    lines = path.read_text() + "34200.400000000,3,99,100,999000,1\n"
    path.write_text(lines)
    book = path.with_name(path.name.replace("_message_", "_orderbook_"))
    book.write_text(book.read_text() + book.read_text().splitlines()[-1] + "\n")
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01, max_anomalies=1)
    assert market.anomalies["out_of_order"] == 1 and market.anomalies["unknown_order"] == 1
    assert market.quality == {"out_of_order": 1, "unknown_order": 1}
    with pytest.raises(DataError, match=r"row 3: earlier than a row before it"):
        LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01, max_anomalies=0)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("34200.5,1,10,100,1000000", r"row 2: 5 fields; expected 6"),
        ("34200.5,9,10,100,1000000,1", r"row 2: type = 9; expected one of 1-7"),
        ("34200.5,1,10,100,1000000,0", r"row 2: direction = 0; expected 1 \(buy\) or -1 \(sell\)"),
        ("34200.5,1,10,100,1000050,1", r"row 2: price = 1000050 \(\$100.005\) is off the 0.01 tick grid"),
        ("34200.5,1,10,-5,1000000,1", r"row 2: size = -5; expected a positive number of shares"),
        ("34200.5,1,10,abc,1000000,1", r"row 2: size = 'abc'; expected an integer \(64-bit\)"),
        ("34200.5,1,10,1.5,1000000,1", r"row 2: size = '1.5'; expected an integer \(64-bit\)"),
        ("nan,1,10,100,1000000,1", r"row 2: time = 'nan'; expected a number"),
        (
            "34200.5,1,99999999999999999999,100,1000000,1",
            r"row 2: order id = '99999999999999999999'; expected an integer",
        ),
    ],
)
def test_a_bad_row_is_refused_naming_the_file_and_row(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "TEST_2024-01-02_34200000_57600000_message_1.csv"
    path.write_text("34200.1,1,1,100,1000000,1\n" + line + "\n")
    with pytest.raises(DataError, match=str(path).replace(".", r"\.") + ": " + expected) as err:
        LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    assert err.value.exit_code == 2


def test_bad_paths_and_pairs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        LobsterMarket([(tmp_path / "nope.csv", "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    other = tmp_path / "ticks.csv"
    other.write_text("1\n")
    with pytest.raises(DataError, match="not a LOBSTER message file name"):
        LobsterMarket([(other, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no LOBSTER message file"):
        LobsterMarket([(empty, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    path = write_lobster(tmp_path, [(34_200.1, 1, 10, 100, 1_000_000, 1), (34_200.2, 1, 11, 100, 1_000_100, -1)])
    book = path.with_name(path.name.replace("_message_", "_orderbook_"))
    book.write_text(book.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match=r"orderbook_2\.csv: 1 rows; expected one per message \(2 in"):
        LobsterMarket([(path, "NASDAQ")], None, VENUES, {"NASDAQ": 0}, 0.01)
    book.unlink()
    with pytest.raises(DataError, match="no LOBSTER file for ZZZ"):
        LobsterMarket([(path, "NASDAQ")], ["ZZZ"], VENUES, {"NASDAQ": 0}, 0.01)
    with pytest.raises(DataError, match=r"venue 'LSE': expected a configured lit venue \(NYSE, NASDAQ\)"):
        LobsterMarket([(path, "LSE")], None, VENUES, {"NASDAQ": 0}, 0.01)


def test_one_symbol_at_two_venues_merges_by_time(tmp_path: Path) -> None:
    (tmp_path / "nq").mkdir()
    (tmp_path / "ny").mkdir()
    a = write_lobster(tmp_path / "nq", [(34_200.1, 1, 10, 100, 1_000_000, 1), (34_200.3, 1, 11, 100, 1_000_200, -1)])
    b = write_lobster(tmp_path / "ny", [(34_200.2, 1, 20, 300, 1_000_100, 1), (34_200.4, 1, 21, 100, 1_000_300, -1)])
    sources = lobster_sources(f"{tmp_path / 'nq'},{b}@NYSE", "NASDAQ")
    assert sources == [(tmp_path / "nq", "NASDAQ"), (b, "NYSE")]
    market = LobsterMarket(sources, None, VENUES, {"NASDAQ": 45_000, "NYSE": 60_000}, 0.01)
    batch = market.next_batch(10**16)
    assert market.symbols == ["TEST"] and market.data_stats["venues"] == ["NYSE", "NASDAQ"]
    assert batch.stream.tolist() == [1, 0]  # NASDAQ's book at 0.3 s, NYSE's at 0.4 s, each its own feed delay
    assert batch.ts.tolist() == [300_045_000, 400_060_000]
    assert batch.bid.tolist() == [100.0, 100.01] and batch.bid_size.tolist() == [100, 300]
    assert set(market.l3_books("NYSE") or {}) == {0} and market.l3_books("ARCA") is None
    with pytest.raises(DataError, match="a second file for TEST at NASDAQ"):
        LobsterMarket([(a, "NASDAQ"), (tmp_path / "nq", "NASDAQ")], None, VENUES, {}, 0.01)


def test_orders_from_before_the_file_deeper_than_its_first_row_take_the_size_a_later_row_shows(
    tmp_path: Path,
) -> None:
    initial = {1: [1_000_000, 300, 1], 2: [999_900, 200, 1], 3: [999_800, 150, 1], 4: [999_700, 120, 1],
               5: [1_000_200, 250, -1], 6: [1_000_300, 100, -1]}  # fmt: skip
    msgs: list[Msg] = [
        (34_200.1, 3, 1, 300, 1_000_000, 1),  # the best bid goes: 99.99 x 200 shows, never shown before
        (34_200.2, 4, 2, 200, 999_900, 1),  # and trades: 99.98 x 150 shows
        (34_200.3, 2, 3, 50, 999_800, 1),
        (34_200.4, 1, 10, 100, 999_700, 1),  # joins the 120 from before the file at 99.97
        (34_200.5, 3, 3, 100, 999_800, 1),  # 99.97 x 220 shows
        (34_200.6, 4, 4, 20, 999_700, 1),
    ]
    path = write_lobster(tmp_path, msgs, levels=1, initial=initial)
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {}, 0.01)
    batch = market.next_batch(10**16)
    assert market.data_stats["book_mismatches"] == 0 and market.anomalies["unknown_order"] == 0
    assert batch.bid.tolist() == [99.99, 99.98, 99.98, 99.97, 99.97]
    assert batch.bid_size.tolist() == [200, 150, 100, 220, 200]
    book = market.books["NASDAQ"][0]
    assert book.level(1, 9997, 3) == 220  # after message 4 (index 3): the 120 from before and the new 100


def test_order_ids_beyond_2_to_the_53_stay_exact(tmp_path: Path) -> None:
    big = 2**60
    msgs: list[Msg] = [(34_200.1 + i / 100, 1, big + i, 100, 1_000_000 - 100 * i, 1) for i in range(5)]
    msgs += [(34_200.2 + i / 100, 3, big + i, 100, 1_000_000 - 100 * i, 1) for i in range(4)]
    msgs.append((34_201.0, 1, big + 9, 100, 1_000_100, -1))
    path = write_lobster(tmp_path, msgs, levels=5)
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {}, 0.01)
    market.next_batch(10**16)
    assert market.anomalies == {"out_of_order": 0, "unknown_order": 0, "duplicate_order": 0}
    assert market.data_stats["book_mismatches"] == 0


def test_files_of_different_days_are_refused(tmp_path: Path) -> None:
    write_lobster(tmp_path, [(34_200.1, 1, 1, 100, 1_000_000, 1)], symbol="AAA", date="2024-01-02")
    write_lobster(tmp_path, [(34_200.1, 1, 1, 100, 1_000_000, 1)], symbol="BBB", date="2024-01-03")
    with pytest.raises(DataError, match=r"files of different days \(AAA 2024-01-02, BBB 2024-01-03\)"):
        LobsterMarket([(tmp_path, "NASDAQ")], None, VENUES, {}, 0.01)
    with pytest.raises(DataError, match=r"venue 'NYSE': expected a configured lit venue \(NASDAQ\)"):
        LobsterMarket([(tmp_path, "NYSE")], None, VENUES, {}, 0.01, dark=["NYSE"])


def test_one_stray_future_stamp_is_the_row_out_of_order(tmp_path: Path) -> None:
    msgs: list[Msg] = [(34_200.0 + i / 10, 1, 10 + i, 100, 1_000_000 - 100 * (i % 3), 1) for i in range(20)]
    msgs[5] = (34_209.0, *msgs[5][1:])  # a stamp from the future
    path = write_lobster(tmp_path, msgs, levels=3)
    market = LobsterMarket([(path, "NASDAQ")], None, VENUES, {}, 0.01)
    assert market.anomalies["out_of_order"] == 1
    assert market.books["NASDAQ"][0].ts.tolist()[5] == market.books["NASDAQ"][0].ts.tolist()[6]
    with pytest.raises(DataError, match=r"row 6: later than a row after it \(1 such messages"):
        LobsterMarket([(path, "NASDAQ")], None, VENUES, {}, 0.01, max_anomalies=0)
