"""The backtester: its command line, its report, its scenarios and its arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hft_console.backtest.command import backtest
from hft_console.backtest.report import _drawdown, router_figures
from hft_console.backtest.scenarios import make_scenarios, scenario_settings
from tests.conftest import make_settings
from tests.integration.test_cli import hft

KEYS = ["scenarios", "events", "events_per_s", "pnl", "sharpe", "max_drawdown", "fill_rate", "shortfall_bps",
        "venues", "routers"]  # fmt: skip


def test_backtest_command_writes_every_agreed_key(tmp_path: Path) -> None:
    out = hft(
        "backtest", "--mode", "fast", "--scenarios", "6", "--duration", "2", "--routers", "best-price,lowest-fee",
        "--json", str(tmp_path / "bt.json"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "bt.json").read_text())
    assert [k for k in KEYS if k not in report] == []
    assert report["scenarios"] == 6 and report["runs"] == 12
    assert set(report["routers"]) == {"best-price", "lowest-fee"} and report["router"] == "best-price"
    assert set(report["pnl"]) >= {"mean", "ci95"} and report["events"] > 10_000 and report["events_per_s"] > 0
    assert 0 < report["fill_rate"] <= 1 and set(report["venues"]) == {"NYSE", "NASDAQ", "ARCA", "BZX", "EDGX", "IEX"}
    assert "routers (same scenarios for each)" in out.stdout  # the rich report


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scenarios", "0"], "--scenarios: expected a whole number >= 1, got '0'"),
        (["--routers", "best-price,bogus"], "backtest.routers"),
        (["--data", "finnhub"], "finnhub is a live feed"),
        (["--data", "replay:/nonexistent/ticks.csv"], "no such file"),
        (["--data", "nasdaq"], "data.source"),
    ],
)
def test_bad_backtest_input_exits_2_with_one_line(args: list[str], expected: str) -> None:
    out = hft("backtest", "--mode", "fast", "--duration", "1", "--scenarios", "2", "--quiet", *args)
    assert out.returncode == 2, out.stdout
    assert expected in out.stderr and len(out.stderr.strip().splitlines()) == 1


def small(**flags: Any) -> dict[str, Any]:
    settings = make_settings(**flags)
    return backtest(settings, ["best-price", "lowest-latency"], 4, 1.5, 1, False)


def test_same_seed_same_report_in_one_process_or_many() -> None:
    one = small()
    settings = make_settings()
    many = backtest(settings, ["best-price", "lowest-latency"], 4, 1.5, 2, False)
    for key in ("events", "pnl", "fill_rate", "shortfall_bps", "routers", "venues"):
        assert one[key] == many[key], key


def test_every_router_meets_the_same_scenarios() -> None:
    settings = make_settings()
    scenarios = make_scenarios(settings, 40)
    assert scenarios == make_scenarios(settings, 40)
    regimes = {s.regime for s in scenarios}
    assert regimes == {"calm", "congested", "degraded"}
    vols = np.array([s.vol_mult for s in scenarios])
    assert 0.6 < vols.mean() < 1.4 and vols.min() < 0.9 < 1.1 < vols.max()
    degraded = next(s for s in scenarios if s.regime == "degraded")
    a = scenario_settings(settings, degraded, "best-price", 2.0)
    b = scenario_settings(settings, degraded, "lowest-fee", 2.0)
    assert a.session.seed == b.session.seed and a.venues == b.venues and a.market == b.market
    slow = next(v for v in a.venues if v.name == degraded.degraded_venue)
    base = next(v for v in settings.venues if v.name == degraded.degraded_venue)
    assert slow.latency.median_us == 5 * base.latency.median_us and a.session.clock == "sim"


def test_replay_data_is_backtested_on_the_same_file(tmp_path: Path) -> None:
    rec = tmp_path / "t.parquet"
    out = hft("--no-ui", "--mode", "fast", "--clock", "sim", "--duration", "1", "--skip-backtest", "--log-level",
              "quiet", "--symbols", "AAPL,MSFT", "--run-dir", str(tmp_path / "r"), "--record", str(rec))  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = small(data__source=f"replay:{rec}")
    ticks = json.loads((tmp_path / "r" / "summary.json").read_text())["ticks"]
    assert report["data"] == f"replay:{rec}" and report["symbols"] == ["AAPL", "MSFT"]
    assert report["events"] >= 8 * ticks  # 4 scenarios x 2 routers, each the whole file


def run(pnl: float, path: list[float], sent: int, filled: int, cost: float, fees: float, notional: float) -> Any:
    return {
        "pnl": pnl, "path": path, "qty_sent": [sent], "qty_filled": [filled], "cost_price": [cost], "cost_fees": [fees],
        "notional_filled": [notional], "orders": 1, "risk_denials": 0, "regime": "calm",
    }  # fmt: skip


def test_report_arithmetic_by_hand() -> None:
    assert _drawdown([5.0, 2.0, 8.0, 1.0, 3.0]) == 7.0
    assert _drawdown([-4.0, -1.0]) == 4.0  # from the start at zero
    runs = [run(10.0, [4.0, 10.0], 200, 150, 3.0, 1.0, 20_000.0), run(-2.0, [-2.0], 100, 100, 1.0, 1.0, 10_000.0)]
    f = router_figures(runs, 1.0)
    assert f["pnl"]["mean"] == 4.0
    assert f["pnl"]["ci95"] == pytest.approx(1.96 * np.std([10.0, -2.0], ddof=1) / np.sqrt(2), abs=1e-4)
    assert f["fill_rate"] == pytest.approx(250 / 300, abs=1e-4)
    assert f["slippage_bps"] == pytest.approx(4.0 / 30_000 * 1e4, abs=1e-4)
    assert f["shortfall_bps"] == pytest.approx(6.0 / 30_000 * 1e4, abs=1e-4)
    assert f["max_drawdown"] == 2.0 and f["sharpe"] == pytest.approx(4.0 / np.std([10.0, -2.0], ddof=1), abs=1e-4)


def test_a_session_runs_its_short_backtest_first_unless_skipped(tmp_path: Path) -> None:
    base = ["--no-ui", "--mode", "fast", "--clock", "sim", "--duration", "1", "--symbols", "AAPL", "--seed", "3"]
    out = hft(*base, "--run-dir", str(tmp_path / "a"))
    assert out.returncode == 0, out.stderr
    assert "Backtest best-price: 8 scenarios x 3 s on synthetic: P&L" in out.stdout
    skipped = hft(*base, "--run-dir", str(tmp_path / "b"), "--skip-backtest")
    assert "Backtest: skipped (--skip-backtest)" in skipped.stdout


def test_yahoo_bars_from_the_cache_need_no_network(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "yahoo"
    cache.mkdir(parents=True)
    for name in ("AAPL_1m_5d.csv", "MSFT_1m_5d.csv"):
        (cache / name).write_bytes((Path(__file__).parents[1] / "data" / "yahoo" / name).read_bytes())
    config = tmp_path / "yahoo.toml"
    config.write_text(f'[data]\nsource = "yahoo"\ncache_dir = "{tmp_path / "cache"}"\ntimeout_s = 0.5\n')
    args = ["--config", str(config), "--symbols", "AAPL,MSFT", "--seed", "5"]
    run = ["--no-ui", "--clock", "sim", "--duration", "10", "--skip-backtest", "--run-dir", str(tmp_path / "r")]
    out = hft(*run, *args)
    assert out.returncode == 0, out.stderr
    assert "Data: yahoo:1m/5d" in out.stdout
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["ticks"] > 10_000 and summary["ticks_rejected"] == 0
    bt = hft("backtest", "--scenarios", "3", "--duration", "5", "--quiet", "--json", str(tmp_path / "bt.json"), *args)
    assert bt.returncode == 0, bt.stderr
    assert json.loads((tmp_path / "bt.json").read_text())["data"] == "yahoo"
