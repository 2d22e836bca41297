"""Replay files as users' tools write them, end to end: the session they give, or one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hft_console.engine.engine import Engine
from hft_console.market.open import data_quality
from hft_console.market.replay import ReplayMarket
from tests.conftest import make_settings
from tests.integration.test_cli import BASE, hft
from tests.integration.test_replay import REPLAY, quotes, write_csv

KEYS = ("ticks", "ticks_rejected", "orders", "fills", "pnl_total", "duration_s")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic session recorded to Parquet: real orders and fills to compare replays by."""
    path = tmp_path_factory.mktemp("rec") / "ticks.parquet"
    out = hft(*BASE, "--duration", "3", "--run-dir", str(path.parent / "run"), "--record", str(path))
    assert out.returncode == 0, out.stderr
    return path


def summary_of(tmp_path: Path, path: Path, name: str, *extra: str) -> dict[str, Any]:
    run = tmp_path / name
    out = hft(*REPLAY, "--run-dir", str(run), "--data", f"replay:{path}", *extra)
    assert out.returncode == 0, out.stderr
    summary: dict[str, Any] = json.loads((run / "summary.json").read_text())
    return summary


def refused(tmp_path: Path, path: Path, *fragments: str) -> None:
    run = tmp_path / "refused"
    out = hft(*REPLAY, "--run-dir", str(run), "--data", f"replay:{path}")
    assert out.returncode == 2, out.stdout
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    for fragment in (path.name, *fragments):
        assert fragment in out.stderr, out.stderr
    assert not (run / "journal.sqlite").exists()


def test_a_csv_with_a_byte_order_mark_or_in_utf16_replays_as_the_plain_file(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "plain.csv", quotes(400))
    text = plain.read_text()
    (tmp_path / "bom.csv").write_text("\ufeff" + text.replace("\n", "\r\n"), encoding="utf-8", newline="")
    (tmp_path / "u16.csv").write_text(text, encoding="utf-16")
    a = summary_of(tmp_path, plain, "a")
    for name in ("bom.csv", "u16.csv"):
        b = summary_of(tmp_path, tmp_path / name, f"run-{name}")
        assert {k: a[k] for k in KEYS} == {k: b[k] for k in KEYS}, name
    assert a["ticks"] == 400 and a["duration_s"] > 0.3


def test_typed_parquet_timestamps_replay_as_integer_nanoseconds(tmp_path: Path, recording: Path) -> None:
    t = pq.read_table(recording)
    t0_us = 1_700_000_000_000_000
    us = pc.add(pc.divide(t.column("ts_ns"), 1000), t0_us)  # microsecond data, on an epoch date
    ns = t.set_column(0, "ts_ns", pc.multiply(us, 1000))
    pq.write_table(ns, tmp_path / "ns.parquet")
    pq.write_table(
        t.set_column(0, "ts_ns", us.cast(pa.timestamp("us", tz="America/New_York"))), tmp_path / "us.parquet"
    )
    ms = t.set_column(0, "ts_ns", pc.divide(us, 1000).cast(pa.timestamp("ms")))
    pq.write_table(ms, tmp_path / "ms.parquet")
    pq.write_table(ms.set_column(0, "ts_ns", pc.multiply(pc.divide(us, 1000), 1_000_000)), tmp_path / "ms_ns.parquet")
    a, b = summary_of(tmp_path, tmp_path / "ns.parquet", "ns"), summary_of(tmp_path, tmp_path / "us.parquet", "us")
    assert {k: a[k] for k in KEYS} == {k: b[k] for k in KEYS}
    assert a["orders"] > 5 and a["duration_s"] > 2.5  # the recorded session's length, not 3 microseconds
    c, d = summary_of(tmp_path, tmp_path / "ms.parquet", "ms"), summary_of(tmp_path, tmp_path / "ms_ns.parquet", "m2")
    assert {k: c[k] for k in KEYS} == {k: d[k] for k in KEYS} and c["duration_s"] > 2.5


def test_integer_timestamps_in_the_wrong_unit_and_parquet_type_errors_are_refused(tmp_path: Path) -> None:
    refused(tmp_path, write_csv(tmp_path / "ms.csv", quotes(50, t0=1_700_000_000_000)), "row 2: ts_ns = ", "milli")
    bad = pa.table({c: pa.array([v] * 3) for c, v in zip(
        ("ts_ns", "symbol", "venue", "kind", "bid", "ask", "bid_size", "ask_size", "price", "size"),
        (1_000, "AAPL", "NYSE", "quote", "190.0", "190.01", 300, 200, None, None), strict=True)})  # fmt: skip
    bad = bad.set_column(4, "bid", pa.array(["190.0", "190.0", "abc"]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    refused(tmp_path, tmp_path / "bad.parquet", "row 3: bid = 'abc'", "expected a number")


def test_a_placeholder_first_quote_is_rejected_and_the_real_quotes_kept(tmp_path: Path) -> None:
    path = tmp_path / "lobster.csv"
    path.write_text(
        "ts_ns,symbol,venue,kind,bid,ask,bid_size,ask_size,price,size\n"
        "0,AAPL,NASDAQ,quote,585.33,999999.9999,18,200,,\n"
        "1000000,AAPL,NASDAQ,quote,585.33,585.91,18,18,,\n"
        "2000000,AAPL,NASDAQ,quote,585.34,585.91,18,18,,\n"
    )
    summary = summary_of(tmp_path, path, "r")
    assert summary["ticks"] == 3 and summary["ticks_rejected_by_reason"] == {"wide_spread": 1}


def engine_on(path: Path, tick: float = 0.01) -> Engine:
    s = make_settings(session__duration_s=600)
    market = ReplayMarket(path, None, [v.name for v in s.venues], tick, s.normalizer)
    engine = Engine(s, None, market=market)
    engine.run()
    return engine


def outcome(e: Engine) -> tuple[object, ...]:
    return e.ticks, e.normalizer.rejected_total, e.flow.orders, e.flow.fills, round(e.portfolio.total, 6)


def test_float32_prices_fill_as_their_decimals_do_and_are_counted(tmp_path: Path, recording: Path) -> None:
    t = pq.read_table(recording)
    f32 = t.set_column(4, "bid", t.column("bid").cast(pa.float32())).set_column(
        5, "ask", t.column("ask").cast(pa.float32())
    )
    pq.write_table(f32, tmp_path / "f32.parquet")
    exact, snapped = engine_on(recording), engine_on(tmp_path / "f32.parquet")
    assert outcome(exact) == outcome(snapped) and exact.flow.fills > 5
    assert data_quality(snapped.market)["prices_snapped"] > 1000 and data_quality(exact.market) == {"prices_snapped": 0}
    unsnapped = engine_on(tmp_path / "f32.parquet", tick=0.0)  # what a float32 file gave before: no fills
    assert unsnapped.flow.fills < exact.flow.fills // 2


def test_trade_prints_ten_times_away_are_rejected_and_counted(tmp_path: Path) -> None:
    rows = quotes(200)
    rows.insert(100, "1700000000100000000,AAPL,,trade,,,,,1900.3,100")
    rows.insert(120, "1700000000120000000,AAPL,,trade,,,,,190.03,100")
    e = engine_on(write_csv(tmp_path / "t.csv", rows))
    assert e.trades_seen == 2 and getattr(e.market, "trades_rejected_by_reason", None) == {"deviation": 1}


def test_the_command_line_snaps_float32_prices_and_checks_trade_prints(tmp_path: Path, recording: Path) -> None:
    t = pq.read_table(recording)
    f32 = t.set_column(4, "bid", t.column("bid").cast(pa.float32())).set_column(
        5, "ask", t.column("ask").cast(pa.float32())
    )
    pq.write_table(f32, tmp_path / "f32.parquet")
    a, b = summary_of(tmp_path, recording, "a"), summary_of(tmp_path, tmp_path / "f32.parquet", "b")
    assert {k: a[k] for k in KEYS} == {k: b[k] for k in KEYS}
    assert b["data_quality"]["prices_snapped"] > 1000
