"""``hft-console backtest``: Monte Carlo scenarios per router on the engine, a report on stdout and
optionally as JSON and as an HTML page with plots. Exit status: 0; 1 when some runs raised (the report,
over the runs that finished, names them in ``failed``; --json and --html are written all the same); 2 for
bad input, an unwritable --json or --html path or an executor that cannot start
(Ray missing, a cluster that does not answer); a data source's own code when it fails
(``DataError.exit_code``); 130 when interrupted (every run still queued is cancelled first)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from hft_console.backtest.report import print_report
from hft_console.backtest.run import RunsFailed, resolve_routers, resolve_strategies, run_backtest
from hft_console.cli.args import (
    COMPUTE_KEYS,
    Parser,
    UsageError,
    add_compute_flags,
    add_data_flags,
    count,
    fail,
    positive_seconds,
    settings_from,
    whole_number,
    write_json_report,
)
from hft_console.compute.executor import ExecutorError
from hft_console.market.source import DataError
from hft_console.settings import MODES, SettingsError

COMMAND = "backtest"
# settings key -> the argument that sets it
KEYS = {
    "session.mode": "mode",
    "session.symbols": "symbols",
    "session.seed": "seed",
    "session.router": "router",
    "data.source": "data",
    "backtest.routers": "routers",
    "backtest.strategies": "strategies",
    "backtest.scenarios": "scenarios",
    "backtest.duration_s": "duration",
    "backtest.workers": "workers",
    **COMPUTE_KEYS,
}


def build_parser() -> Parser:
    """The backtest's flags; every one left unset defaults to the configured settings."""
    p = Parser(
        prog="hft-console backtest",
        description="Monte Carlo backtest: the engine on the simulated clock over N scenarios per router.",
    )
    p.add_argument("--mode", choices=MODES, help="trading mode; picks config/<mode>.toml")
    p.add_argument("--config", metavar="PATH", help="config file (default: config/<mode>.toml)")
    add_data_flags(p)
    p.add_argument("--routers", metavar="LIST", help="comma-separated routers to compare, or 'all' (default: --router)")
    p.add_argument("--router", metavar="NAME", help="the session router (used when --routers is not given)")
    p.add_argument(
        "--strategies", metavar="LIST",
        help="strategies to compare with the first router: imbalance, imbalance-post, imbalance-peg, market-maker",
    )  # fmt: skip
    p.add_argument("--scenarios", type=count, metavar="N", help="Monte Carlo scenarios (default: backtest.scenarios)")
    p.add_argument("--duration", type=positive_seconds, metavar="S", help="market seconds per scenario")
    p.add_argument("--symbols", metavar="LIST", help="comma-separated symbols")
    p.add_argument("--seed", type=whole_number, metavar="N", help="base seed; scenario seeds derive from it")
    p.add_argument(
        "--workers", type=whole_number, metavar="N",
        help="processes, or CPUs asked of Ray (default: one per CPU core; the cluster's with --executor ray)",
    )  # fmt: skip
    add_compute_flags(p)
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON here")
    p.add_argument("--html", metavar="PATH", help="also write the report as one self-contained HTML page with plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no tables")
    return p


def backtest_main(argv: list[str]) -> int:
    """``hft-console backtest ARGV``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        settings = settings_from(args, KEYS)
    except (UsageError, SettingsError) as exc:
        return fail(exc, COMMAND)
    bt = settings.backtest
    routers = resolve_routers(settings, bt.routers)
    try:
        strategies = resolve_strategies(settings, bt.strategies)
    except ValueError as exc:
        return fail(UsageError(str(exc)), COMMAND)
    try:
        report = run_backtest(
            settings, routers, bt.scenarios, bt.duration_s, bt.workers, not args.quiet, strategies=strategies,
            executor=settings.compute.executor, address=settings.compute.address,
        )  # fmt: skip
    except DataError as exc:
        return fail(exc, COMMAND, exc.exit_code)
    except ExecutorError as exc:
        return fail(exc, COMMAND)
    except RunsFailed as exc:
        _print_failures(exc.failed)
        return fail(f"{exc}; no report written", COMMAND, 1)
    except KeyboardInterrupt:
        print("hft-console backtest: interrupted; no report written", file=sys.stderr)
        return 130
    if not args.quiet:
        print_report(report)
    _print_failures(report["failed"])
    status = 1 if report["failed"] else 0
    written = write_json_report(Path(args.json), report, COMMAND) if args.json else 0
    if args.html:
        from hft_console.cli.html_report import backtest_html, write_html_report  # imports matplotlib

        page = backtest_html(report, shlex.join(["hft-console", COMMAND, *argv]))
        written = write_html_report(Path(args.html), page, COMMAND) or written
    return written or status


def _print_failures(failed: list[dict[str, object]]) -> None:
    for f in failed:
        print(
            f"hft-console backtest: scenario {f['scenario']} (seed {f['seed']}, {f['router']}) failed: {f['error']}",
            file=sys.stderr,
        )
