"""The backtest report: figures per router and per venue, with 95% confidence intervals across
scenarios, printed with rich and written as JSON.

Definitions (all routers meet the same scenarios):
- ``pnl``: session P&L per scenario, marked to the consolidated mid at the end; ``ci95`` is the
  half-width of the 95% interval of the mean (1.96 standard errors).
- ``sharpe``: per session: mean scenario P&L / its standard deviation (not annualised: a few
  seconds of trading say nothing about a year). ``sharpe_annualised`` scales the P&L path's
  increments, pooled over scenarios and sampled once per batch (1 s of market), to a trading
  year of 252 x 6.5 h; with sessions this short it is mostly noise and is given for comparison only.
- ``max_drawdown``: the worst peak-to-trough fall of any scenario's P&L path, $ (mean also given).
- ``fill_rate``: shares filled / shares sent.
- ``slippage_bps``: fill price against the mid when the strategy decided, per filled share, in bps of
  notional; ``shortfall_bps`` adds fees (implementation shortfall of the executed part). Positive is
  a cost.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hft_console.backtest.scenarios import REGIMES, Scenario

SECONDS_PER_TRADING_YEAR = 252 * 6.5 * 3600


def _ci95(values: np.ndarray) -> float:
    return float(1.96 * values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0


def _drawdown(path: list[float]) -> float:
    arr = np.asarray([0.0, *path])
    return float((np.maximum.accumulate(arr) - arr).max())


def _bps(cost: float, notional: float) -> float:
    return round(cost / notional * 1e4, 4) if notional > 0 else 0.0


def router_figures(runs: list[dict[str, Any]], sample_s: float) -> dict[str, Any]:
    pnl = np.array([r["pnl"] for r in runs])
    steps = np.concatenate([np.diff([0.0, *r["path"]]) for r in runs]) if runs else np.zeros(0)
    sd = steps.std(ddof=1) if steps.size > 1 else 0.0
    sharpe = float(steps.mean() / sd * math.sqrt(SECONDS_PER_TRADING_YEAR / sample_s)) if sd > 0 else 0.0
    sent = sum(sum(r["qty_sent"]) for r in runs)
    filled = sum(sum(r["qty_filled"]) for r in runs)
    price = sum(sum(r["cost_price"]) for r in runs)
    fees = sum(sum(r["cost_fees"]) for r in runs)
    notional = sum(sum(r["notional_filled"]) for r in runs)
    per_run_shortfall = np.array(
        [_bps(sum(r["cost_price"]) + sum(r["cost_fees"]), sum(r["notional_filled"])) for r in runs]
    )
    drawdowns = np.array([_drawdown(r["path"]) for r in runs])
    pnl_sd = float(pnl.std(ddof=1)) if pnl.size > 1 else 0.0
    return {
        "scenarios": len(runs),
        "pnl": {
            "mean": round(float(pnl.mean()), 4),
            "ci95": round(_ci95(pnl), 4),
            "std": round(pnl_sd, 4),
            "min": round(float(pnl.min()), 4),
            "max": round(float(pnl.max()), 4),
        },
        "sharpe": round(float(pnl.mean()) / pnl_sd, 4) if pnl_sd > 0 else 0.0,
        "sharpe_annualised": round(sharpe, 3),
        "max_drawdown": round(float(drawdowns.max()), 4),
        "max_drawdown_mean": round(float(drawdowns.mean()), 4),
        "fill_rate": round(filled / sent, 4) if sent else 0.0,
        "slippage_bps": _bps(price, notional),
        "shortfall_bps": _bps(price + fees, notional),
        "shortfall_bps_ci95": round(_ci95(per_run_shortfall), 4),
        "fees": round(fees, 4),
        "orders": sum(r["orders"] for r in runs),
        "shares_filled": filled,
        "risk_denials": sum(r["risk_denials"] for r in runs),
        "by_regime": {
            regime: round(float(np.mean([r["pnl"] for r in runs if r["regime"] == regime])), 4)
            for regime in REGIMES
            if any(r["regime"] == regime for r in runs)
        },
    }


def venue_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    names: list[str] = runs[0]["venues"] if runs else []
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        sent = sum(r["qty_sent"][i] for r in runs)
        filled = sum(r["qty_filled"][i] for r in runs)
        orders = sum(r["orders_by_venue"][i] for r in runs)
        notional = sum(r["notional_filled"][i] for r in runs)
        price = sum(r["cost_price"][i] for r in runs)
        fees = sum(r["cost_fees"][i] for r in runs)
        answered = sum(r["answered"][i] for r in runs)
        rt = sum(r["round_trip_us"][i] for r in runs)
        out[name] = {
            "orders": orders,
            "shares_sent": sent,
            "fill_rate": round(filled / sent, 4) if sent else 0.0,
            "slippage_bps": _bps(price, notional),
            "shortfall_bps": _bps(price + fees, notional),
            "fees": round(fees, 4),
            "round_trip_us_mean": round(rt / answered, 1) if answered else 0.0,
        }
    return out


def build_report(
    scenarios: list[Scenario], results: list[dict[str, Any]], routers: list[str], wall_s: float, meta: dict[str, Any]
) -> dict[str, Any]:
    """The JSON report; the top-level figures are those of the first router listed (the primary)."""
    sample_s = meta["sample_s"]
    by_router = {r: [x for x in results if x["router"] == r] for r in routers}
    tables = {r: router_figures(runs, sample_s) for r, runs in by_router.items()}
    primary = tables[routers[0]]
    events = sum(x["events"] for x in results)
    regimes = {g: sum(1 for s in scenarios if s.regime == g) for g in REGIMES}
    vols = [s.vol_mult for s in scenarios]
    return {
        "scenarios": len(scenarios),
        "runs": len(results),
        "router": routers[0],
        "events": events,
        "wall_s": round(wall_s, 3),
        "events_per_s": round(events / wall_s, 1) if wall_s > 0 else 0.0,
        "pnl": primary["pnl"],
        "sharpe": primary["sharpe"],
        "sharpe_annualised": primary["sharpe_annualised"],
        "max_drawdown": primary["max_drawdown"],
        "max_drawdown_mean": primary["max_drawdown_mean"],
        "fill_rate": primary["fill_rate"],
        "slippage_bps": primary["slippage_bps"],
        "shortfall_bps": primary["shortfall_bps"],
        "shortfall_bps_ci95": primary["shortfall_bps_ci95"],
        "venues": venue_figures(by_router[routers[0]]),
        "routers": tables,
        "scenario_mix": {"regimes": regimes, "vol_mult_min": round(min(vols), 3), "vol_mult_max": round(max(vols), 3)},
        **meta,
    }


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    mix = report["scenario_mix"]["regimes"]
    console.print(
        f"[bold]backtest[/] {report['scenarios']} scenarios x {len(report['routers'])} router(s) on "
        f"{report['data']} · {report['duration_s']:g} s each · regimes "
        + ", ".join(f"{k} {v}" for k, v in mix.items())
        + f" · {report['events']:,} events in {report['wall_s']:.1f} s ({report['events_per_s']:,.0f}/s)"
    )
    routers = Table(title="routers (same scenarios for each)", title_justify="left")
    routers.add_column("router", no_wrap=True, min_width=14)
    for col in ("P&L mean", "± 95%", "Sharpe/run", "max DD", "fill rate", "slip bps", "IS bps"):
        routers.add_column(col, justify="right")
    for name, f in report["routers"].items():
        routers.add_row(
            name, f"{f['pnl']['mean']:,.2f}", f"{f['pnl']['ci95']:,.2f}", f"{f['sharpe']:,.2f}",
            f"{f['max_drawdown']:,.2f}", f"{f['fill_rate']:.1%}", f"{f['slippage_bps']:.3f}",
            f"{f['shortfall_bps']:.3f}",
        )  # fmt: skip
    console.print(routers)
    venues = Table(title=f"venues ({report['router']})", title_justify="left")
    for col in ("venue", "orders", "fill rate", "slip bps", "IS bps", "fees", "round trip µs"):
        venues.add_column(col, justify="left" if col == "venue" else "right")
    for name, f in report["venues"].items():
        venues.add_row(
            name, f"{f['orders']:,}", f"{f['fill_rate']:.1%}", f"{f['slippage_bps']:.3f}", f"{f['shortfall_bps']:.3f}",
            f"{f['fees']:,.2f}", f"{f['round_trip_us_mean']:,.0f}",
        )  # fmt: skip
    console.print(venues)
