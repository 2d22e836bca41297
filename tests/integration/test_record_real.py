"""``--record`` of a real-data session: every trade print and the data's own times, so the recording
replays as the same data; the optional ``side`` column of the replay format."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from hft_console.engine.engine import Engine
from hft_console.market.recorder import RecordingMarket
from hft_console.market.replay import ReplayMarket
from hft_console.market.source import DataError, MarketSource
from hft_console.market.synthetic import SyntheticMarket
from tests.conftest import make_settings
from tests.integration.test_cli import hft
from tests.integration.test_replay import REPLAY, write_csv

T0 = 1_700_000_000_250_000_000  # epoch ns, a quarter second past a whole second: the offset is not the first row
ROW = ("ts_ns", "symbol", "venue", "kind", "price", "size")
QUOTES = [
    "1700000000000000000,AAPL,NYSE,quote,190.00,190.02,300,200,,",
    "1700000000001000000,AAPL,ARCA,quote,190.00,190.02,300,200,,",
]  # mid 190.01


def settings() -> Any:
    return make_settings(session__duration_s=600)  # past the file's end: the whole file is replayed


def run(market: MarketSource) -> tuple[Any, ...]:
    """A session on ``market``; what its summary reports about the data and the trading."""
    s = settings()
    e = Engine(s, None, market=market)
    e.run()
    inner: Any = getattr(e.market, "inner", e.market)
    return (
        e.ticks, e.normalizer.rejected_total, e.trades_seen, inner.trades_rejected, inner.trades_rejected_by_reason,
        e.flow.orders, e.flow.fills, round(e.portfolio.total, 6),
    )  # fmt: skip


def replay(path: Path) -> ReplayMarket:
    s = settings()
    return ReplayMarket(path, None, [v.name for v in s.venues], s.market.tick_size, s.normalizer)


def rows(path: Path) -> list[tuple[object, ...]]:
    """The file's rows as (ts_ns, symbol, venue, kind, price, size), NaN and empty read alike."""
    t = (pacsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)).select(list(ROW)).to_pylist()
    return [
        tuple(None if isinstance(v, float) and math.isnan(v) else v for v in (r[c] for c in ROW))
        for r in t
        if r["kind"] != "ref"
    ]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic session recorded, then made to look like real data: epoch ns, no ``ref`` rows, no ``side``
    (replay infers it), plus prints a real feed has: a NaN price, one far from the mid, none at a venue."""
    folder = tmp_path_factory.mktemp("real")
    s = make_settings(session__duration_s=3)
    synthetic = folder / "synthetic.parquet"
    market = SyntheticMarket(list(s.session.symbols), s.venues, s.market, 7)
    Engine(s, None, market=RecordingMarket(market, synthetic, [v.name for v in s.venues])).run()
    t = pq.read_table(synthetic)
    kind, side = t.column("kind").to_pylist(), t.column("side").to_pylist()
    assert {sd for k, sd in zip(kind, side, strict=True) if k == "trade"} == {"B", "S"}  # synthetic sides
    assert t.column("ts_ns")[0].as_py() < 1_000_000_000  # a synthetic session's own times: from 0
    t = t.filter(pa.compute.not_equal(t.column("kind"), "ref")).drop_columns(["side"])
    t = t.set_column(0, "ts_ns", pa.compute.add(t.column("ts_ns"), T0))
    body = t.to_pylist()
    quotes = [i for i, r in enumerate(body) if r["kind"] == "quote" and r["symbol"] == "AAPL"]
    extras = [(math.nan, 100, "NYSE"), (1900.0, 100, "NYSE"), (None, 0, ""), (None, 50, "XNAS")]
    for k, (price, size, venue) in reversed(list(enumerate(extras))):  # from the end: indices stay put
        i = quotes[500 * (k + 1)]
        q = next(body[j] for j in reversed(quotes[: 500 * (k + 1)]) if 0 < body[j]["bid"] < body[j]["ask"])
        mid = (q["bid"] + q["ask"]) / 2 if price is None else price  # at the mid: no side by the quote rule
        extra = {c: None for c in t.column_names} | {"ts_ns": body[i]["ts_ns"], "symbol": "AAPL", "venue": venue}
        body.insert(i, extra | {"kind": "trade", "price": mid, "size": size})
    path = folder / "real.csv"
    pacsv.write_csv(pa.Table.from_pylist(body, schema=t.schema), path)
    return path


def test_a_recording_of_a_real_session_keeps_every_print_and_the_data_times_and_replays_the_same(
    real: Path, tmp_path: Path
) -> None:
    original = replay(real)
    assert original.offset_ns == T0 // 10**9 * 10**9
    rec = tmp_path / "rec.csv"
    recorded = run(RecordingMarket(replay(real), rec, [v.name for v in settings().venues]))
    assert recorded == run(replay(real))  # recording changes nothing about the session
    assert rows(rec) == rows(real)  # every row, rejected prints included, on the data's own epoch times
    assert recorded[3:5] == (3, {"non_finite": 1, "bad_size": 1, "deviation": 1})  # the XNAS print is good
    sides = pacsv.read_csv(rec).to_pydict()
    trade = [k == "trade" for k in sides["kind"]]
    written = [sd for sd, tr in zip(sides["side"], trade, strict=True) if tr]
    used = original.trade_side[original.is_trade]
    assert written == [{1: "B", -1: "S", 0: "N"}[int(v)] for v in used] and "N" in written and "B" in written
    assert not any(sd for sd, tr in zip(sides["side"], trade, strict=True) if not tr)  # quotes: empty
    again = run(replay(rec))
    assert again == recorded  # seen, rejected by reason, orders, fills and P&L
    assert recorded[2] > 20 and recorded[6] > 5  # something to compare


def test_the_command_line_records_a_replay_session_as_the_same_rows(real: Path, tmp_path: Path) -> None:
    rec = tmp_path / "rec.parquet"
    out = hft(*REPLAY, "--symbols", "AAPL,MSFT", "--duration", "600", "--run-dir", str(tmp_path / "r"),
              "--data", f"replay:{real}", "--record", str(rec))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert rows(rec) == rows(real)


def test_the_side_column_decides_the_aggressor_and_lee_ready_fills_in_where_it_is_empty(tmp_path: Path) -> None:
    prints = [  # price, side given, the side replay uses (mid 190.01)
        (190.02, "S", -1), (190.00, "", -1), (190.01, "B", 1), (190.02, "N", 0), (190.00, "+1", 1),
        (190.02, "-1", -1), (190.02, "0", 0), (190.01, "buy", 1), (190.02, " s ", -1), (190.02, "", 1),
    ]  # fmt: skip
    lines = [f"{1_700_000_000_002_000_000 + i},AAPL,NYSE,trade,,,,,{p},100,{sd}" for i, (p, sd, _) in enumerate(prints)]
    head = "ts_ns,symbol,venue,kind,bid,ask,bid_size,ask_size,price,size,side"
    path = tmp_path / "sided.csv"
    path.write_text("\n".join([head, *(q + "," for q in QUOTES), *lines]) + "\n")
    m = replay(path)
    expected = [want for _, _, want in prints]
    assert m.trade_side[m.is_trade].tolist() == expected
    batch = m.next_batch(10**9)
    assert batch.trades == 10 and batch.prints is not None
    assert batch.prints.side.tolist() == [v for v in expected if v]  # an unknown side fills no resting order

    table = pa.table({
        "ts_ns": [1_700_000_000_000_000_000, 1_700_000_000_002_000_000, 1_700_000_000_003_000_000],
        "symbol": ["AAPL"] * 3, "venue": ["NYSE"] * 3, "kind": ["quote", "trade", "trade"],
        "bid": [190.0, None, None], "ask": [190.02, None, None], "bid_size": [300, None, None],
        "ask_size": [200, None, None], "price": [None, 190.02, 190.02], "size": [None, 100, 100],
        "side": pa.array([None, -1, 0], pa.int8()),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "sided.parquet")
    m = replay(tmp_path / "sided.parquet")
    assert m.trade_side[m.is_trade].tolist() == [-1, 0]


def test_a_side_that_is_not_one_is_refused_naming_the_row(tmp_path: Path) -> None:
    head = "ts_ns,symbol,venue,kind,bid,ask,bid_size,ask_size,price,size,side"
    path = tmp_path / "bad.csv"
    path.write_text(
        "\n".join([head, *(q + ",X" for q in QUOTES), "1700000000002000000,AAPL,NYSE,trade,,,,,190.02,100,up"])
    )
    with pytest.raises(DataError, match=r"bad.csv'?: row 4: side = 'up': expected B, S, N or empty"):
        replay(path)  # a quote row's side is ignored


def test_a_file_without_the_side_column_or_with_it_empty_reads_as_before(tmp_path: Path) -> None:
    lines = [
        f"{1_700_000_000_002_000_000 + i},AAPL,NYSE,trade,,,,,{p},100"
        for i, p in enumerate((190.02, 190.0, 190.01, 1900.0))
    ]
    plain = write_csv(tmp_path / "plain.csv", [*QUOTES, *lines])
    head = "ts_ns,symbol,venue,kind,bid,ask,bid_size,ask_size,price,size,side"
    empty = tmp_path / "empty.csv"
    empty.write_text("\n".join([head, *(r + "," for r in [*QUOTES, *lines])]) + "\n")
    a, b = replay(plain), replay(empty)
    assert a.side_given is None and a.trade_side[a.is_trade].tolist() == [1, -1, 0, 1]
    assert np.array_equal(a.trade_side, b.trade_side) and np.array_equal(a.trade_verdict, b.trade_verdict)
    pa_, pb = a.next_batch(10**9).prints, b.next_batch(10**9).prints
    assert pa_ is not None and pb is not None and pa_.side.tolist() == pb.side.tolist() == [1, -1]
