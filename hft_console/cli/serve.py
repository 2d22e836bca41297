"""``hft-console serve``: the console in a web browser through textual-serve (in progress)."""

from __future__ import annotations

from hft_console.cli.args import Parser, fail


def build_parser() -> Parser:
    return Parser(prog="hft-console serve", description="The console in a web browser (textual-serve).")


def serve_main(argv: list[str]) -> int:
    build_parser().parse_args(argv)
    return fail("serve: not built yet")
