"""The latency forecaster in the live session: ``routing/models/latency.py``'s network, per venue, in
numpy (no JAX here: the learner that moves the weights imports it).

Every answer a venue gives moves its history and EWMA (exactly as the engine's latency monitor moves
its EWMA) and refreshes that venue's forecast, so a decision reads forecasts without computing any.
The weights learn online: each answer's example (the features behind the forecast it tested, and the
log ratio it came in at) queues for the background learner, which applies ``latency.sgd_steps_masked`` and
hands new weights back; the engine thread picks them up at its next answer. The environment takes
the SGD step at once, the session a batch later: the same updates, a little behind.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from hft_console.routing.models.layout import ALPHA, CLIP, HISTORY
from hft_console.routing.models.numpy_mlp import NumpyMLP


def _clip_log(ratio: float) -> float:
    return min(CLIP, max(-CLIP, math.log(ratio)))


def per_venue(stacked: dict[str, Any], venue: int) -> dict[str, Any]:
    """One venue's weights out of the per-venue stack (every leaf's leading axis is the venue)."""
    return {k: per_venue(v, venue) if isinstance(v, dict) else np.asarray(v[venue]) for k, v in stacked.items()}


class LatencyForecaster:
    def __init__(self, shared: dict[str, Any], prior_us: list[float], keep_examples: bool = False) -> None:
        self.prior = [float(x) for x in prior_us]
        n = len(self.prior)
        self.stacked = {
            k: {name: np.broadcast_to(np.asarray(a, np.float32), (n, *np.shape(a))).copy() for name, a in layer.items()}
            for k, layer in shared.items()
        }
        self.nets = [NumpyMLP(per_venue(self.stacked, v), "tanh") for v in range(n)]
        self.ewma = list(self.prior)
        self.hist = [[x] * HISTORY for x in self.prior]
        self.forecast = [0.0] * n
        self.log_forecast = [0.0] * n  # log(forecast / 100 µs), as the observation carries it
        self.examples: deque[tuple[int, list[float], float]] | None = deque(maxlen=100_000) if keep_examples else None
        self._incoming: dict[str, Any] | None = None
        self._applied: dict[str, Any] | None = None
        for v in range(n):
            self._refresh(v)

    def seed(self, ewma_us: tuple[float, ...], last_us: tuple[float, ...]) -> None:
        """Start from what the session already measured (a router switched to mid-session)."""
        for v, (e, last) in enumerate(zip(ewma_us, last_us, strict=True)):
            self.ewma[v] = float(e)
            self.hist[v] = [float(last)] + [float(e)] * (HISTORY - 1)
            self._refresh(v)

    def features(self, v: int) -> list[float]:
        e = self.ewma[v]
        return [_clip_log(h / e) for h in self.hist[v]] + [_clip_log(e / self.prior[v])]

    def record(self, v: int, rt_us: float) -> None:
        if self._incoming is not self._applied:  # a newer publish (never lost: nothing resets it)
            self._swap()
        if self.examples is not None:
            self.examples.append((v, self.features(v), _clip_log(rt_us / self.ewma[v])))
        self.hist[v] = [rt_us, *self.hist[v][:-1]]
        self.ewma[v] += ALPHA * (rt_us - self.ewma[v])
        self._refresh(v)

    def publish(self, stacked: dict[str, Any]) -> None:
        """New weights from the learner thread (taken up on the engine thread at the next answer)."""
        self._incoming = stacked

    def _swap(self) -> None:
        stacked = self._incoming
        assert stacked is not None
        self._applied = self.stacked = stacked
        self.nets = [NumpyMLP(per_venue(stacked, v), "tanh") for v in range(len(self.prior))]
        for v in range(len(self.prior)):
            self._refresh(v)

    def _refresh(self, v: int) -> None:
        # the features go straight into the network's input buffer: no array of their own per answer
        y = self.nets[v].as_list(self.features(v))[0]
        y = min(CLIP, max(-CLIP, y)) if y == y else 0.0  # as latency.py clips it; a NaN: the EWMA
        self.forecast[v] = self.ewma[v] * math.exp(y)
        self.log_forecast[v] = math.log(self.forecast[v] / 100.0)
