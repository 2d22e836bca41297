"""The signals that end a session (headless or console) and the exit status they leave: SIGINT,
SIGTERM and SIGHUP end it cleanly, as a confirmed quit does, and the process exits 128 + the signal."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

END_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def exit_status(signum: int) -> int:
    """What a shell expects of a process a signal ended: 128 + the signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP)."""
    return 128 + signum


@contextlib.contextmanager
def ending_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP call ``on_signal(signum)`` (on the main thread) instead of killing the
    process, for as long as the block runs; the previous handlers come back after it."""
    previous = {sig: signal.signal(sig, lambda signum, _frame: on_signal(signum)) for sig in END_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
