"""The backtester: its command line, its report, its scenarios and its arithmetic."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hft_console.backtest.report import cost_figures, drawdown, print_report, router_figures
from hft_console.backtest.run import run_backtest, run_one
from hft_console.backtest.scenarios import make_scenarios, scenario_settings
from hft_console.backtest.startup import startup_line
from hft_console.routing.policy import Transition
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.routing.runner import RouterRunner
from tests.conftest import make_settings
from tests.integration.test_cli import hft

KEYS = ["scenarios", "events", "events_per_s", "pnl", "sharpe", "max_drawdown", "fill_rate", "shortfall_bps",
        "venues", "routers", "miss_cost_bps", "cost_bps", "cost_bps_ci95", "duration_s",
        "duration_s_requested"]  # fmt: skip


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
    assert 0 < report["fill_rate"] <= 1 and set(report["venues"]) == {v.name for v in make_settings().venues}
    assert "execution cost per share sent, cheapest first" in out.stdout  # the rich report
    # noise annualised from seconds of trading is not reported at all
    assert "sharpe_annualised" not in report and all("sharpe_annualised" not in f for f in report["routers"].values())
    assert report["duration_s"] == report["duration_s_requested"] == 2.0
    # the router that fills least pays most for its misses, and its cost says so
    routers = report["routers"]
    least = min(routers, key=lambda r: routers[r]["fill_rate"])
    assert least == max(routers, key=lambda r: routers[r]["miss_cost_bps"]) and routers[least]["miss_cost_bps"] > 0
    for f in routers.values():
        assert f["cost_bps"] > f["miss_cost_bps"] > 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scenarios", "0"], "--scenarios: expected a whole number >= 1, got '0'"),
        (["--routers", "best-price,bogus"], "backtest.routers"),
        (["--data", "finnhub"], "finnhub is a live feed"),
        (["--data", "replay:/nonexistent/ticks.csv"], "no such file"),
        (["--data", "nasdaq"], "data.source"),
        (["--strategies", "imbalance,hodl"], "'hodl' is not a strategy"),
        (["--executor", "dask"], "--executor: invalid choice: 'dask'"),
        (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "ray: cannot reach the cluster at '127.0.0.1:1'"),
    ],
)
def test_bad_backtest_input_exits_2_with_one_line(args: list[str], expected: str) -> None:
    out = hft("backtest", "--mode", "fast", "--duration", "1", "--scenarios", "2", "--quiet", *args)
    assert out.returncode == 2, out.stdout
    assert expected in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_strategies_are_compared_on_the_same_scenarios_with_the_first_router() -> None:
    report = run_backtest(
        make_settings(), ["best-price", "lowest-fee"], 3, 2.0, 1, False,
        strategies=["imbalance", "imbalance-post", "market-maker"],
    )  # fmt: skip
    assert report["runs"] == 3 * 2 + 3 * 2  # routers with the first strategy, other strategies with the first router
    table = report["strategies"]
    assert list(table) == ["imbalance", "imbalance-post", "market-maker"]
    assert table["imbalance"]["pnl"] == report["routers"]["best-price"]["pnl"]  # the same runs
    assert table["imbalance"]["passive"]["fills"] == 0 and table["market-maker"]["passive"]["fills"] > 0
    assert table["market-maker"]["rebates_maker"] > 0 and table["imbalance-post"]["passive"]["orders"] > 0


def small(**flags: Any) -> dict[str, Any]:
    settings = make_settings(**flags)
    return run_backtest(settings, ["best-price", "lowest-latency"], 4, 1.5, 1, False)


def test_same_seed_same_report_in_one_process_or_many() -> None:
    one = small()
    settings = make_settings()
    many = run_backtest(settings, ["best-price", "lowest-latency"], 4, 1.5, 2, False)
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
    # the file holds 1 s of market: that is what each run simulated, not the 1.5 s asked for
    assert report["duration_s"] == pytest.approx(1.0, abs=0.01) and report["duration_s_requested"] == 1.5
    assert f"4 scenarios x {report['duration_s']:g} s on replay" in startup_line(report)
    assert "(the data ends there; 1.5 s asked)" in render(report)


def run(
    pnl: float,
    path: list[float],
    sent: int,
    filled: int,
    cost: float,
    fees: float,
    notional: float,
    missed: float = 0.0,
) -> Any:
    mid = notional / filled if filled else 100.0
    return {
        "pnl": pnl, "path": path, "qty_sent": [sent], "qty_filled": [filled], "cost_price": [cost], "cost_fees": [fees],
        "notional_filled": [notional], "notional_sent": [sent * mid], "cost_missed": [missed], "orders": 1,
        "risk_denials": 0, "regime": "calm",
    }  # fmt: skip


def test_report_arithmetic_by_hand() -> None:
    assert drawdown([5.0, 2.0, 8.0, 1.0, 3.0]) == 7.0
    assert drawdown([-4.0, -1.0]) == 4.0  # from the start at zero
    runs = [run(10.0, [4.0, 10.0], 200, 150, 3.0, 1.0, 20_000.0), run(-2.0, [-2.0], 100, 100, 1.0, 1.0, 10_000.0)]
    f = router_figures(runs)
    assert f["pnl"]["mean"] == 4.0
    assert f["pnl"]["ci95"] == pytest.approx(1.96 * np.std([10.0, -2.0], ddof=1) / np.sqrt(2), abs=1e-4)
    assert f["fill_rate"] == pytest.approx(250 / 300, abs=1e-4)
    assert f["slippage_bps"] == pytest.approx(4.0 / 30_000 * 1e4, abs=1e-4)
    assert f["shortfall_bps"] == pytest.approx(6.0 / 30_000 * 1e4, abs=1e-4)
    assert f["max_drawdown"] == 2.0 and f["sharpe"] == pytest.approx(4.0 / np.std([10.0, -2.0], ddof=1), abs=1e-4)
    sent_notional = 200 * 20_000.0 / 150 + 100 * 100.0  # shares sent x decision mid
    assert f["miss_cost_bps"] == 0.0 and f["cost_bps"] == pytest.approx(6.0 / sent_notional * 1e4, abs=1e-4)


def test_a_router_that_fills_less_is_not_cheaper_for_it() -> None:
    """Perold: the shortfall of what was not filled counts. 100 shares at $100: A fills all at 0.30 bps;
    B fills half at 0.25 bps and misses 50, priced at 2 ticks ($0.02) a share as evaluate prices them."""
    a = router_figures([run(0.0, [0.0], 100, 100, 0.2, 0.1, 10_000.0)])
    b = router_figures([run(0.0, [0.0], 100, 50, 0.075, 0.05, 5_000.0, missed=50 * 0.02)])
    assert (b["shortfall_bps"], a["shortfall_bps"]) == pytest.approx((0.25, 0.30))  # B looks cheaper on fills
    assert b["miss_cost_bps"] == pytest.approx(1.0 / 10_000 * 1e4)  # $1 of misses on $10,000 sent
    assert (b["cost_bps"], a["cost_bps"]) == pytest.approx(((0.125 + 1.0) / 10_000 * 1e4, 0.30))  # and is not
    assert b["cost_bps"] == pytest.approx(b["shortfall_bps"] * 0.5 + b["miss_cost_bps"])


def test_cost_is_what_the_routers_learn_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's cost_bps is the notional-weighted mean of the per-order cost the routers are scored
    on (and evaluate's environment charges): executed shortfall plus miss_penalty_ticks per unfilled share."""
    seen: list[Transition] = []
    learn = RouterRunner.learn

    def record(self: RouterRunner, router: str, transition: Transition) -> None:
        seen.append(transition)
        learn(self, router, transition)

    monkeypatch.setattr(RouterRunner, "learn", record)
    settings = make_settings(session__symbols="AAPL")
    result = run_one((settings, make_scenarios(settings, 1)[0], "lowest-fee", 10.0, ""))
    qty = np.array([t.qty for t in seen], dtype=float)
    filled = np.array([t.filled for t in seen], dtype=float)
    assert len(seen) > 10 and filled.sum() < qty.sum()  # some misses to price
    per_order = np.array([t.cost_bps for t in seen])
    figures = cost_figures([result])
    # one symbol: decision mids differ by a few bps at most, so weighting by shares is weighting by notional
    assert figures["cost_bps"] == pytest.approx(float((per_order * qty).sum() / qty.sum()), rel=2e-3)
    assert sum(result["qty_sent"]) - sum(result["qty_filled"]) == (qty - filled).sum()


def test_slippage_on_fills_is_half_the_spread_whatever_the_router() -> None:
    """Why the slippage column read the same for every router: a child order is a limit at the touch,
    so what fills, fills at the touch (or better): half the quoted spread against the decision mid.
    What a router changes is how much fills, which only the cost with misses shows."""
    settings = make_settings(session__symbols="AAPL")
    scenario = make_scenarios(settings, 1)[0]
    runs = {r: run_one((settings, scenario, r, 3.0, "")) for r in ("best-price", "lowest-fee", "lowest-latency")}
    figures = {r: cost_figures([x]) for r, x in runs.items()}
    for r, x in runs.items():
        mid = sum(x["notional_filled"]) / sum(x["qty_filled"])
        assert figures[r]["slippage_bps"] == pytest.approx(0.5 * settings.market.tick_size / mid * 1e4, rel=0.02)
    assert len({f["cost_bps"] for f in figures.values()}) == 3  # the routers do differ: in what they miss


def render(report: dict[str, Any]) -> str:
    from rich.console import Console

    out = io.StringIO()
    print_report(report, Console(width=80, file=out, color_system=None, legacy_windows=False))
    return out.getvalue()


def test_the_printed_report_fits_80_columns_with_nothing_cut() -> None:
    report = small()
    # every router, with figures as wide as a long losing production backtest makes them
    template = next(iter(report["routers"].values()))
    report["routers"] = {
        name: {**template, "pnl": {**template["pnl"], "mean": -12_345.67 - i, "ci95": 9_876.54},
               "max_drawdown": 23_456.78, "sharpe": -0.41, "cost_bps": 0.4 + i / 100}
        for i, name in enumerate(ROUTER_NAMES)
    }  # fmt: skip
    for v in report["venues"].values():  # every venue traded (one without orders prints dashes)
        v["fees"], v["orders"], v["shares_sent"] = 123_456.78, 123_456, max(v["shares_sent"], 100)
    text = render(report)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in text
    for i, name in enumerate(ROUTER_NAMES):
        row = next(line for line in lines if f"│ {name} " in line and "-12,3" in line)
        assert f"{-12_345.67 - i:,.2f}" in row and "9,876.54" in row and "23,456.78" in row
        assert sum(f"│ {name} " in line for line in lines) == 2  # one row in each router table
    assert text.count("123,456.78") == len(report["venues"])


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


def test_a_router_that_cannot_differ_in_runs_this_short_is_named_as_such() -> None:
    """ucb-window decides as ucb until its 200-update window fills: a 10 s scenario sends 50-70 orders,
    so its row would be ucb's under another name. The report says so instead of ranking it apart."""
    report = run_backtest(make_settings(), ["ucb", "ucb-window", "thompson"], 2, 1.5, 1, False)
    (note,) = report["notes"]
    assert note.startswith("ucb-window decided exactly as ucb: no run filled its 200-update window")
    assert report["routers"]["ucb-window"]["cost_bps"] == report["routers"]["ucb"]["cost_bps"]
    assert note in " ".join(render(report).split())


def test_top_level_help_lists_every_command() -> None:
    out = hft("--help")
    assert out.returncode == 0
    for command in ("backtest", "evaluate", "train"):
        assert f"hft-console {command} " in out.stdout, command
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
