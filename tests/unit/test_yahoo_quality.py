"""The Yahoo source's data quality: daily bars aligned by trading date across exchanges and DST, a
symbol without bars in the session refused, and what cleaning and alignment did counted into
summary.json, the final summary table and the backtest report. No network: recorded chart JSON through
yfinance's real parser, or cache files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hft_console.backtest.run import run_backtest
from hft_console.cli.main import main
from hft_console.headless import HeadlessPrinter
from hft_console.market import yahoo
from hft_console.market.bars import Bars, align_bars, clean_bars, on_trading_dates
from hft_console.market.source import DataError
from hft_console.market.yahoo import YahooMarket, cache_path, fetch_bars, open_yahoo, read_cache
from tests.conftest import make_settings
from tests.unit.test_yahoo import FIXTURES, FakeYahoo, copy_fixtures, offline
from tests.unit.test_yahoo import isolated_yfinance as isolated_yfinance  # autouse: yfinance's state per test

# New York and London daily charts in Yahoo's v8 format, each bar stamped at its exchange's regular open as
# Yahoo sends them: 15 trading days across both DST changes (the UK leaves BST on 2025-10-26, the US EDT on 11-02)
DAILY = ("SPY", "VOD.L")
WEEKDAYS = [d for d in pd.date_range("2025-10-20", "2025-11-07", freq="D", tz="UTC") if d.weekday() < 5]


def daily_charts() -> FakeYahoo:
    return FakeYahoo({s: (FIXTURES / f"chart_{s}_1d_1mo.json").read_bytes() for s in DAILY})


def test_daily_bars_of_two_exchanges_line_up_by_trading_date_across_dst(tmp_path: Path) -> None:
    bars = fetch_bars(list(DAILY), "1d", "1mo", tmp_path, 5.0, daily_charts().session())
    spy, vod = bars["SPY"], bars["VOD.L"]
    dates = np.array([d.value for d in WEEKDAYS], dtype=np.int64)
    assert len(WEEKDAYS) == 15 and np.array_equal(spy.ts_ns, dates) and np.array_equal(vod.ts_ns, dates)
    # London's 29 October came without prices: dropped (counted), then filled flat at the 28th's close
    hole = WEEKDAYS.index(pd.Timestamp("2025-10-29", tz="UTC"))
    assert vod.rejected == 1 and vod.rejected_by_reason == {"missing": 1} and vod.own is not None
    assert vod.filled == 1 and not vod.own[hole] and vod.open[hole] == vod.close[hole] == vod.close[hole - 1]
    assert spy.rejected == spy.filled == spy.cut == vod.cut == 0
    # the cache holds the instants Yahoo sent (New York and London midnights) and reads back the same
    dead = offline()
    again = fetch_bars(list(DAILY), "1d", "1mo", tmp_path, 5.0, dead.session())
    assert dead.urls == [] and all(np.array_equal(again[s].ts_ns, bars[s].ts_ns) for s in DAILY)
    raw = {s: read_cache(cache_path(tmp_path, s, "1d", "1mo")) for s in DAILY}
    assert {int(t) % 86_400_000_000_000 // 3_600_000_000_000 for t in raw["SPY"].ts_ns} == {4, 5}
    assert {int(t) % 86_400_000_000_000 // 3_600_000_000_000 for t in raw["VOD.L"].ts_ns} == {23, 0}
    # aligned by instant instead, the two exchanges interleave: 28 bars, each symbol flat half the time
    by_instant = align_bars({s: clean_bars(s, raw[s], "test") for s in DAILY})
    assert len(by_instant["SPY"]) == 28

    s = make_settings(session__symbols="SPY,VOD.L", session__duration_s=600)
    m = YahooMarket(list(DAILY), s.venues, s.market, 1, bars, 1.0, "yahoo:1d/1mo", window=600)
    assert m.n_bars == m.window == 15
    assert (m.quality["bars_dropped"], m.quality["bars_filled"], m.quality["bars_cut"]) == (1, 1, 0)
    assert m.quality["replayed"] == {"bars": 15, "first_utc": "2025-10-20 00:00", "last_utc": "2025-11-07 00:00"}


@pytest.mark.parametrize(
    "tz",
    [
        "America/Vancouver", "America/Los_Angeles", "America/Mexico_City", "America/Chicago", "America/New_York",
        "America/Santiago", "America/Sao_Paulo", "Atlantic/Reykjavik", "Europe/London", "Europe/Berlin",
        "Europe/Athens", "Europe/Moscow", "Asia/Tehran", "Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu",
        "Asia/Shanghai", "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney", "Pacific/Auckland",
    ],
)  # fmt: skip
def test_the_trading_date_of_a_daily_bar_in_any_exchange_time_zone(tz: str) -> None:
    dates = pd.date_range("2018-01-01", "2027-12-31", freq="D")
    # how yfinance stamps daily bars: the date's midnight in the exchange's zone (01:00 where DST skips it)
    opens = pd.to_datetime(dates.date).tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    one = np.ones(len(dates))
    raw = Bars(np.asarray(opens.as_unit("ns").asi8, dtype=np.int64), one, one, one, one, one)
    got = on_trading_dates(raw).ts_ns
    assert np.array_equal(got, np.asarray(dates.tz_localize("UTC").as_unit("ns").asi8, dtype=np.int64))


def write_bars(cache_dir: Path, sym: str, minutes: list[int], price: float) -> None:
    """A cache file of 1m bars at ``minutes`` after 2025-06-02 00:00 UTC, flat at ``price``."""
    day = 1_748_822_400
    flat = np.full(len(minutes), price)
    ts = np.array([(day + 60 * m) * 10**9 for m in minutes], dtype=np.int64)
    raw = Bars(ts, flat, flat, flat, flat, np.full(len(minutes), 100.0))
    yahoo.write_cache(cache_path(cache_dir, sym, "1m", "5d"), raw)


def yahoo_settings(cache_dir: Path, symbols: str, duration_s: float) -> Any:
    return make_settings(
        session__symbols=symbols, session__duration_s=duration_s, data__source="yahoo",
        data__cache_dir=str(cache_dir), data__yahoo_interval="1m", data__yahoo_period="5d",
    )  # fmt: skip


def test_a_symbol_without_a_bar_in_the_session_is_refused(tmp_path: Path) -> None:
    copy_fixtures(tmp_path)  # AAPL: 13:30 to 13:59 UTC
    write_bars(tmp_path, "TOKYO", list(range(0, 30)), 50.0)  # 00:00 to 00:29 UTC: all before AAPL's first bar
    write_bars(tmp_path, "LATE", [13 * 60 + 29, *range(13 * 60 + 50, 14 * 60)], 80.0)  # 13:29, then 13:50 on
    dead = offline()

    def refusal(symbols: str, duration_s: float) -> str:
        s = yahoo_settings(tmp_path, symbols, duration_s)
        with pytest.raises(DataError) as caught:
            open_yahoo(s, s.venues, seed=5, session=dead.session())
        assert caught.value.exit_code == 2 and "\n" not in caught.value.message
        return caught.value.message

    assert refusal("AAPL,TOKYO", 600).startswith("TOKYO (all its 30 bars come before the common start): no bar")
    assert refusal("AAPL,LATE", 10).startswith(
        "LATE (its first is bar 20, 2025-06-02 13:50 UTC): no bar of its own in the 10 bars the session replays "
        "(2025-06-02 13:30 to 2025-06-02 13:39 UTC); expected every symbol to trade in that span"
    )
    s = yahoo_settings(tmp_path, "AAPL,LATE", 25)  # long enough to reach LATE's bars: accepted, and counted
    m = open_yahoo(s, s.venues, seed=5, session=dead.session())
    assert m.window == 25 and m.quality["by_symbol"] == {
        "AAPL": {"dropped": 1, "cut": 0, "filled": 0},  # nobody has a bar at its dropped minute: no gap
        "LATE": {"dropped": 0, "cut": 1, "filled": 19},
    }
    assert (m.quality["bars_dropped"], m.quality["bars_cut"], m.quality["bars_filled"]) == (1, 1, 19)
    assert dead.urls == []


def test_the_refusal_is_one_line_and_exit_2_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_fixtures(tmp_path)
    write_bars(tmp_path, "TOKYO", list(range(0, 30)), 50.0)
    config = tmp_path / "yahoo.toml"
    config.write_text(f'[data]\nsource = "yahoo"\ncache_dir = "{tmp_path}"\ntimeout_s = 0.5\n')
    argv = ["--no-ui", "--clock", "sim", "--config", str(config), "--symbols", "AAPL,TOKYO", "--skip-backtest"]
    assert main([*argv, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hft-console: error: yahoo: TOKYO (all its 30 bars come before") and "\n" not in err


def test_dropped_and_filled_bars_reach_summary_json_and_the_final_table(tmp_path: Path, run_engine: Any) -> None:
    copy_fixtures(tmp_path)
    engine = run_engine(yahoo_settings(tmp_path, "AAPL,MSFT", 15))  # AAPL's bad 12th minute is in the window
    summary = json.loads((engine.run_dir / "summary.json").read_text())
    quality = summary["data_quality"]
    assert (quality["bars_dropped"], quality["bars_filled"], quality["bars_cut"]) == (1, 1, 0)
    assert quality["bars_dropped_by_reason"] == {"inconsistent": 1}
    assert quality["by_symbol"]["AAPL"] == {"dropped": 1, "cut": 0, "filled": 1}
    assert quality["replayed"]["bars"] == 15
    out = io.StringIO()
    HeadlessPrinter(engine, "quiet", out).final(summary)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("Data quality")]
    assert len(lines) == 1 and lines[0].split(None, 2)[2].strip() == "bars dropped 1, bars filled 1"
    clean = io.StringIO()
    HeadlessPrinter(engine, "quiet", clean).final({**summary, "data_quality": {**quality, "bars_dropped": 0}})
    assert "Data quality" in clean.getvalue() and "bars dropped" not in clean.getvalue()
    HeadlessPrinter(engine, "quiet", clean := io.StringIO()).final({**summary, "data_quality": {}})
    assert "Data quality" not in clean.getvalue()


def test_the_backtest_report_carries_the_data_quality(tmp_path: Path) -> None:
    copy_fixtures(tmp_path)
    report = run_backtest(yahoo_settings(tmp_path, "AAPL,MSFT", 600), ["best-price"], 1, 3.0, 1, False)
    quality = report["data_quality"]
    assert (quality["bars_dropped"], quality["bars_filled"], quality["replayed"]["bars"]) == (1, 0, 3)
