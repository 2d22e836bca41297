"""``hft-console backtest`` and the short backtest a session runs before it trades."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hft_console.backtest.report import build_report, print_report
from hft_console.backtest.run import resolve_routers, run_backtest
from hft_console.market.source import DataError
from hft_console.money import money
from hft_console.settings import Settings, SettingsError, load_settings


def backtest(
    settings: Settings,
    routers: list[str],
    n_scenarios: int,
    duration_s: float,
    workers: int,
    progress: bool,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    scenarios, results, wall_s, symbols = run_backtest(
        settings, routers, n_scenarios, duration_s, workers, progress, on_progress
    )
    meta = {
        "data": settings.data.source,
        "mode": settings.session.mode,
        "seed": settings.session.seed,
        "duration_s": duration_s,  # asked for; the report's duration_s is what the runs simulated
        "symbols": symbols,
        "workers": workers or os.cpu_count() or 1,
    }
    return build_report(scenarios, results, routers, wall_s, meta)


def startup_backtest(settings: Settings, on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The session's pre-trade check: a few short scenarios of its own router on its own data (a live
    feed cannot be backtested, so a Finnhub session checks its router on synthetic data). It runs in
    this process: for a handful of short runs, starting worker processes costs more than it saves."""
    bt = settings.backtest
    if settings.data.source == "finnhub":
        settings = replace(settings, data=replace(settings.data, source="synthetic"))
    return backtest(
        settings, [settings.session.router], bt.startup_scenarios, bt.startup_duration_s, 1, False, on_progress
    )


def startup_line(report: dict[str, Any]) -> str:
    p = report["pnl"]
    return (
        f"Backtest {report['router']}: {report['scenarios']} scenarios x {report['duration_s']:g} s on "
        f"{report['data']}: P&L {money(p['mean'])} ± {money(p['ci95'], signed=False)}, "
        f"fill rate {report['fill_rate']:.1%}, cost {report['cost_bps']:.2f} bps "
        f"(misses {report['miss_cost_bps']:.2f}), "
        f"max drawdown {money(report['max_drawdown'], signed=False)}"
    )


def backtest_main(argv: list[str]) -> int:
    from hft_console.cli.main import UsageError, build_backtest_parser, write_json_report
    from hft_console.routing.registry import ROUTER_NAMES

    try:
        args = build_backtest_parser().parse_args(argv)
        flags: dict[str, Any] = {
            "session.mode": args.mode,
            "session.symbols": args.symbols,
            "session.seed": args.seed,
            "session.router": args.router,
            "data.source": args.data,
            "backtest.routers": args.routers,
            "backtest.scenarios": args.scenarios,
            "backtest.duration_s": args.duration,
            "backtest.workers": args.workers,
        }
        flags = {k: v for k, v in flags.items() if v is not None}
        if args.config:
            flags["config"] = args.config
        settings = load_settings(flags, router_names=ROUTER_NAMES)
    except (UsageError, SettingsError) as exc:
        print(f"hft-console backtest: error: {exc}", file=sys.stderr)
        return 2
    bt = settings.backtest
    routers = resolve_routers(settings, bt.routers)
    try:
        report = backtest(settings, routers, bt.scenarios, bt.duration_s, bt.workers, not args.quiet)
    except DataError as exc:
        print(f"hft-console backtest: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hft-console backtest: interrupted; no report written", file=sys.stderr)
        return 130
    if not args.quiet:
        print_report(report)
    if args.json:
        return write_json_report(Path(args.json), report, "backtest")
    return 0
