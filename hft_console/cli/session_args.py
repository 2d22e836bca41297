"""The session's command line: its flags (``build_parser``), the settings each one sets (``KEYS``) and
the run directory it resolves (``resolve_run_dir``); shared by ``hft-console`` itself (main.py) and
``hft-console serve`` (serve.py), which checks a tab's flags before serving."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hft_console import __version__
from hft_console.cli.args import (
    Parser,
    UsageError,
    add_data_flags,
    positive_seconds,
    whole_number,
)
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import (
    CLOCKS,
    INFERENCE_BACKENDS,
    LOG_LEVELS,
    MODES,
    POSTING_RULES,
    STRATEGIES,
    THEMES,
)

# settings key -> the argument that sets it
KEYS = {
    "session.mode": "mode",
    "session.duration_s": "duration",
    "session.symbols": "symbols",
    "session.log_level": "log_level",
    "session.skip_backtest": "skip_backtest",
    "session.seed": "seed",
    "session.router": "router",
    "session.clock": "clock",
    "session.run_dir": "run_dir",
    "data.source": "data",
    "data.record": "record",
    "session.inference": "inference",
    "session.online_learning": "online_learning",
    "session.post_router": "post_router",
    "session.theme": "theme",
    "strategy.name": "strategy",
}


def build_parser() -> Parser:
    """The session's flags; every one left unset defaults to the configured settings."""
    p = Parser(
        prog="hft-console",
        description=(
            "Operator console and headless engine for a simulated multi-venue HFT desk.\n\n"
            "commands (each has its own --help, e.g. hft-console backtest --help):\n"
            "  hft-console [options]     a trading session (console, or --no-ui)\n"
            "  hft-console backtest ...  Monte Carlo backtest of routers on the engine\n"
            "  hft-console evaluate ...  every router and the oracle, per market regime\n"
            "  hft-console train ...     train the latency forecaster and DQN/PPO routers\n"
            "  hft-console view RUN_DIR  a finished run's journal in the console, read-only\n"
            "  hft-console serve ...     the console in a web browser (textual-serve)"
        ),
        epilog=("Settings precedence: config/default.toml < mode or --config file < .env <\nenvironment < flags."),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the command list one per line
    )
    p.add_argument("--mode", choices=MODES, help="trading mode; picks config/<mode>.toml (default: production)")
    p.add_argument(
        "--duration",
        type=positive_seconds,
        metavar="S",
        help="session length in seconds (default: the mode's; 600 in production)",
    )
    p.add_argument("--symbols", metavar="LIST", help="comma-separated symbols (default: AAPL,MSFT,GOOGL)")
    p.add_argument("--log-level", choices=LOG_LEVELS, help="output verbosity (default: normal)")
    p.add_argument("--skip-backtest", action="store_true", default=None, help="skip the backtest phase")
    p.add_argument(
        "--config", metavar="PATH", help="config file (default: config/<mode>.toml, i.e. config/production.toml)"
    )
    p.add_argument("--no-ui", action="store_true", help="run headless: trade tape and summary on stdout")
    p.add_argument("--seed", type=whole_number, metavar="N", help="random seed of the session (default: 42)")
    p.add_argument("--router", choices=ROUTER_NAMES, metavar="NAME", help=f"routing policy: {', '.join(ROUTER_NAMES)}")
    p.add_argument("--strategy", choices=STRATEGIES, help=f"trading strategy: {', '.join(STRATEGIES)}")
    p.add_argument("--post-router", choices=POSTING_RULES, help="where resting orders go (market-maker)")
    p.add_argument("--theme", choices=THEMES, help="the console's colours (colour-blind: blue/orange, Okabe-Ito)")
    p.add_argument("--run-dir", metavar="DIR", help="where the journal and summary go (default: runs/<UTC timestamp>)")
    p.add_argument("--clock", choices=CLOCKS, help="wall: real time; sim: simulated market time, as fast as possible")
    p.add_argument("--inference", choices=INFERENCE_BACKENDS, help="dqn/ppo forward pass: jit (default) or numpy")
    p.add_argument(
        "--no-online-learning", dest="online_learning", action="store_false", default=None,
        help="dqn/ppo keep their checkpoint's weights: no fine-tuning, no exploration",
    )  # fmt: skip
    add_data_flags(p)
    p.add_argument("--record", metavar="PATH", help="record every tick the session sees to a .csv or .parquet file")
    p.add_argument("--version", action="version", version=f"hft-console {__version__}")
    return p


def resolve_run_dir(configured: str) -> Path:
    """The session's run directory: the one configured, else ``runs/<UTC timestamp>[-N]``. Raises
    UsageError when it already holds a journal or is a file."""
    if configured:
        path = Path(configured)
    else:
        path = Path("runs") / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        suffix = 1
        while path.exists():
            suffix += 1
            path = path.with_name(f"{path.name.split('-')[0]}-{suffix}")
    if (path / "journal.sqlite").exists():
        raise UsageError(f"--run-dir: {str(path)!r} already holds a journal; expected a new or empty directory")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--run-dir: {str(path)!r} is a file; expected a directory")
    return path
