"""Measures every order's round trip per venue: sliding-window percentiles, time buckets for the
heatmap, an EWMA for routers, and every sample for the end-of-session summary."""

from __future__ import annotations

from collections import deque

from hft_console.stats import nearest_rank, percentiles


class LatencyMonitor:
    def __init__(self, venues: list[str], window: int, bucket_s: float, buckets: int, priors_us: list[float]) -> None:
        self.venues = venues
        self.window = [deque[float](maxlen=window) for _ in venues]
        self.samples: list[list[float]] = [[] for _ in venues]
        self.ewma_us = list(priors_us)
        self.timeouts = [0] * len(venues)
        self.bucket_ns = int(bucket_s * 1e9)
        self.n_buckets = buckets
        self._buckets: list[dict[int, list[float]]] = [{} for _ in venues]
        self._bucket_cache: list[dict[int, tuple[float, float, int]]] = [{} for _ in venues]

    def record(self, venue: int, sent_ns: int, answered_ns: int, timed_out: bool = False) -> None:
        rt_us = (answered_ns - sent_ns) / 1000
        self.window[venue].append(rt_us)
        self.samples[venue].append(rt_us)
        self.ewma_us[venue] += 0.1 * (rt_us - self.ewma_us[venue])
        if timed_out:
            self.timeouts[venue] += 1
        bucket = answered_ns // self.bucket_ns
        self._buckets[venue].setdefault(bucket, []).append(rt_us)

    def window_percentiles(self, venue: int) -> dict[str, float | None]:
        return percentiles(self.window[venue])

    def heatmap(self, now_ns: int) -> tuple[list[int], list[list[tuple[float, float, int] | None]]]:
        """Bucket start times (engine ns) and, per venue, (p50, p95, count) per bucket or None."""
        current = now_ns // self.bucket_ns
        first = current - self.n_buckets + 1
        rows: list[list[tuple[float, float, int] | None]] = []
        for v in range(len(self.venues)):
            buckets, cache = self._buckets[v], self._bucket_cache[v]
            for old in [b for b in buckets if b < first]:
                del buckets[old]
                cache.pop(old, None)
            row: list[tuple[float, float, int] | None] = []
            for b in range(first, current + 1):
                if b in cache:
                    row.append(cache[b])
                    continue
                values = buckets.get(b)
                if not values:
                    row.append(None)
                    continue
                ordered = sorted(values)
                stat = (nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.95), len(ordered))
                if b < current:
                    cache[b] = stat
                row.append(stat)
            rows.append(row)
        return [b * self.bucket_ns for b in range(first, current + 1)], rows
