"""Measures every order's round trip per venue: sliding-window percentiles, time buckets for the
heatmap, an EWMA for routers, and every sample for the end-of-session summary.

A venue that is down never answers: those orders count as timeouts, kept apart from the round-trip
percentiles (a timeout is our patience, not the network's latency) but fed into the EWMA, which is
what a router should expect to wait. Heatmap cells carry both, so a failed venue shows at a glance.
"""

from __future__ import annotations

from collections import deque

from hft_console.stats import nearest_rank, percentiles

Cell = tuple[float | None, float | None, int, int]  # p50 µs, p95 µs, round trips, timeouts
EWMA_ALPHA = 0.1  # weight of each answer in the round-trip EWMA routers see (the env's observation too)


class LatencyMonitor:
    def __init__(self, venues: list[str], window: int, bucket_s: float, buckets: int, priors_us: list[float]) -> None:
        self.venues = venues
        self.window = [deque[float](maxlen=window) for _ in venues]
        self.samples: list[list[float]] = [[] for _ in venues]
        self.ewma_us = list(priors_us)
        self.last_us = list(priors_us)  # the latest answer per venue (timeouts included), for learned routers
        self.timeouts = [0] * len(venues)
        self.bucket_ns = max(1, int(bucket_s * 1e9))
        self.n_buckets = buckets
        self._buckets: list[dict[int, tuple[list[float], list[int]]]] = [{} for _ in venues]
        self._bucket_cache: list[dict[int, Cell]] = [{} for _ in venues]

    def record(self, venue: int, sent_ns: int, answered_ns: int, timed_out: bool = False) -> None:
        waited_us = (answered_ns - sent_ns) / 1000
        self.ewma_us[venue] += EWMA_ALPHA * (waited_us - self.ewma_us[venue])
        self.last_us[venue] = waited_us
        rts, timeouts = self._buckets[venue].setdefault(answered_ns // self.bucket_ns, ([], [0]))
        if timed_out:
            self.timeouts[venue] += 1
            timeouts[0] += 1
            return
        self.window[venue].append(waited_us)
        self.samples[venue].append(waited_us)
        rts.append(waited_us)

    def window_percentiles(self, venue: int) -> dict[str, float | None]:
        return percentiles(self.window[venue])

    def heatmap(self, now_ns: int) -> tuple[list[int], list[list[Cell | None]]]:
        """Bucket start times (engine ns) and, per venue, a cell per bucket (None: no orders)."""
        current = now_ns // self.bucket_ns
        first = current - self.n_buckets + 1
        rows: list[list[Cell | None]] = []
        for v in range(len(self.venues)):
            buckets, cache = self._buckets[v], self._bucket_cache[v]
            for old in [b for b in buckets if b < first]:
                del buckets[old]
                cache.pop(old, None)
            row: list[Cell | None] = []
            for b in range(first, current + 1):
                if b in cache:
                    row.append(cache[b])
                    continue
                entry = buckets.get(b)
                if entry is None:
                    row.append(None)
                    continue
                rts, timeouts = entry
                ordered = sorted(rts)
                cell: Cell = (
                    nearest_rank(ordered, 0.5) if ordered else None,
                    nearest_rank(ordered, 0.95) if ordered else None,
                    len(ordered),
                    timeouts[0],
                )
                if b < current:
                    cache[b] = cell
                row.append(cell)
            rows.append(row)
        return [b * self.bucket_ns for b in range(first, current + 1)], rows
