"""``hft-console view RUN_DIR``: a finished run's journal in the console, read-only (in progress)."""

from __future__ import annotations

from hft_console.cli.args import Parser, fail


def build_parser() -> Parser:
    p = Parser(prog="hft-console view", description="A finished run's journal in the console, read-only.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (journal.sqlite, summary.json)")
    return p


def view_main(argv: list[str]) -> int:
    build_parser().parse_args(argv)
    return fail("view: not built yet")
