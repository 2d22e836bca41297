"""Percentile summaries used by the monitor, the snapshot and summary.json; a current-rate meter."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np


def percentiles(values: Sequence[float] | np.ndarray, scale: float = 1.0) -> dict[str, float | None]:
    """p50/p95/p99 (linear interpolation), with ``None`` when there is nothing to measure."""
    if len(values) == 0:
        return {"p50": None, "p95": None, "p99": None, "count": 0}
    arr = np.asarray(values, dtype=float) * scale
    p50, p95, p99 = np.percentile(arr, [50, 95, 99]).tolist()
    return {"p50": round(p50, 3), "p95": round(p95, 3), "p99": round(p99, 3), "count": int(arr.size)}


def nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    """Cheap percentile for small sorted lists on the snapshot path."""
    n = len(sorted_values)
    return sorted_values[min(n - 1, max(0, int(q * n + 0.5) - 1))]


class RateMeter:
    """A current rate: events per second over the most recent ``window_s`` seconds (at least), not
    since the start, so a burst at start-up or a stall an hour ago does not colour what is shown now.

    ``update(now_s, count)`` takes a monotonic time in seconds and a running total of events."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def reset(self, now_s: float, count: int) -> None:
        self._samples.clear()
        self._samples.append((now_s, count))

    def update(self, now_s: float, count: int) -> None:
        samples = self._samples
        samples.append((now_s, count))
        # keep one sample at or before the window's start, so the rate always spans a whole window
        while len(samples) > 2 and samples[1][0] <= now_s - self.window_s:
            samples.popleft()

    @property
    def rate(self) -> float:
        """Events per second between the oldest kept sample and the newest (0.0 before two)."""
        if len(self._samples) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
