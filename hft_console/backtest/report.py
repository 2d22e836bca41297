"""The backtest report: figures per router and per venue, with 95% confidence intervals across
scenarios, printed with rich and written as JSON.

Definitions (all routers meet the same scenarios):
- ``pnl``: session P&L per scenario, marked to the consolidated mid at the end; ``ci95`` is the
  half-width of the 95% interval of the mean (1.96 standard errors).
- ``sharpe``: per session: mean scenario P&L / its standard deviation (not annualised: a few
  seconds of trading say nothing about a year, so no annualised figure is given).
- ``max_drawdown``: the worst peak-to-trough fall of any scenario's P&L path, $ (mean also given).
- ``fill_rate``: shares filled / shares sent.
- ``shortfall_bps``: implementation shortfall of the executed part: fill price against the mid when
  the strategy decided, plus fees, per filled share, in bps of the filled notional at that mid.
  ``slippage_bps`` is its price part. A child order is a limit at the touch, so a fill is at the
  touch or better: the price part is about half the quoted spread whichever router sends it, and
  every difference between routers lies in what does not fill.
- ``miss_cost_bps``: the unfilled shares, priced as the routers learn them and as ``evaluate`` prices
  them (``miss_penalty_ticks`` ticks a share: re-sent after the quote moved, paying spread and fee
  again), in bps of the notional sent.
- ``cost_bps``: executed shortfall plus misses, in bps of the notional sent (shares sent x decision
  mid): ``evaluate``'s ``cost_bps``, and the figure to rank routers by. ``cost_bps =
  shortfall_bps x filled/sent notional + miss_cost_bps``. A router that fills less sends its
  strategy fewer trades, so its P&L can look better while its cost is worse.
Positive is a cost. ``duration_s`` is the market time each scenario simulated: a replay shorter
than the configured duration (``duration_s_requested``) ends early.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hft_console.backtest.scenarios import Scenario
from hft_console.money import amount
from hft_console.routing.bandits import BANDIT_NAMES, DEFAULT_CONFIG, same_as
from hft_console.venues.regimes import REGIMES


def _ci95(values: np.ndarray) -> float:
    return float(1.96 * values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0


def drawdown(path: list[float]) -> float:
    """The worst peak-to-trough fall of a P&L path ($ per step), counted from a start at zero; >= 0."""
    arr = np.asarray([0.0, *path])
    return float((np.maximum.accumulate(arr) - arr).max())


def _bps(cost: float, notional: float) -> float:
    return round(cost / notional * 1e4, 4) if notional > 0 else 0.0


def _costs(runs: list[dict[str, Any]], venue: int | None = None) -> dict[str, float]:
    """$ sums over runs, of one venue or all: price cost, fees, misses, filled and sent notional."""

    def total(key: str) -> float:
        return float(sum(r[key][venue] if venue is not None else sum(r[key]) for r in runs))

    return {k: total(k) for k in ("cost_price", "cost_fees", "cost_missed", "notional_filled", "notional_sent")}


def cost_figures(runs: list[dict[str, Any]], venue: int | None = None) -> dict[str, float]:
    """``slippage_bps``, ``shortfall_bps`` (per filled notional), ``miss_cost_bps`` and ``cost_bps``
    (per sent notional), in bps; positive is a cost."""
    c = _costs(runs, venue)
    executed = c["cost_price"] + c["cost_fees"]
    return {
        "slippage_bps": _bps(c["cost_price"], c["notional_filled"]),
        "shortfall_bps": _bps(executed, c["notional_filled"]),
        "miss_cost_bps": _bps(c["cost_missed"], c["notional_sent"]),
        "cost_bps": _bps(executed + c["cost_missed"], c["notional_sent"]),
    }


def router_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    pnl = np.array([r["pnl"] for r in runs])
    sent = sum(sum(r["qty_sent"]) for r in runs)
    filled = sum(sum(r["qty_filled"]) for r in runs)
    fees = sum(sum(r["cost_fees"]) for r in runs)
    # a run that filled (sent) nothing has no shortfall (cost) to average, rather than one of 0
    filled_runs = [cost_figures([r]) for r in runs if sum(r["qty_filled"])]
    sent_runs = [cost_figures([r]) for r in runs if sum(r["qty_sent"])]
    drawdowns = np.array([drawdown(r["path"]) for r in runs])
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
        "max_drawdown": round(float(drawdowns.max()), 4),
        "max_drawdown_mean": round(float(drawdowns.mean()), 4),
        "fill_rate": round(filled / sent, 4) if sent else 0.0,
        **cost_figures(runs),
        "shortfall_bps_ci95": round(_ci95(np.array([f["shortfall_bps"] for f in filled_runs])), 4),
        "cost_bps_ci95": round(_ci95(np.array([f["cost_bps"] for f in sent_runs])), 4),
        "fees": round(fees, 4),
        "orders": sum(r["orders"] for r in runs),
        "shares_sent": sent,
        "shares_filled": filled,
        "risk_denials": sum(r["risk_denials"] for r in runs),
        "by_regime": {
            regime: round(float(np.mean([r["pnl"] for r in runs if r["regime"] == regime])), 4)
            for regime in REGIMES
            if any(r["regime"] == regime for r in runs)
        },
    }


def strategy_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``router_figures`` plus what resting orders did: maker fills, the share of resting orders filled
    whole, taker fees and maker rebates ($, summed over scenarios) and adverse selection (bps, the mid's
    move against us one second after a maker fill, size-weighted over every scenario)."""
    passive_orders = sum(r.get("passive_orders", 0) for r in runs)
    adverse_qty = sum(r.get("adverse_qty", 0) for r in runs)
    return {
        **router_figures(runs),
        "fees_taker": round(sum(r.get("fees_taker", 0.0) for r in runs), 4),
        "rebates_maker": round(sum(r.get("rebates_maker", 0.0) for r in runs), 4),
        "passive": {
            "orders": passive_orders,
            "fills": sum(r.get("passive_fills", 0) for r in runs),
            "fill_rate": round(sum(r.get("passive_filled_orders", 0) for r in runs) / passive_orders, 4)
            if passive_orders
            else 0.0,
            "adverse_selection_bps": round(sum(r.get("adverse_bps_qty", 0.0) for r in runs) / adverse_qty, 3)
            if adverse_qty
            else 0.0,
        },
    }


def venue_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    names: list[str] = runs[0]["venues"] if runs else []
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        sent = sum(r["qty_sent"][i] for r in runs)
        filled = sum(r["qty_filled"][i] for r in runs)
        answered = sum(r["answered"][i] for r in runs)
        rt = sum(r["round_trip_us"][i] for r in runs)
        out[name] = {
            "orders": sum(r["orders_by_venue"][i] for r in runs),
            "shares_sent": sent,
            "fill_rate": round(filled / sent, 4) if sent else 0.0,
            **cost_figures(runs, i),
            "fees": round(sum(r["cost_fees"][i] for r in runs), 4),
            "round_trip_us_mean": round(rt / answered, 1) if answered else 0.0,
        }
    return out


def build_report(
    scenarios: list[Scenario], results: list[dict[str, Any]], routers: list[str], wall_s: float, meta: dict[str, Any],
    strategies: list[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The JSON report; the top-level figures are those of the first router listed (the primary) with
    the first strategy. ``strategies``: every strategy with the primary router, the same scenarios
    (empty name: the session's). ``duration_s`` is the market time a run simulated (the mean over runs;
    a replay ends early), ``meta["duration_s"]`` what was asked for."""
    strategies = strategies or [""]
    first = strategies[0]
    by_router = {r: [x for x in results if x["router"] == r and x.get("strategy", "") == first] for r in routers}
    by_strategy = {
        st: [x for x in results if x["router"] == routers[0] and x.get("strategy", "") == st] for st in strategies
    }
    tables = {r: router_figures(runs) for r, runs in by_router.items()}
    primary = tables[routers[0]]
    events = sum(x["events"] for x in results)
    regimes = {g: sum(1 for s in scenarios if s.regime == g) for g in REGIMES}
    vols = [s.vol_mult for s in scenarios]
    simulated = float(np.mean([x["duration_s"] for x in results])) if results else 0.0
    notes = [note for r, runs in by_router.items() if (note := _twin_note(r, runs))]
    return {
        "scenarios": len(scenarios),
        "runs": len(results),
        "router": routers[0],
        "events": events,
        "wall_s": round(wall_s, 3),
        "events_per_s": round(events / wall_s, 1) if wall_s > 0 else 0.0,
        **{key: primary[key] for key in _HEADLINE},
        "venues": venue_figures(by_router[routers[0]]),
        "routers": tables,
        "strategies": {st or "session": strategy_figures(runs) for st, runs in by_strategy.items()},
        "scenario_mix": {"regimes": regimes, "vol_mult_min": round(min(vols), 3), "vol_mult_max": round(max(vols), 3)},
        **meta,
        "duration_s": round(simulated, 6),
        "duration_s_requested": meta["duration_s"],
        "notes": notes,
        "data_quality": results[0]["data_quality"] if results else {},  # as summary.json's
        "data_stats": results[0].get("data_stats", {}) if results else {},  # summary.json's ``data``
        "per_run": run_rows(results),
    }


def run_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's own figures, for the plots of ``--html``: router, strategy, scenario, regime, ``pnl``
    ($), ``duration_s`` (market seconds simulated), ``equity`` (P&L, $, at k/N of the session, k = 0..N:
    ``run.EQUITY_POINTS``), and per venue in ``venue_names`` order ``qty_sent``, ``qty_filled`` (shares)
    and ``rt_p50_us``/``rt_p95_us`` (the run's round-trip percentiles, µs, timeouts excluded; None: no
    answer)."""
    keys = ("qty_sent", "qty_filled", "rt_p50_us", "rt_p95_us")
    return [
        {"router": r["router"], "strategy": r.get("strategy", ""), "scenario": r["scenario"], "regime": r["regime"],
         "pnl": round(r["pnl"], 4), "duration_s": round(r["duration_s"], 6), "equity": r.get("equity", []),
         "venue_names": r["venues"], **{k: r.get(k, []) for k in keys}}
        for r in results
    ]  # fmt: skip


def _twin_note(router: str, runs: list[dict[str, Any]]) -> str | None:
    """Says so when a router's runs were too short for it to differ from another (ucb-window before
    its window fills): its row is that router's, not evidence about its own rule."""
    if router not in BANDIT_NAMES:
        return None
    most = max((sum(r["answered"]) for r in runs), default=0)
    twin = same_as(router, most)
    if twin is None:
        return None
    return (
        f"{router} decided exactly as {twin}: no run filled its {DEFAULT_CONFIG.window}-update window "
        f"(at most {most} answers in a run); longer runs (--duration) tell them apart"
    )


_HEADLINE = (
    "pnl", "sharpe", "max_drawdown", "max_drawdown_mean", "fill_rate", "slippage_bps", "shortfall_bps",
    "shortfall_bps_ci95", "miss_cost_bps", "cost_bps", "cost_bps_ci95",
)  # fmt: skip


def print_report(report: dict[str, Any], console: Any = None) -> None:
    """Tables that fit 80 columns with nothing cut: P&L per router, execution cost per router (cheapest
    first, as ``evaluate`` ranks), the primary router's venues, and the strategies when several ran."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    mix = report["scenario_mix"]["regimes"]
    asked = report.get("duration_s_requested", report["duration_s"])
    length = f"{report['duration_s']:g} s each" + (
        f" (the data ends there; {asked:g} s asked)" if report["duration_s"] < asked else ""
    )
    console.print(
        f"[bold]backtest[/] {report['scenarios']} scenarios x {len(report['routers'])} router(s) on "
        f"{report['data']} · {length} · regimes "
        + ", ".join(f"{k} {v}" for k, v in mix.items())
        + f" · {report['events']:,} events in {report['wall_s']:.1f} s ({report['events_per_s']:,.0f}/s)"
    )
    where = report.get("executor")
    if where and where["kind"] != "local":
        console.print(f"on {where['kind']} at {where['address']}: {where['nodes']} node(s), {where['cpus']} CPUs")
    if report.get("failed"):
        console.print(
            f"[bold red]{len(report['failed'])} run(s) failed[/]; the figures are over the {report['runs']} "
            "that finished"
        )

    def table(title: str, columns: tuple[str, ...], caption: str | None = None) -> Table:
        t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
        for i, col in enumerate(columns):  # fold, never "…": a figure is printed whole or on two lines
            t.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
        return t

    pnl = table("P&L per scenario, $ (same scenarios for all)", ("router", "P&L\nmean", "± 95%", "Sharpe", "max DD"),
                "P&L is the strategy's too: a router that fills less trades less. Rank routers by cost.")  # fmt: skip
    for name, f in report["routers"].items():
        pnl.add_row(
            name, amount(f["pnl"]["mean"]), amount(f["pnl"]["ci95"]), f"{f['sharpe']:,.2f}",
            amount(f["max_drawdown"]),
        )  # fmt: skip
    console.print(pnl)
    costs = table(
        "execution cost per share sent, cheapest first",
        ("router", "fill\nrate", "IS\nbps", "miss\nbps", "cost\nbps", "± 95%"),
        "IS: shortfall of the filled shares; miss: the unfilled ones as evaluate prices them; cost: both",
    )
    for name, f in sorted(report["routers"].items(), key=lambda kv: kv[1]["cost_bps"]):
        costs.add_row(
            name, f"{f['fill_rate']:.1%}", f"{f['shortfall_bps']:.3f}", f"{f['miss_cost_bps']:.3f}",
            f"{f['cost_bps']:.3f}", f"{f['cost_bps_ci95']:.3f}",
        )  # fmt: skip
    console.print(costs)
    # headers on two lines: one-line headers would make rich narrow the figures rather than the headers
    columns = ("venue", "orders", "fill\nrate", "IS\nbps", "miss\nbps", "cost\nbps", "fees $", "round\ntrip µs")
    venues = table(f"venues ({report['router']})", columns)
    for name, f in report["venues"].items():
        if not f["shares_sent"]:  # no orders: no rate and no cost, rather than a 0 that reads as free
            venues.add_row(name, f"{f['orders']:,}", *["-"] * 6)
            continue
        venues.add_row(
            name, f"{f['orders']:,}", f"{f['fill_rate']:.1%}", f"{f['shortfall_bps']:.3f}", f"{f['miss_cost_bps']:.3f}",
            f"{f['cost_bps']:.3f}", amount(f["fees"]), f"{f['round_trip_us_mean']:,.0f}",
        )  # fmt: skip
    console.print(venues)
    if len(report.get("strategies", {})) > 1:
        strategies = table(
            f"strategies with {report['router']}, same scenarios",
            ("strategy", "P&L\nmean", "± 95%", "Sharpe", "maker\nfills", "rebates\n$", "adverse\nbps"),
            "adverse: the mid's move against us 1 s after a maker fill (size-weighted)",
        )
        for name, f in report["strategies"].items():
            passive = f["passive"]
            strategies.add_row(
                name, amount(f["pnl"]["mean"]), amount(f["pnl"]["ci95"]), f"{f['sharpe']:,.2f}",
                f"{passive['fills']:,}", amount(f["rebates_maker"]), f"{passive['adverse_selection_bps']:.3f}",
            )  # fmt: skip
        console.print(strategies)
    for note in report.get("notes", []):
        console.print(f"note: {note}")
