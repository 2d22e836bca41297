"""``backtest --html`` and ``evaluate --html``: one self-contained page whose plots and tables are the
JSON report's figures; an unwritable path exits 2 with one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hft_console.backtest.run import EQUITY_POINTS
from hft_console.cli import backtest as backtest_cli
from hft_console.cli.html_report import backtest_html, evaluation_html
from hft_console.money import amount
from tests.integration.test_cli import hft

ROUTERS = ("best-price", "lowest-fee")
# anything that would make a browser fetch something: a remote src/href/url(), a script, a stylesheet link
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|<script|<link|<img""", re.IGNORECASE
)


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """One tiny backtest (2 routers x 2 scenarios of 2 market seconds), written as JSON and HTML."""
    tmp = tmp_path_factory.mktemp("html")
    out = hft(
        "backtest", "--mode", "fast", "--scenarios", "2", "--duration", "2", "--routers", ",".join(ROUTERS),
        "--workers", "1", "--quiet", "--json", str(tmp / "bt.json"), "--html", str(tmp / "bt.html"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads((tmp / "bt.json").read_text()), (tmp / "bt.html").read_text()


def self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert EXTERNAL.search(page) is None, EXTERNAL.search(page)


def cells(page: str) -> list[str]:
    return re.findall(r"<td>([^<]*)</td>", page)


def row(table: list[str], *first: str, width: int) -> list[str]:
    """The ``width`` cells from the first place the cells ``first`` appear in a row."""
    k = next(k for k in range(len(table)) if table[k : k + len(first)] == list(first))
    return table[k : k + width]


def test_the_backtest_page_is_self_contained_with_a_plot_each(backtest: tuple[dict[str, Any], str]) -> None:
    _, page = backtest
    self_contained(page)
    # P&L distribution, equity curves, fill rate against latency: each an inline SVG
    assert page.count("<svg") == 3 and page.count("</svg>") == 3
    for heading in ("P&amp;L distribution", "Equity curves", "Fill rate against latency, per venue"):
        assert f"<h2>{heading}</h2><figure><svg" in page
    assert "hft-console backtest --mode fast --scenarios 2" in page  # the command line
    assert "1.96 standard errors" in page and "n=2" in page  # the interval's method, n per group


def test_the_backtest_page_prints_the_jsons_numbers(backtest: tuple[dict[str, Any], str]) -> None:
    report, page = backtest
    table = cells(page)
    for name in ROUTERS:
        f = report["routers"][name]
        figures = row(table, name, str(f["scenarios"]), width=14)
        assert figures[2:4] == [amount(f["pnl"]["mean"]), amount(f["pnl"]["ci95"])]
        assert figures[12:14] == [f"{f['cost_bps']:.3f}", f"{f['cost_bps_ci95']:.3f}"]
    assert row(table, "seed", width=2) == ["seed", str(report["seed"])]
    # the venues' table pools the runs' shares: the primary router's equal the report's own venue figures
    for venue, f in report["venues"].items():
        sent, rate = row(table, ROUTERS[0], venue, width=4)[2:]
        assert sent == (f"{f['shares_sent']:,}" if f["shares_sent"] else "0")
        assert rate == (f"{f['fill_rate']:.1%}" if f["shares_sent"] else "-")


def test_the_report_keeps_each_runs_equity_curve(backtest: tuple[dict[str, Any], str]) -> None:
    report, _ = backtest
    runs = report["per_run"]
    assert sorted((r["router"], r["scenario"]) for r in runs) == sorted((n, s) for n in ROUTERS for s in range(2))
    for r in runs:
        assert len(r["equity"]) == EQUITY_POINTS + 1 and r["equity"][0] == 0.0
        assert r["equity"][-1] == r["pnl"]  # the curve ends at the session's P&L
        assert len(r["rt_p50_us"]) == len(r["venue_names"]) == len(report["venues"])
        assert all(a <= b for a, b in zip(r["rt_p50_us"], r["rt_p95_us"], strict=True) if a is not None)
    pnl = [r["pnl"] for r in runs if r["router"] == ROUTERS[0]]
    assert report["routers"][ROUTERS[0]]["pnl"]["mean"] == pytest.approx(sum(pnl) / len(pnl), abs=1e-3)


def test_an_unwritable_html_path_exits_2_with_one_line_and_the_json_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    args = ["--mode", "fast", "--scenarios", "1", "--duration", "1", "--workers", "1", "--quiet",
            "--json", str(tmp_path / "bt.json"), "--html", str(tmp_path / "file" / "bt.html")]  # fmt: skip
    assert backtest_cli.backtest_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hft-console backtest: error: --html: cannot write")
    assert (tmp_path / "bt.json").is_file()


def test_a_backtest_with_failed_runs_still_writes_the_page_naming_them(
    backtest: tuple[dict[str, Any], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = dict(backtest[0])
    report["failed"] = [{"scenario": 1, "seed": 1234, "router": "lowest-fee", "strategy": "", "error": "boom"}]
    monkeypatch.setattr(backtest_cli, "run_backtest", lambda *a, **k: report)
    path = tmp_path / "bt.html"
    assert backtest_cli.backtest_main(["--mode", "fast", "--quiet", "--html", str(path)]) == 1
    page = path.read_text()
    assert "1 run(s) failed" in page and row(cells(page), "lowest-fee", "-", width=5) == [
        "lowest-fee",
        "-",
        "1",
        "1234",
        "boom",
    ]
    assert "1 run(s) failed" not in backtest[1]


def evaluation_report() -> dict[str, Any]:
    """The shape of ``evaluate --json`` (``learn.runs.evaluate``), trimmed to three routers."""

    def figures(cost: float, regret: float, p: float | None) -> dict[str, Any]:
        return {"cost_bps": cost, "cost_bps_ci95": 0.0123, "fill_rate": 0.9512, "shortfall_bps": 0.4,
                "adverse_bps": 0.0, "post_share": 0.0, "time_to_fill_ms": 0.5, "latency_us_mean": 412.3,
                "regret_bps": regret, "regret_bps_ci95": 0.0045, "cost_bps_boot95": [cost - 0.01, cost + 0.01],
                "p_vs_best_price": p, "p_vs_best_fixed": p}  # fmt: skip

    regimes = {
        regime: {
            "best-price": figures(1.2345 + k, 0.2345, None),
            "ucb": figures(1.1111 + k, 0.1111, 0.0004),
            "oracle": figures(1.0 + k, 0.0, None),
        }
        for k, regime in enumerate(("calm", "congested", "degraded"))
    }
    switch = {name: {"regret_before_bps": 0.1, "regret_after_bps": 0.3, "regret_after_bps_ci95": 0.05,
                     "regret_rise_bps": 0.2} for name in ("best-price", "ucb", "oracle")}  # fmt: skip
    return {
        "regimes": regimes, "oracle_edge_bps": {g: 0.2345 for g in regimes},
        "best_fixed": {g: "best-price" for g in regimes},
        "switch": {"venue": "IEX", "steps": 40, "switch_at": 20, "routers": switch},
        "scenarios": 4, "steps": 20, "seed": 42, "venues": ["NYSE", "NASDAQ", "IEX"], "wall_s": 12.3,
        "executor": {"kind": "local", "address": "", "nodes": 1, "cpus": 2}, "warnings": ["a warning"],
        "notes": ["ucb-window not evaluated"],
    }  # fmt: skip


def test_the_evaluation_page_plots_cost_regret_and_the_switch_with_the_jsons_numbers() -> None:
    report = evaluation_report()
    page = evaluation_html(report, "hft-console evaluate --html ev.html")
    self_contained(page)
    assert page.count("<svg") == 3  # cost per regime, regret per regime, the switch
    for regime, rows in report["regimes"].items():
        section = cells(page.split(f"<h2>{regime}</h2>")[1].split("<h2>")[0])
        for name, r in rows.items():
            figures = row(section, name, width=8)
            assert figures[1:3] == [f"{r['cost_bps']:.4f}", f"{r['cost_bps_ci95']:.4f}"]
            assert figures[6:8] == [f"{r['regret_bps']:+.4f}", f"{r['regret_bps_ci95']:.4f}"]
    assert "&lt;0.001" in page and "a warning" in page and "ucb-window not evaluated" in page
    assert "n=4" in page and "1.96 standard errors" in page and "percentile bootstrap" in page


def test_evaluate_writes_the_page_or_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hft_console.cli import learn as learn_cli
    from hft_console.learn import runs  # the evaluation itself is stood in for: its shape is what matters here

    monkeypatch.setattr(runs, "evaluate", lambda *a, **k: evaluation_report())
    assert learn_cli.evaluate_main(["--quiet", "--html", str(tmp_path / "ev.html")]) == 0
    assert (tmp_path / "ev.html").read_text().count("<svg") == 3
    (tmp_path / "file").write_text("")
    assert learn_cli.evaluate_main(["--quiet", "--html", str(tmp_path / "file" / "ev.html")]) == 2


def test_the_commands_import_matplotlib_only_for_html() -> None:
    code = "import sys, hft_console.cli.main; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_the_page_is_the_same_for_the_same_report(backtest: tuple[dict[str, Any], str]) -> None:
    report, _ = backtest
    strip = re.compile(r"written [^·]*·")  # the time it was written
    assert strip.sub("", backtest_html(report, "x")) == strip.sub("", backtest_html(report, "x"))
