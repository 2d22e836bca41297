"""What every command shares: the parser that raises instead of exiting, the argument types, the one
path from flags to settings, the one error line, and the JSON report writer.

Bad input never prints a traceback: it is one line, ``hft-console COMMAND: error: ...``, and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings, load_settings

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input; its message names the flag."""


class Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of printing usage and exiting, so every
    command reports bad input the same way (:func:`fail`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def positive_seconds(text: str) -> float:
    """Argument type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def whole_number(text: str) -> int:
    """Argument type: an integer >= 0 (a seed, a number of worker processes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def count(text: str) -> int:
    """Argument type: an integer >= 1 (scenarios, decisions)."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


COMPUTE_KEYS = {"compute.executor": "executor", "compute.address": "ray_address"}  # settings key -> argument


def add_compute_flags(p: argparse.ArgumentParser) -> None:
    """``--executor`` and ``--ray-address``, the same for backtest, evaluate and train (``COMPUTE_KEYS``)."""
    p.add_argument(
        "--executor", choices=("local", "ray"),
        help="where the runs go: local processes (default) or Ray (a local instance, or the cluster at --ray-address)",
    )  # fmt: skip
    p.add_argument(
        "--ray-address", metavar="ADDR", help="a Ray cluster to join, e.g. 10.0.0.5:6379 (default: $RAY_ADDRESS)"
    )


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """``--data``, the same for a session and a backtest."""
    p.add_argument(
        "--data",
        metavar="SOURCE",
        help="market data: synthetic (default), replay:PATH (.csv/.parquet), lobster:PATH (LOBSTER message "
        "file or folder), hftbacktest:PATH.npz[,PATH.npz] (one per symbol), yahoo (history), finnhub (live)",
    )


def settings_from(args: argparse.Namespace, keys: Mapping[str, str]) -> Settings:
    """The settings with the flags given on top of the configured layers. ``keys`` maps a settings key
    (``"session.seed"``) to the parsed argument that sets it (``"seed"``); an argument left at None was
    not given. ``--config`` picks the file layer. Raises SettingsError naming the source, key and value."""
    flags: dict[str, Any] = {key: getattr(args, name) for key, name in keys.items()}
    flags = {k: v for k, v in flags.items() if v is not None}
    if args.config:
        flags["config"] = args.config
    return load_settings(flags, router_names=ROUTER_NAMES)


def fail(message: object, command: str = "", code: int = EXIT_USAGE) -> int:
    """Print ``hft-console[ COMMAND]: error: MESSAGE`` on stderr; return ``code`` (2 unless given) as the
    command's exit status."""
    name = f"hft-console {command}" if command else "hft-console"
    print(f"{name}: error: {message}", file=sys.stderr)
    return code


def write_json_report(path: Path, report: dict[str, Any], command: str) -> int:
    """A report written whole or not at all (a temporary file, then renamed). Exit status: 0, or 2 with one
    line when the path cannot be written."""

    def plain(value: Any) -> Any:  # numpy scalars from the evaluation
        if hasattr(value, "item"):
            return value.item()
        raise TypeError(f"not JSON: {type(value).__name__}")

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2, default=plain) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        return fail(f"--json: cannot write {str(path)!r}: {exc.strerror}", command)
    return 0
