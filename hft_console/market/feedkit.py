"""What a client of a live data service needs, whatever the service: reconnect backoff, a token
bucket for rate limits, a deadline around blocking calls, and keeping an API key out of texts and logs."""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TypeVar

_TOKEN_RE = re.compile(r"(token=)[^&\s'\"]+")
T = TypeVar("T")


def redact(text: str, key: str = "") -> str:
    """``text`` without the API key: the key itself and any ``token=`` query value."""
    if key:
        text = text.replace(key, "***")
    return _TOKEN_RE.sub(r"\1***", text)


class RedactFilter(logging.Filter):
    """Rewrites records so no URL query token reaches a handler (debug logs print request lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        record.msg, record.args, record.exc_info, record.exc_text = redact(text), None, None, None
        return True


def backoff_delays(initial: float = 1.0, factor: float = 2.0, cap: float = 60.0) -> Iterator[float]:
    """Seconds to wait before each reconnect attempt: 1, 2, 4, ... capped at 60."""
    delay = initial
    while True:
        yield min(delay, cap)
        delay *= factor


class TokenBucket:
    """``rate`` requests per second on average and at most ``burst`` back to back."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token and return 0.0, or return how many seconds until one is due."""
        with self._lock:
            now = self.clock()
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate

    def acquire(self, stop: threading.Event) -> bool:
        """Block until a token is taken; False when ``stop`` was set meanwhile."""
        while (wait := self.take()) > 0:
            if stop.wait(wait):
                return False
        return True


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """``fn()`` on a daemon thread, abandoned after ``seconds``: DNS lookups ignore requests' timeout."""
    fut: Future[T] = Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:  # handed to the caller as is
            fut.set_exception(exc)

    threading.Thread(target=run, name="finnhub-quote", daemon=True).start()
    return fut.result(timeout=seconds)
