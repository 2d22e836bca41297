"""Percentile summaries used by the monitor, the snapshot and summary.json."""

from __future__ import annotations

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
