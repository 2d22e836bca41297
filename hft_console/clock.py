"""The engine's two clocks. Components ask the clock; none of them reads wall time for decisions.

Engine time is the time of the event being processed. The simulated clock jumps from event to event;
the wall clock additionally paces the feed so market time keeps step with real time.
"""

from __future__ import annotations

import threading
import time


class SimClock:
    """Monotonic engine time that only the engine advances; nothing ever waits."""

    is_wall = False

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns < self._now:
            raise ValueError(f"clock is monotonic: {ts_ns} < {self._now}")
        self._now = ts_ns

    def wait_until(self, ts_ns: int, wake: threading.Event | None = None) -> bool:
        return True


class WallClock(SimClock):
    """Engine time anchored to the wall clock at start: market time t is released at start + t.

    ``wait_until`` sleeps on an event so an operator command can wake the engine at once.
    """

    is_wall = True

    def __init__(self, start_ns: int = 0) -> None:
        super().__init__(start_ns)
        self._origin_wall = time.monotonic_ns() - start_ns
        self.epoch_s = time.time() - start_ns / 1e9  # wall-clock time of engine time zero

    def market_now_ns(self) -> int:
        return time.monotonic_ns() - self._origin_wall

    def wait_until(self, ts_ns: int, wake: threading.Event | None = None) -> bool:
        """Sleep until market time ``ts_ns`` is reached; False when woken early by ``wake``."""
        while True:
            remaining = ts_ns - self.market_now_ns()
            if remaining <= 0:
                return True
            if wake is None:
                time.sleep(remaining / 1e9)
            elif wake.wait(remaining / 1e9):
                return False
