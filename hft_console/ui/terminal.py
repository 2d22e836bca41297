"""The console's terminal: what it must be to draw on, and what to do
when the terminal goes away (SIGHUP after a closed window or a dropped SSH connection).

Textual draws on stderr and reads keys from stdin, so both must be a terminal, and a UTF-8 one: on
another encoding every block and box character would come out as a literal escape such as ``\\u2588``.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import os
import signal
import sys
import termios
from typing import IO, Any

from textual.driver import Driver

WEB_DRIVER = "textual.drivers.web_driver:WebDriver"  # what textual-serve sets TEXTUAL_DRIVER to


def in_browser() -> bool:
    """True when Textual draws for a browser: under textual-serve (``hft-console serve``) the console
    talks to the server over pipes, in UTF-8 whatever the locale, and there is no terminal."""
    return os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER


def terminal_problem() -> str | None:
    """Why the console cannot draw here (one line, ASCII, for any terminal), or None."""
    if in_browser():
        return None
    for name, stream in (("stdin", sys.stdin), ("stderr", sys.stderr)):
        if stream is None or not stream.isatty():
            return f"the console needs a terminal ({name} is not one); use --no-ui for headless runs"
    encoding = getattr(sys.__stderr__, "encoding", None) or "ascii"
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        utf8 = False
    if not utf8:
        return (
            f"the console draws with UTF-8 but this terminal's encoding is {encoding!r}; "
            "set a UTF-8 locale (e.g. LANG=C.UTF-8) and unset PYTHONIOENCODING, or use --no-ui"
        )
    return None


def terminal_alive() -> bool:
    """False once the terminal has hung up: its ioctls then fail (EIO) while the descriptor stays open."""
    if in_browser():  # no terminal to lose: a closed tab ends the session through the server
        return True
    try:
        termios.tcgetattr(sys.__stdin__.fileno() if sys.__stdin__ else 0)
    except (termios.error, OSError, ValueError):
        return False
    return True


_stdin_hold: list[int] = []  # the write end of the pipe detach_terminal put on stdin


def detach_terminal() -> None:
    """Point stdout and stderr at /dev/null and stdin at a pipe that delivers nothing until
    ``release_stdin``, so nothing drawn or printed after a hang-up can fail and Textual's key reader
    waits quietly instead of spinning on the dead terminal's end-of-file."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)
    _stdin_hold.append(write_end)


def release_stdin() -> None:
    """End-of-file on the detached stdin: a key reader blocked on it returns, so the app can close."""
    while _stdin_hold:
        os.close(_stdin_hold.pop())


class _SurvivingFile:
    """Textual's output file, whose writes never raise: a write to a hung-up terminal fails with EIO,
    which would end Textual's writer thread and leave the app blocked on its full queue."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.lost = False

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except (OSError, ValueError) as exc:
            self._failed(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self._file.flush()
        except (OSError, ValueError) as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        # EIO is what a hung-up terminal answers; a closed file or descriptor means the same here
        if isinstance(exc, ValueError) or getattr(exc, "errno", None) in (errno.EIO, errno.ENXIO, errno.EBADF):
            self.lost = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def output_lost(driver: Driver | None) -> bool:
    """True once a write to the terminal has failed: it hung up (the writes of a SurvivingDriver)."""
    file = getattr(driver, "_file", None)
    return isinstance(file, _SurvivingFile) and file.lost


def surviving_driver(base: type[Driver]) -> type[Driver]:
    """``base`` (Textual's Linux driver) made to outlive its terminal: output that cannot be written is
    dropped, and a key reader whose terminal is gone stops instead of taking the app down with it. It
    also takes the terminal's size from the terminal rather than from COLUMNS/LINES. Textual's web
    driver (textual-serve) keeps the console's own SIGINT/SIGTERM handlers (``keeping_signals``)."""
    from textual.drivers.linux_driver import LinuxDriver
    from textual.drivers.web_driver import WebDriver

    if issubclass(base, WebDriver):
        return keeping_signals(base)
    if not issubclass(base, LinuxDriver):
        return base

    class SurvivingDriver(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            drawn_on: IO[str] = vars(self)["_file"]  # sys.__stderr__, where LinuxDriver draws
            self._file = _SurvivingFile(drawn_on)

        def _get_terminal_size(self) -> tuple[int, int]:
            # the terminal's own answer first: Textual asks shutil, which prefers COLUMNS and LINES
            # from the environment, stale wherever they were exported (or set by a test runner)
            for fd in (2, 0, 1):
                with contextlib.suppress(OSError):
                    size = os.get_terminal_size(fd)
                    if size.columns and size.lines:
                        return size.columns, size.lines
            size_: tuple[int, int] = super()._get_terminal_size()
            return size_

        def disable_input(self) -> None:
            release_stdin()
            super().disable_input()

        def run_input_thread(self) -> None:
            try:
                super().run_input_thread()
            except OSError:  # the terminal hung up: SIGHUP ends the session
                return

    return SurvivingDriver


def keeping_signals(base: type[Driver]) -> type[Driver]:
    """``base`` (Textual's web driver) without its SIGINT/SIGTERM handlers, which close the app at once:
    the handlers in place before it started (``cli.main``'s) stay, so a signal ends the session as in a
    terminal (orders in flight complete, journal and summary.json written, exit 128 + the signal)."""

    class SignalKeepingDriver(base):  # type: ignore[valid-type,misc]
        def start_application_mode(self) -> None:
            kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            super().start_application_mode()
            loop = asyncio.get_running_loop()
            for sig, handler in kept.items():
                if handler is not None:  # None: set outside Python, nothing to put back
                    loop.remove_signal_handler(sig)
                    signal.signal(sig, handler)

    return SignalKeepingDriver
