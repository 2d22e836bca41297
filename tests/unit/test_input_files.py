"""Replay files as users' tools write them: encodings, layouts, typed and mis-scaled timestamps, Parquet
type errors, prices off the tick grid and trade prints that make no sense."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hft_console.market.replay import COLUMNS, ReplayMarket, read_table
from hft_console.market.source import DataError
from tests.conftest import make_settings

HEADER = ",".join(COLUMNS)
VENUES = ["NYSE", "NASDAQ", "ARCA", "BZX", "EDGX", "IEX"]
T0 = 1_700_000_000_000_000_000
RULES = make_settings().normalizer


def rows(n: int = 20, t0: int = T0) -> list[str]:
    out = []
    for i in range(n):
        bid = 190.0 + (i % 7) * 0.01
        out.append(f"{t0 + i * 1_000_001},AAPL,{VENUES[i % 6]},quote,{bid:.2f},{bid + 0.01:.2f},300,200,,")
    return out


def write(path: Path, lines: list[str], text: str | None = None, encoding: str = "utf-8") -> Path:
    path.write_text(text if text is not None else "\n".join([HEADER, *lines]) + "\n", encoding=encoding, newline="")
    return path


def table(n: int = 20, **columns: pa.Array) -> pa.Table:
    """The same quotes as ``rows`` as a Parquet table, with some columns replaced."""
    base = {
        "ts_ns": pa.array([T0 + i * 1_000_001 for i in range(n)], pa.int64()),
        "symbol": ["AAPL"] * n, "venue": [VENUES[i % 6] for i in range(n)], "kind": ["quote"] * n,
        "bid": [round(190.0 + (i % 7) * 0.01, 2) for i in range(n)],
        "ask": [round(190.01 + (i % 7) * 0.01, 2) for i in range(n)],
        "bid_size": [300] * n, "ask_size": [200] * n,
        "price": pa.nulls(n, pa.float64()), "size": pa.nulls(n, pa.int64()),
    }  # fmt: skip
    base.update(columns)
    return pa.table(base)


def refused(path: Path, *fragments: str) -> str:
    with pytest.raises(DataError) as info:
        ReplayMarket(path, None, VENUES, 0.01, RULES)
    message = info.value.message
    assert info.value.exit_code == 2 and path.name in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- encodings and layouts ---------------------------------------------------------------------------
def _bom(t: str) -> tuple[str, str]:
    return "\ufeff" + t, "utf-8"


def _crlf(t: str) -> tuple[str, str]:
    return t.replace("\n", "\r\n"), "utf-8"


def _quoted(t: str) -> tuple[str, str]:
    return "\n".join(",".join(f'"{f}"' for f in line.split(",")) for line in t.splitlines()) + "\n", "utf-8"


def _extra_reordered(t: str) -> tuple[str, str]:
    lines = [line.split(",") for line in t.splitlines()]
    order = list(reversed(range(len(lines[0]))))
    return "\n".join(",".join([*(f[i] for i in order), "x"]) for f in lines) + "\n", "utf-8"


def _blank_lines(t: str) -> tuple[str, str]:
    lines = t.splitlines()
    return "\n".join([*lines[:5], "", *lines[5:]]) + "\n\n", "utf-8"


def _spaced_header(t: str) -> tuple[str, str]:
    head, _, rest = t.partition("\n")
    return ", ".join(head.split(",")) + "\n" + rest, "utf-8"


def _float_sizes(t: str) -> tuple[str, str]:
    return t.replace(",300,200,", ",300.0,200.0,"), "utf-8"


def _utf16(t: str) -> tuple[str, str]:
    return t, "utf-16"


VARIANTS: list[Callable[[str], tuple[str, str]]] = [
    _bom, _crlf, _quoted, _extra_reordered, _blank_lines, _spaced_header, _float_sizes, _utf16,
]  # fmt: skip


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.__name__.strip("_"))
def test_what_users_tools_write_reads_as_the_plain_file(
    tmp_path: Path, variant: Callable[..., tuple[str, str]]
) -> None:
    plain = write(tmp_path / "plain.csv", rows())
    text, encoding = variant(plain.read_text())
    other = write(tmp_path / "other.csv", [], text, encoding)
    a, b = read_table(plain), read_table(other)
    for name in COLUMNS:
        assert a[name].tolist() == b[name].tolist() or np.array_equal(a[name], b[name], equal_nan=True), name


def test_rows_are_named_by_their_line_even_after_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    good = rows(4)
    text = "\n".join([HEADER, good[1], "", good[0].replace("AAPL,NYSE", 'AAPL,"NY\nSE"'), good[2]]) + "\n"
    text += good[3].replace(",190.03,", ",abc,") + "\n"
    refused(write(tmp_path / "t.csv", [], text), "row 7: bid = 'abc': expected a number")
    venue = write(tmp_path / "v.csv", [], "\n".join([HEADER, "", *good[:2]]).replace("NASDAQ", "XNAS") + "\n")
    refused(venue, "row 4: venue = 'XNAS'")


def test_a_semicolon_file_and_text_that_is_not_utf8_are_named(tmp_path: Path) -> None:
    semi = write(tmp_path / "semi.csv", [], HEADER.replace(",", ";") + "\n")
    refused(semi, "missing columns", "separated by ';'")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        (HEADER + "\n" + rows(2)[0] + "\n" + rows(2)[1].replace("AAPL", "AAPL\xe9") + "\n").encode("latin-1")
    )
    refused(latin, "row 3: symbol", "expected UTF-8")


# -- timestamps --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit", "tz"), [("s", None), ("ms", None), ("us", None), ("ns", None), ("ms", "America/New_York"), ("us", "UTC")]
)
def test_typed_parquet_timestamps_of_any_unit_and_zone_are_converted_to_ns(tmp_path: Path, unit: str, tz: str) -> None:
    scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    ts = [T0 // scale + i for i in range(20)]  # one unit apart
    pq.write_table(table(ts_ns=pa.array(ts, pa.timestamp(unit, tz=tz))), tmp_path / "t.parquet")
    market = ReplayMarket(tmp_path / "t.parquet", None, VENUES, 0.01, RULES)
    assert market.offset_ns == T0 and market.ts.tolist() == [i * scale for i in range(20)]
    assert market.end_ns == 19 * scale + 1  # the session is as long as the file, not 19 ns


@pytest.mark.parametrize(
    ("typ", "values", "expected"),
    [
        (pa.date32(), [19_000, 19_001], [0, 86_400 * 10**9]),  # days since the epoch
        (pa.time64("us"), [34_200_000_000, 34_200_000_001], [0, 1_000]),  # 09:30 on a day
        (pa.duration("ms"), [1, 2], [0, 1_000_000]),  # since the session started
    ],
)
def test_dates_times_of_day_and_durations_are_ns_too(tmp_path: Path, typ: pa.DataType, values: list[int],
                                                      expected: list[int]) -> None:  # fmt: skip
    pq.write_table(table(2, ts_ns=pa.array(values, typ)), tmp_path / "t.parquet")
    market = ReplayMarket(tmp_path / "t.parquet", None, VENUES)
    assert (market.ts - market.ts[0]).tolist() == expected


def test_iso_times_in_a_csv_are_read_as_utc(tmp_path: Path) -> None:
    lines = [r.split(",", 1)[1] for r in rows(3)]
    stamps = ["2023-11-14T22:13:20Z", "2023-11-14T23:13:20.5+01:00", "2023-11-14T22:13:21.000000001Z"]
    market = ReplayMarket(
        write(tmp_path / "t.csv", [f"{t},{r}" for t, r in zip(stamps, lines, strict=True)]), None, VENUES
    )
    assert market.offset_ns == T0 and market.ts.tolist() == [0, 500_000_000, 1_000_000_001]
    naive = ["2023-11-14 22:13:20", "2023-11-14 22:13:20.5Z", "2023-11-14 22:13:21"]
    refused(write(tmp_path / "m.csv", [f"{t},{r}" for t, r in zip(naive, lines, strict=True)]), "row 3: ts_ns",
            "without a zone offset")  # fmt: skip


@pytest.mark.parametrize(("scale", "unit"), [(10**9, "seconds"), (10**6, "milliseconds"), (10**3, "microseconds")])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_integer_times_in_the_wrong_unit_are_refused_with_the_unit_named(tmp_path: Path, scale: int, unit: str,
                                                                        suffix: str) -> None:  # fmt: skip
    path = tmp_path / f"t{suffix}"
    t0 = T0 // scale
    if suffix == ".csv":
        write(path, rows(20, t0=t0))
    else:
        pq.write_table(table(ts_ns=pa.array([t0 + i for i in range(20)], pa.int64())), path)
    refused(path, f"row {2 if suffix == '.csv' else 1}: ts_ns = ", f"reads as {unit} since the epoch", "2023-11-14")


def test_session_and_epoch_ns_are_accepted_late_ticks_included_but_never_mixed(tmp_path: Path) -> None:
    session = rows(20, t0=0)
    session[3] = "-500000000" + session[3][session[3].index(",") :]  # a tick stamped late, near the start
    assert ReplayMarket(write(tmp_path / "s.csv", session), None, VENUES).offset_ns == 0
    mixed = rows(20)
    mixed[7] = "7" + mixed[7][mixed[7].index(",") :]
    refused(write(tmp_path / "m.csv", mixed), "row 9: ts_ns = 7", "since the epoch")
    refused(write(tmp_path / "x.csv", rows(20, t0=10**16)), "row 2: ts_ns = 10000000000000000", "expected integer ns")


# -- Parquet type errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("bid", pa.array(["190.0"] * 5 + ["abc"] + ["190.0"] * 14), "row 6: bid = 'abc' (string): expected a number"),
        ("bid_size", pa.array([300.0] * 9 + [1.5] + [300.0] * 10), "row 10: bid_size = 1.5: expected an integer"),
        ("ts_ns", pa.array([T0 // 1000] * 3 + [2**62] + [T0 // 1000] * 16, pa.timestamp("us")), "row 4: ts_ns"),
        ("ask", pa.array([[1.0]] * 20), "column ask has type list<"),
    ],
)
def test_parquet_type_errors_name_the_row_and_the_column(tmp_path: Path, column: str, values: pa.Array,
                                                         expected: str) -> None:  # fmt: skip
    pq.write_table(table(**{column: values}), tmp_path / "t.parquet")
    refused(tmp_path / "t.parquet", expected)


def test_parquet_as_pandas_writes_it_reads_as_the_csv(tmp_path: Path) -> None:
    """float32 prices, int32 sizes, dictionary strings, sizes as floats with gaps."""
    t = table(
        bid=pa.array([190.0 + (i % 7) * 0.01 for i in range(20)], pa.float32()),
        ask=pa.array([190.01 + (i % 7) * 0.01 for i in range(20)], pa.float32()),
        bid_size=pa.array([300] * 20, pa.int32()), ask_size=pa.array([200.0] * 20),
        venue=pa.array([VENUES[i % 6] for i in range(20)]).dictionary_encode(),
    )  # fmt: skip
    pq.write_table(t, tmp_path / "t.parquet")
    a = ReplayMarket(write(tmp_path / "t.csv", rows()), None, VENUES, 0.01, RULES)
    b = ReplayMarket(tmp_path / "t.parquet", None, VENUES, 0.01, RULES)
    assert a.bid.tolist() == b.bid.tolist() and a.ask.tolist() == b.ask.tolist()
    assert a.stream.tolist() == b.stream.tolist() and a.ask_size.tolist() == b.ask_size.tolist()
    b.next_batch(10**12)
    assert b.quality == {"prices_snapped": 37} and a.quality == {"prices_snapped": 0}  # 40, less 3 exact 190.0


# -- prices and the tick grid ------------------------------------------------------------------------
def test_float32_prices_are_snapped_to_the_tick_and_counted(tmp_path: Path) -> None:
    lines = rows(3)
    lines[1] = f"{T0 + 5},AAPL,NYSE,quote,585.47998046875,585.72998046875,300,200,,"
    market = ReplayMarket(write(tmp_path / "t.csv", lines), None, VENUES, 0.01, RULES)
    assert market.bid[1] == 585.48 and market.ask[1] == 585.73
    market.next_batch(1_500_000)
    assert market.quality == {"prices_snapped": 2}
    assert market.rewound().quality == {"prices_snapped": 0}  # counted as the session delivers them


def test_a_price_off_the_grid_in_a_quote_that_would_be_traded_on_refuses_the_file(tmp_path: Path) -> None:
    lines = rows(5)
    lines[2] = lines[2].replace(",190.03,", ",190.025,")  # an ask between two cents
    refused(write(tmp_path / "t.csv", lines), "row 4: ask = 190.025 is off the 0.01 tick grid", "market.tick_size")
    sub = ReplayMarket(write(tmp_path / "t.csv", lines), None, VENUES, 0.001, RULES)  # a grid it is on
    assert sub.ask[2] == 190.025


def test_an_empty_levels_placeholder_is_neither_snapped_nor_refused_but_left_to_the_normaliser(tmp_path: Path) -> None:
    lines = rows(5)
    lines[0] = f"{T0},AAPL,NASDAQ,quote,585.33,999999.9999,18,200,,"  # LOBSTER: an empty ask level
    lines[3] = f"{T0 + 3_000_003},AAPL,BZX,quote,190.035,190.025,300,200,,"  # crossed, and off the grid
    lines[4] = f"{T0 + 4_000_004},AAPL,EDGX,quote,1900.005,1900.105,300,200,,"  # ten times away, off the grid
    market = ReplayMarket(write(tmp_path / "t.csv", lines), None, VENUES, 0.01, RULES)
    assert market.ask[0] == 999999.9999 and market.bid[4] == 1900.005
    market.next_batch(10**12)
    assert market.quality == {"prices_snapped": 0}


# -- trade prints ------------------------------------------------------------------------------------
def test_trade_prints_are_held_to_the_quote_rules(tmp_path: Path) -> None:
    lines = rows(10)
    trades = [
        f"{T0 - 1},AAPL,,trade,,,,,5000.0,100",  # before any quote: nothing to compare with
        f"{T0 + 2_500_000},AAPL,,trade,,,,,190.01,100",
        f"{T0 + 2_600_000},AAPL,,trade,,,,,1900.1,100",  # ten times the quotes
        f"{T0 + 2_700_000},AAPL,NYSE,trade,,,,,190.01,0",
        f"{T0 + 2_800_000},AAPL,,trade,,,,,nan,100",
        f"{T0 + 2_900_000},AAPL,,trade,,,,,0.001,100",
        f"{T0 + 3_000_000},AAPL,,trade,,,,,190.005,100",  # a midpoint print: off the grid, and fine
    ]
    market = ReplayMarket(write(tmp_path / "t.csv", [trades[0], *lines[:3], *trades[1:], *lines[3:]]), None, VENUES,
                          0.01, RULES)  # fmt: skip
    batch = market.next_batch(10**12)
    assert batch.trades == 7 and len(batch) == 10
    assert market.trades_rejected == 4
    assert market.trades_rejected_by_reason == {"deviation": 1, "bad_size": 1, "non_finite": 1, "out_of_range": 1}
    plain = ReplayMarket(tmp_path / "t.csv", None, VENUES)  # without the session's rules: the basic tests
    plain.next_batch(10**12)
    assert plain.trades_rejected_by_reason == {"bad_size": 1, "non_finite": 1}
