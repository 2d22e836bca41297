"""``hft-console view RUN_DIR``: a recorded run's journal in the console, read-only, with a time slider.

RUN_DIR must hold the session's journal.sqlite; summary.json beside it marks the run finished. A run
without one (still being written, or one that died) opens too, marked "unfinished run": what the journal
has committed is shown, and its end is the last row so far. Bad input exits 2 with one line."""

from __future__ import annotations

from pathlib import Path

from hft_console.cli.args import Parser, UsageError, fail
from hft_console.engine.journal_view import RecordedRun, RunError

COMMAND = "view"


def build_parser() -> Parser:
    p = Parser(
        prog="hft-console view",
        description="A recorded run's journal in the console, read-only, with a time slider (opens at the end).",
        epilog="Keys: ←/→ step, shift+←/→ and PgUp/PgDn big steps, Home/End start/end, space play, q quit.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (journal.sqlite, summary.json)")
    p.add_argument("--start", action="store_true", help="open at the start of the run (default: at its end)")
    return p


def view_main(argv: list[str]) -> int:
    """Exit status: 0 after q; 2 with one line for a bad RUN_DIR or a terminal the console cannot use."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return fail(exc, COMMAND)

    try:
        run = RecordedRun(Path(args.run_dir))
    except RunError as exc:
        return fail(exc, COMMAND)
    from hft_console.ui.terminal import terminal_problem  # imports Textual: only the viewer needs it
    from hft_console.ui.viewer import ViewerApp  # imports Textual: only the viewer needs it

    problem = terminal_problem()
    if problem is not None:
        return fail(problem.replace("; use --no-ui for headless runs", ""), COMMAND)
    ViewerApp(run, at_end=not args.start).run()
    return 0
