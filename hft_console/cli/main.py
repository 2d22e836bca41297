"""``hft-console [options]``: a trading session, in the console or headless (--no-ui), and the
dispatch to the subcommands (``backtest``, ``evaluate``, ``train``, ``view``, ``serve``). Bad input
exits 2 with one line."""

from __future__ import annotations

import codecs
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from hft_console.backtest.startup import backtest_line, session_info
from hft_console.cli.args import (
    UsageError,
    fail,
    settings_from,
)
from hft_console.cli.backtest import backtest_main
from hft_console.cli.learn import evaluate_main, train_main
from hft_console.cli.serve import serve_main
from hft_console.cli.session_args import KEYS, build_parser, resolve_run_dir
from hft_console.cli.view import view_main
from hft_console.domain import Command
from hft_console.engine.engine import Engine
from hft_console.headless import ASCII, HeadlessPrinter
from hft_console.market.source import DataError
from hft_console.settings import (
    Settings,
    SettingsError,
)  # fmt: skip
from hft_console.signals import ending_signals, exit_status


def _ascii_forms(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: the ASCII form of a rule or unit character (µs → us), else ``?``."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start : error.end]
    text = bad.translate(ASCII)
    return text.encode("ascii", "replace").decode("ascii"), error.end


def plain_output() -> None:
    """Standard output that cannot take Unicode (``PYTHONIOENCODING=ascii``, a latin-1 locale) gets the
    ASCII forms of what it cannot encode instead of a crash, for every command (tables included)."""
    out = sys.stdout
    encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
    if not encoding.startswith("utf") and hasattr(out, "reconfigure"):
        codecs.register_error("hft-ascii", _ascii_forms)
        out.reconfigure(errors="hft-ascii")


SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "backtest": backtest_main,
    "evaluate": evaluate_main,
    "train": train_main,
    "view": view_main,
    "serve": serve_main,
}


def main(argv: list[str] | None = None) -> int:
    """``hft-console ARGV``: a subcommand, or a session; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    plain_output()
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    try:
        args = build_parser().parse_args(argv)
        settings = settings_from(args, KEYS)
        run_dir = resolve_run_dir(settings.session.run_dir)
    except (UsageError, SettingsError) as exc:
        return fail(exc)
    if args.no_ui:
        return run_headless(settings, run_dir)
    return run_console(settings, run_dir)


def open_engine(settings: Settings, run_dir: Path) -> Engine | int:
    """The session's engine, or the exit status when its run directory or data source fails."""
    try:
        return Engine(settings, run_dir)
    except DataError as exc:
        return fail(exc, code=exc.exit_code)
    except OSError as exc:  # the directory or the journal in it cannot be created: a bad --run-dir
        why = exc.strerror or str(exc)
        return fail(f"--run-dir: cannot create {str(run_dir)!r}: {why}")


def run_console(settings: Settings, run_dir: Path) -> int:
    """The Textual console over a live engine. Exit status: 0 after ``q`` (however the session ended),
    1 when the engine died, 128 + the signal when SIGINT, SIGTERM or SIGHUP ended it (130, 143, 129):
    a signal ends the session without asking, exactly as a confirmed ``q`` does (in-flight orders
    complete, journal closed, summary.json written)."""
    from hft_console.ui import terminal  # imports Textual: only the console needs it
    from hft_console.ui.app import ConsoleApp  # imports Textual: only the console needs it

    problem = terminal.terminal_problem()
    if problem is not None:
        return fail(problem)
    early: list[int] = []  # a signal while the engine is being built: the session ends as soon as it can
    target: Callable[[int], None] = early.append
    with ending_signals(lambda signum: target(signum)):
        engine_or_code = open_engine(settings, run_dir)
        if isinstance(engine_or_code, int):
            return engine_or_code
        engine = engine_or_code
        app = ConsoleApp(engine, startup=session_info(engine), theme=settings.session.theme)
        app.exit_signal = early[0] if early else None
        target = app.signal_received
        app.run()
        thread = app.engine_thread
        if thread is not None and thread.is_alive():  # the app ended some other way: let the engine close its journal
            engine.submit(Command("stop"))
            thread.join(timeout=30)
        elif thread is None and not engine.finished:  # it never started: keep nothing, as headless
            engine.abandon()
        if thread is None:
            print("hft-console: ended before the session started; nothing was traded", file=sys.stderr)
        if isinstance(app.engine_error, OSError):  # a full disk, the journal gone: as headless says it
            fail(f"{app.engine_error}; the journal keeps what was committed")
        elif app.engine_error is not None:
            print(
                f"hft-console: the engine stopped: {app.engine_error!r}; the journal holds what was committed",
                file=sys.stderr,
            )
        if engine.summary is not None:
            with contextlib.suppress(OSError):  # a terminal that hung up without SIGHUP reaching us
                # in a browser (hft-console serve) stdout is the page's data channel: the server's log keeps stderr
                stream = sys.stderr if terminal.in_browser() else None
                HeadlessPrinter(engine, "quiet", stream).final(engine.summary)
    if app.exit_signal is not None:
        return exit_status(app.exit_signal)
    return 1 if app.engine_error is not None else 0


def pre_session_backtest(settings: Settings) -> str:
    """The short backtest a session runs first (unless --skip-backtest), as one line."""
    if settings.session.skip_backtest:
        return "Backtest: skipped (--skip-backtest)"
    return backtest_line(settings)


def run_headless(settings: Settings, run_dir: Path) -> int:
    """A headless session. Exit status: 0 finished, 1 the journal or summary could not be written,
    128 + the signal when SIGINT, SIGTERM or SIGHUP ended it (130, 143, 129). The first signal ends
    the session cleanly (in-flight orders completed, journal and summary.json written); a second
    stops at once, still closing the journal."""
    engine_or_code = open_engine(settings, run_dir)
    if isinstance(engine_or_code, int):
        return engine_or_code
    engine = engine_or_code
    for warning in engine.router.warnings:
        print(f"hft-console: warning: {warning}", file=sys.stderr)
    printer = HeadlessPrinter(engine, settings.session.log_level)
    got: list[int] = []
    running = {"session": False}

    def on_signal(signum: int) -> None:
        got.append(signum)
        if len(got) > 1 or not running["session"]:
            raise KeyboardInterrupt
        engine.stop_requested = True
        engine.wake.set()

    with ending_signals(on_signal):
        try:
            try:
                line = pre_session_backtest(settings)
            except KeyboardInterrupt:  # before the session: nothing traded, nothing to keep
                engine.abandon()
                print("hft-console: interrupted before the session started; nothing was traded", file=sys.stderr)
                return exit_status(got[0] if got else signal.SIGINT)
            running["session"] = True
            printer.banner(line)
            engine.run()
        except KeyboardInterrupt:
            print(
                "hft-console: interrupted twice: stopped at once; journal and summary.json are written", file=sys.stderr
            )
        except OSError as exc:  # the journal or summary.json could not be written (JournalError included)
            fail(f"{exc}; the journal keeps what was committed")
            return 1
    if engine.summary is not None:
        printer.final(engine.summary)
    return exit_status(got[0]) if got else 0
