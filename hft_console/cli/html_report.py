"""``--html PATH`` of ``backtest`` and ``evaluate``: the JSON report as one self-contained HTML page
(inline CSS and SVG plots; no script, no network, nothing to load), to look at rather than read.

Every figure in it comes from the report the JSON holds; the tables print the JSON's numbers as the
terminal report does. Imported only when ``--html`` is given (it imports matplotlib).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hft_console.cli import html_plots as plots
from hft_console.cli.args import fail
from hft_console.money import amount

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.meta{color:#555;font-size:.85rem}code{background:#f4f4f4;padding:.1rem .3rem;word-break:break-all}
.failed{border:2px solid #D55E00;background:#fff4ec;padding:.5rem 1rem}
figure{margin:1rem 0}figcaption{font-size:.8rem;color:#555;max-width:900px}svg{max-width:100%;height:auto}
"""


def write_html_report(path: Path, text: str, command: str) -> int:
    """The page written whole or not at all (a temporary file, then renamed). Exit status: 0, or 2 with
    one line when the path cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        return fail(f"--html: cannot write {str(path)!r}: {exc.strerror}", command)
    return 0


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _page(title: str, command_line: str, sections: list[str]) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
        f'<p class="meta">written {stamp} · <code>{_e(command_line)}</code></p>'
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _failed(failed: list[dict[str, Any]], finished: int) -> str:
    if not failed:
        return ""
    rows = [(f["router"], f.get("strategy") or "-", f["scenario"], f["seed"], f["error"]) for f in failed]
    return (
        f'<div class="failed"><b>{len(failed)} run(s) failed</b>: every figure below is over the {finished} '
        "that finished." + _table(("router", "strategy", "scenario", "seed", "error"), rows) + "</div>"
    )


def _pct(x: float) -> str:
    return f"{x:.1%}"


def backtest_html(report: dict[str, Any], command_line: str) -> str:
    """The page for a ``backtest`` report (``backtest.run.run_backtest``'s, ``per_run`` included):
    parameters, per-router figures, the P&L distribution, the equity curves, fill rate against latency
    per venue and, when several ran, the strategies."""
    routers = list(report["routers"])
    first = next(iter(report.get("strategies") or {"session": None}))
    first = "" if first == "session" else first
    runs = [r for r in report.get("per_run", []) if r.get("strategy", "") == first and r["router"] in routers]
    sections = [_failed(report.get("failed", []), report["runs"]), _backtest_parameters(report, routers)]
    sections.append("<h2>Figures per router</h2>" + _table(
        ("router", "n", "P&L mean $", "± 95% $", "sd $", "min $", "max $", "Sharpe", "max DD $", "fill rate",
         "IS bps", "miss bps", "cost bps", "± 95% bps"),
        [(name, f["scenarios"], amount(f["pnl"]["mean"]), amount(f["pnl"]["ci95"]), amount(f["pnl"]["std"]),
          amount(f["pnl"]["min"]), amount(f["pnl"]["max"]), f"{f['sharpe']:,.2f}", amount(f["max_drawdown"]),
          _pct(f["fill_rate"]), f"{f['shortfall_bps']:.3f}", f"{f['miss_cost_bps']:.3f}", f"{f['cost_bps']:.3f}",
          f"{f['cost_bps_ci95']:.3f}") for name, f in report["routers"].items()],
    ) + "<p class=\"meta\">n: scenarios that finished. ± 95%: " + _e(plots.CI_METHOD) + ". Sharpe: mean / sd of the "
        "session P&L, not annualised. IS: shortfall of the filled shares; miss: the unfilled ones; cost: both, "
        "per notional sent (rank routers by cost: a router that fills less trades less).</p>")  # fmt: skip
    if runs:
        by_router = {name: [r for r in runs if r["router"] == name] for name in routers}
        by_router = {k: v for k, v in by_router.items() if v}
        ci = {k: report["routers"][k]["pnl"]["ci95"] for k in by_router}
        sections.append("<h2>P&amp;L distribution</h2>" + _figure(
            plots.pnl_distribution({k: [r["pnl"] for r in v] for k, v in by_router.items()}, ci),
            f"Each dot is one scenario's session P&L ($). Box: quartiles, whiskers to 1.5 IQR. Diamond: mean with "
            f"its {plots.CI_METHOD}. All routers meet the same scenarios.",
        ))  # fmt: skip
        curves = {k: [(r["duration_s"], r["equity"]) for r in v if r["equity"]] for k, v in by_router.items()}
        curves = {k: v for k, v in curves.items() if v}
        if curves:
            sections.append("<h2>Equity curves</h2>" + _figure(
                plots.equity_curves(curves),
                "P&L ($) over the session's market time, sampled at evenly spaced points (each at the end of the first "
                "engine batch at or after it); the last point is the session's end, once every order in flight was "
                "answered. Thick: the median across scenarios at each point.",
            ))  # fmt: skip
        sections.append(_venue_section(runs, routers))
    sections.append(_strategies(report))
    notes = report.get("notes", [])
    if notes:
        sections.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return _page("hft-console backtest report", command_line, sections)


def _backtest_parameters(report: dict[str, Any], routers: list[str]) -> str:
    mix = report["scenario_mix"]
    asked, ran = report.get("duration_s_requested", report["duration_s"]), report["duration_s"]
    where = report.get("executor") or {}
    rows = [
        ("routers", ", ".join(routers)),
        ("strategies", ", ".join(report.get("strategies", {})) or "session"),
        ("scenarios per router", report["scenarios"]),
        ("runs finished / failed", f"{report['runs']} / {len(report.get('failed', []))}"),
        ("seed", report.get("seed", "")),
        ("data", report.get("data", "")),
        ("mode", report.get("mode", "")),
        ("symbols", ", ".join(report.get("symbols", []))),
        ("market seconds per scenario", f"{ran:g}" + (f" (the data ends there; {asked:g} asked)" * (ran < asked))),
        ("regimes", ", ".join(f"{k} {v}" for k, v in mix["regimes"].items())),
        ("volatility multiplier", f"{mix['vol_mult_min']:g} to {mix['vol_mult_max']:g}"),
        ("events", f"{report['events']:,}"),
        ("primary router", report["router"]),
        ("wall time (this machine)", f"{report['wall_s']:.1f} s on {where.get('kind', 'local')}, "
                                     f"{report.get('workers', '?')} worker(s): {report['events_per_s']:,.0f} events/s"),
    ]  # fmt: skip
    return "<h2>Parameters</h2>" + _table(("parameter", "value"), rows)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _venue_section(runs: list[dict[str, Any]], routers: list[str]) -> str:
    """Per (router, venue): shares sent and filled pooled over scenarios, the medians across scenarios of
    each run's round-trip p50 and p95; plotted where the venue answered at least once."""
    venues: list[str] = list(runs[0].get("venue_names", []))
    points, rows = [], []
    for router in routers:
        mine = [r for r in runs if r["router"] == router]
        for i, venue in enumerate(venues):
            sent = sum(r["qty_sent"][i] for r in mine if r["qty_sent"])
            filled = sum(r["qty_filled"][i] for r in mine if r["qty_filled"])
            p50 = [r["rt_p50_us"][i] for r in mine if r["rt_p50_us"] and r["rt_p50_us"][i] is not None]
            p95 = [r["rt_p95_us"][i] for r in mine if r["rt_p95_us"] and r["rt_p95_us"][i] is not None]
            if not sent:
                rows.append((router, venue, "0", "-", "-", "-", 0))
                continue
            rate = filled / sent
            rows.append((router, venue, f"{sent:,}", _pct(rate), f"{_median(p50):,.0f}" if p50 else "-",
                         f"{_median(p95):,.0f}" if p95 else "-", len(p50)))  # fmt: skip
            if p50:
                points.append({"router": router, "venue": venue, "fill_rate": rate, "p50": _median(p50),
                               "p95": _median(p95)})  # fmt: skip
    table = _table(("router", "venue", "shares sent", "fill rate", "round trip p50 µs", "p95 µs", "runs answered"),
                   rows)  # fmt: skip
    if not points:
        return "<h2>Venues</h2><p>No venue answered an order: nothing to plot.</p>" + table
    return (
        "<h2>Fill rate against latency, per venue</h2>"
        + _figure(
            plots.fill_vs_latency(points, venues, routers),
            "Fill rate: shares filled / shares sent, pooled over scenarios. Round trip: order sent to the venue's "
            "answer, µs, timeouts excluded; each run's p50 and p95 (linear interpolation), then the median of those "
            "across the runs that had an answer (n in the table). A venue a router sent nothing to is not plotted.",
        )
        + table
    )


def _strategies(report: dict[str, Any]) -> str:
    table = report.get("strategies", {})
    if len(table) < 2:
        return ""
    rows = [
        (name, f["scenarios"], amount(f["pnl"]["mean"]), amount(f["pnl"]["ci95"]), f"{f['sharpe']:,.2f}",
         f"{f['passive']['fills']:,}", amount(f["rebates_maker"]), f"{f['passive']['adverse_selection_bps']:.3f}")
        for name, f in table.items()
    ]  # fmt: skip
    return f"<h2>Strategies with {_e(report['router'])}, same scenarios</h2>" + _table(
        ("strategy", "n", "P&L mean $", "± 95% $", "Sharpe", "maker fills", "rebates $", "adverse bps"), rows
    )


def evaluation_html(report: dict[str, Any], command_line: str) -> str:
    """The page for an ``evaluate`` report (``learn.runs.evaluate``'s): parameters, cost per decision
    with its interval per regime and router, regret against the oracle, the regime switch, and a table
    per regime."""
    regimes = report["regimes"]
    names = sorted(
        {n for rows in regimes.values() for n in rows},
        key=lambda n: statistics.fmean(rows[n]["cost_bps"] for rows in regimes.values() if n in rows),
    )
    n = report["scenarios"]
    best_fixed = report.get("best_fixed", {})
    sections = [_evaluation_parameters(report)]
    cost = {g: {k: (r["cost_bps"], r["cost_bps_ci95"]) for k, r in rows.items()} for g, rows in regimes.items()}
    sections.append("<h2>Cost per decision</h2>" + _figure(
        plots.interval_panels(cost, names, "cost per decision, bps", f"cost per regime and router (n={n} scenarios "
                              "per regime, the same worlds for every router)", best_fixed),
        f"Cost: the parent order's cost per decision, bps (positive is a cost). Bars: {plots.CI_METHOD} (n={n} "
        "per regime). Orange: the best fixed rule in that regime; black: the oracle, which sees every venue's "
        "future. Routers ordered by their mean cost over the regimes.",
    ))  # fmt: skip
    if any("regret_bps" in r for rows in regimes.values() for r in rows.values()):
        regret = {g: {k: (r["regret_bps"], r.get("regret_bps_ci95", 0.0)) for k, r in rows.items()
                      if k != "oracle" and "regret_bps" in r} for g, rows in regimes.items()}  # fmt: skip
        sections.append("<h2>Regret against the oracle</h2>" + _figure(
            plots.interval_panels(regret, [k for k in names if k != "oracle"], "regret per decision, bps",
                                  f"regret per regime and router (n={n} scenarios per regime)", best_fixed),
            "Regret: the router's cost minus the oracle's on the same scenario, bps, averaged over scenarios "
            f"(paired). Bars: {plots.CI_METHOD} of the paired differences.",
        ))  # fmt: skip
    switch = report.get("switch")
    if switch and switch.get("routers"):
        order = sorted(switch["routers"], key=lambda k: switch["routers"][k]["regret_after_bps"])
        sections.append("<h2>Regime switch</h2>" + _figure(
            plots.switch_regret(switch["routers"], order),
            f"{switch['venue']} degrades at decision {switch['switch_at']} of {switch['steps']} (n={n} scenarios). "
            f"Regret per decision against the oracle, bps, before and after; after: {plots.CI_METHOD}.",
        ))  # fmt: skip
    for regime, rows in regimes.items():
        sections.append(f"<h2>{_e(regime)}</h2>" + _evaluation_table(rows, best_fixed.get(regime, "")))
    for title, items in (("Notes", report.get("notes", [])), ("Warnings", report.get("warnings", []))):
        if items:
            sections.append(f"<h2>{title}</h2><ul>" + "".join(f"<li>{_e(x)}</li>" for x in items) + "</ul>")
    return _page("hft-console evaluation report", command_line, sections)


def _evaluation_parameters(report: dict[str, Any]) -> str:
    where = report.get("executor") or {}
    edge = report.get("oracle_edge_bps", {})
    rows = [
        ("scenarios per regime", report["scenarios"]),
        ("decisions per scenario", report["steps"]),
        ("seed", report.get("seed", "")),
        ("venues", ", ".join(report.get("venues", []))),
        ("regimes", ", ".join(report["regimes"])),
        ("best fixed rule", ", ".join(f"{g}: {r}" for g, r in report.get("best_fixed", {}).items())),
        ("oracle's edge over best-price, bps", ", ".join(f"{g}: {v:.4f}" for g, v in edge.items())),
        ("wall time (this machine)", f"{report.get('wall_s', 0.0):.1f} s on {where.get('kind', 'local')}"),
    ]
    return "<h2>Parameters</h2>" + _table(("parameter", "value"), rows)


def _evaluation_table(rows: dict[str, dict[str, Any]], fixed: str) -> str:
    def p(value: float | None) -> str:
        return "—" if value is None else "<0.001" if value < 0.001 else f"{value:.3f}"

    body = []
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["cost_bps"]):
        boot = r.get("cost_bps_boot95")
        body.append((
            name, f"{r['cost_bps']:.4f}", f"{r['cost_bps_ci95']:.4f}",
            f"{boot[0]:.4f} to {boot[1]:.4f}" if boot else "-", _pct(r["fill_rate"]),
            f"{r.get('post_share', 0.0):.0%}", f"{r.get('regret_bps', 0.0):+.4f}",
            f"{r.get('regret_bps_ci95', 0.0):.4f}", f"{r.get('latency_us_mean', 0.0):,.0f}",
            p(r.get("p_vs_best_fixed")),
        ))  # fmt: skip
    return _table(
        ("router", "cost bps", "± 95%", "bootstrap 95%", "fill rate", "posted", "regret bps", "± 95%",
         "round trip µs", "p vs fixed"), body,
    ) + (f'<p class="meta">± 95%: {_e(plots.CI_METHOD)}. Bootstrap 95%: percentile bootstrap of the mean. p: '
         f"one-sided paired Wilcoxon against {_e(fixed)}, the best fixed rule here, BH-adjusted.</p>")  # fmt: skip
