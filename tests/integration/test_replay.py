"""Recording and replay: any session replays exactly; bad files fail clearly, bad values are counted."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from hft_console.market.replay import COLUMNS, ReplayMarket
from hft_console.market.source import DataError
from tests.conftest import make_settings
from tests.integration.test_cli import BASE, hft

HEADER = ",".join(COLUMNS)
REPLAY = ["--no-ui", "--mode", "fast", "--clock", "sim", "--seed", "7", "--skip-backtest", "--log-level", "quiet"]
VENUES = ["NYSE", "NASDAQ", "ARCA", "BZX", "EDGX", "IEX"]


def journal(run: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    db = sqlite3.connect(run / "journal.sqlite")
    orders = db.execute("select order_id, ts_ns, symbol, side, qty, limit_price, venue, status, filled from orders")
    fills = db.execute("select ts_ns, order_id, qty, price, fee, total_pnl from fills order by id")
    return orders.fetchall(), fills.fetchall()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_recorded_session_replays_tick_for_tick_and_a_replay_is_deterministic(tmp_path: Path, suffix: str) -> None:
    """The market replays exactly. The fills need not: the live session's venues were generated (fade,
    sniping, impact, a delayed feed), a recording's books are what they are and bound every take."""
    rec = tmp_path / f"ticks{suffix}"
    first = hft(*BASE, "--duration", "6", "--run-dir", str(tmp_path / "a"), "--record", str(rec))
    assert first.returncode == 0, first.stderr
    for run in "bc":
        again = hft(*BASE, "--duration", "6", "--run-dir", str(tmp_path / run), "--data", f"replay:{rec}")
        assert again.returncode == 0, again.stderr
    a, b = (json.loads((tmp_path / r / "summary.json").read_text()) for r in "ab")
    assert a["fills"] > 5 and a["ticks_rejected"] > 0  # something to compare, bad ticks included
    for key in ("ticks", "ticks_rejected", "ticks_rejected_by_reason"):
        assert a[key] == b[key], key
    assert b["trades"]["seen"] == a["trades"]["seen"] > 0  # others' prints are recorded and replayed
    assert b["fills"] > 0 and journal(tmp_path / "b") == journal(tmp_path / "c")
    assert "Data: replay:ticks" in again.stdout


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def quotes(n: int, t0: int = 1_700_000_000_000_000_000, step: int = 1_000_001) -> list[str]:
    """n sane AAPL quotes across venues, on epoch timestamps like real data."""
    rows = []
    for i in range(n):
        bid = 190.0 + (i % 7) * 0.01
        rows.append(f"{t0 + i * step},AAPL,{VENUES[i % 6]},quote,{bid:.2f},{bid + 0.01:.2f},300,200,,")
    return rows


def test_values_that_parse_but_make_no_sense_are_rejected_and_counted_never_traded(tmp_path: Path) -> None:
    rows = quotes(400)
    stamp = [r.split(",", 1)[0] for r in rows]
    rows[50] = f"{stamp[50]},AAPL,NYSE,quote,nan,190.01,300,200,,"
    rows[60] = f"{stamp[60]},AAPL,NYSE,quote,191.00,190.00,300,200,,"  # crossed
    rows[70] = f"{stamp[70]},AAPL,NYSE,quote,-1,190.00,300,200,,"  # negative
    rows.insert(80, "1700000000080000000,AAPL,,trade,190.01,,,,190.01,100")  # trade prints are counted
    path = write_csv(tmp_path / "t.csv", rows)
    out = hft(*BASE, "--run-dir", str(tmp_path / "r"), "--data", f"replay:{path}", "--symbols", "AAPL")
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["ticks"] == 400 and summary["ticks_rejected"] == 3
    assert summary["trades"] == {"seen": 1, "rejected": 0, "rejected_by_reason": {}}
    assert set(summary["ticks_rejected_by_reason"]) == {"non_finite", "crossed", "non_positive"}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (None, "no such file"),
        (["1,AAPL,NYSE,quote,1.0,1.01,100,100"], "row 2: expected 10 fields, found 8"),
        (["1,AAPL,NYSE,quote,1.0,1.01,100,100,,", "2,AAPL,NYSE,quote,abc,1.01,100,100,,"], "row 3: bid = 'abc'"),
        (["1,AAPL,NYSE,quote,1.0,1.01,100,100,,", "2,AAPL,NYSE,quote,1.0,1.01,1.5,100,,"], "row 3: bid_size"),
        (["1,AAPL,XNYS,quote,1.0,1.01,100,100,,"], "row 2: venue = 'XNYS': expected a configured venue"),
        (["1,AAPL,NYSE,book,1.0,1.01,100,100,,"], "row 2: kind = 'book'"),
        ([",AAPL,NYSE,quote,1.0,1.01,100,100,,"], "row 2: ts_ns is empty"),
        ([], "no rows"),
    ],
)
def test_a_bad_file_stops_the_run_naming_file_and_row(tmp_path: Path, rows: list[str] | None, expected: str) -> None:
    path = tmp_path / "bad.csv"
    if rows is not None:
        write_csv(path, rows)
    run = tmp_path / "r"
    out = hft(*BASE, "--run-dir", str(run), "--data", f"replay:{path}", "--symbols", "AAPL")
    assert out.returncode == 2, out.stdout
    assert expected in out.stderr and "bad.csv" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not (run / "journal.sqlite").exists()  # never a silent partial session


def test_wrong_columns_and_a_truncated_parquet_file_are_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("time,sym,bid,ask\n1,AAPL,1,2\n")
    out = hft(*REPLAY, "--run-dir", str(tmp_path / "a"), "--data", f"replay:{wrong}")
    assert out.returncode == 2 and "missing columns" in out.stderr and "wrong.csv" in out.stderr
    good = tmp_path / "good.parquet"
    assert hft(*BASE, "--run-dir", str(tmp_path / "b"), "--record", str(good)).returncode == 0
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out = hft(*REPLAY, "--run-dir", str(tmp_path / "c"), "--data", f"replay:{cut}")
    assert out.returncode == 2 and "cut.parquet" in out.stderr and "Traceback" not in out.stderr


def test_epoch_timestamps_start_near_zero_and_the_file_decides_when_the_session_ends(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", quotes(500, t0=1_700_000_000_250_000_000))
    market = ReplayMarket(path, None, VENUES)
    assert market.symbols == ["AAPL"] and market.offset_ns == 1_700_000_000_000_000_000
    batch = market.next_batch(300_000_000)
    assert batch.ts[0] == 250_000_000 and len(batch) == 50
    out = hft(*REPLAY, "--duration", "600", "--run-dir", str(tmp_path / "r"), "--data", f"replay:{path}")
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["ticks"] == 500 and summary["duration_s"] < 1.0


def test_late_rows_stay_in_feed_order_and_are_rejected_as_out_of_order(tmp_path: Path) -> None:
    rows = quotes(100, t0=0)
    rows.insert(50, "1000,AAPL,NYSE,quote,190.00,190.01,300,200,,")  # stamped long before its neighbours
    market = ReplayMarket(write_csv(tmp_path / "t.csv", rows), None, VENUES)
    batch = market.next_batch(60_000_000)
    assert batch.ts[50] == 1000 and len(batch) == 61


def test_asked_for_symbols_must_be_in_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", quotes(10))
    with pytest.raises(DataError, match="no rows for MSFT"):
        ReplayMarket(path, ["AAPL", "MSFT"], VENUES)
    settings = make_settings(data__source=f"replay:{path}", session__symbols="AAPL")
    assert settings.data.source.endswith("t.csv")


def test_wall_clock_replay_keeps_the_recorded_pace(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", quotes(80, t0=0, step=10_000_000))  # 0.8 s of quotes
    started = time.monotonic()
    out = hft(*REPLAY, "--clock", "wall", "--run-dir", str(tmp_path / "r"), "--data", f"replay:{path}")
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert elapsed >= 0.75


def test_record_never_overwrites_a_file(tmp_path: Path) -> None:
    existing = write_csv(tmp_path / "t.csv", quotes(50))
    before = existing.read_bytes()
    out = hft(*REPLAY, "--run-dir", str(tmp_path / "r"), "--data", f"replay:{existing}", "--record", str(existing))
    assert out.returncode == 2 and "already exists" in out.stderr
    assert existing.read_bytes() == before


def test_a_take_on_recorded_data_fills_at_the_touch_that_had_the_size_never_between_ticks(tmp_path: Path) -> None:
    """The issue's smallest input: synthetic impact once printed 100.011438 against a 100.01 offer."""
    data = write_csv(
        tmp_path / "t.csv",
        [
            "0,AAPL,NASDAQ,quote,100.00,100.02,1000,100,,",
            "1000000000,AAPL,NASDAQ,quote,100.00,100.02,1000,100,,",
            "1000100000,AAPL,NASDAQ,quote,100.00,100.01,1000,100,,",
            "2000000000,AAPL,NASDAQ,quote,100.00,100.01,1000,100,,",
        ],
    )
    out = hft(*REPLAY, "--symbols", "AAPL", "--data", f"replay:{data}", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    db = sqlite3.connect(tmp_path / "r" / "journal.sqlite")
    prices = [p for (p,) in db.execute("select price from fills where side = 'BUY'")]
    assert prices and all(p in (100.01, 100.02) for p in prices)
