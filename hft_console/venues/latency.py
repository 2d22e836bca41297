"""Order-entry latency of one venue: lognormal body, jitter, spikes, calm/congested regimes, outages.

The regime and outage processes are continuous-time and advanced lazily to the time asked about, so
the model costs nothing between orders and stays deterministic for a given seed and order sequence.
"""

from __future__ import annotations

import math

from hft_console.domain import LatencySpec
from hft_console.rng import Draws

CALM, CONGESTED = 0, 1
REGIME_NAMES = ("calm", "congested")


class LatencyModel:
    def __init__(self, spec: LatencySpec, draws: Draws, start_ns: int = 0) -> None:
        self.spec, self.draws = spec, draws
        self.regime = CALM
        self.regime_changes = 0
        self.outages = 0
        self._next_switch = start_ns + self._holding_ns(spec.calm_to_congested_per_s)
        self._outage_start = start_ns + self._holding_ns(spec.outage_per_hour / 3600)
        self._outage_end = self._outage_start + self._duration_ns()

    def _holding_ns(self, rate_per_s: float) -> float:
        return math.inf if rate_per_s <= 0 else self.draws.exponential(1e9 / rate_per_s)

    def _duration_ns(self) -> float:
        return self.draws.exponential(self.spec.outage_mean_s * 1e9)

    def advance(self, t_ns: int) -> None:
        spec = self.spec
        while self._next_switch <= t_ns:
            self.regime = CONGESTED if self.regime == CALM else CALM
            self.regime_changes += 1
            rate = spec.calm_to_congested_per_s if self.regime == CALM else spec.congested_to_calm_per_s
            self._next_switch += self._holding_ns(rate)
        while self._outage_end <= t_ns:
            self._outage_start = self._outage_end + self._holding_ns(spec.outage_per_hour / 3600)
            self._outage_end = self._outage_start + self._duration_ns()
            self.outages += 1

    def is_down(self, t_ns: int) -> bool:
        self.advance(t_ns)
        return self._outage_start <= t_ns < self._outage_end

    def one_way_ns(self, t_ns: int) -> int:
        """A sampled one-way latency for a message sent at ``t_ns``."""
        self.advance(t_ns)
        spec, draws = self.spec, self.draws
        us = spec.median_us * math.exp(spec.sigma * draws.normal())
        us += spec.jitter_us * (2 * draws.uniform() - 1)
        spike_p = spec.congested_spike_prob if self.regime == CONGESTED else spec.spike_prob
        if draws.uniform() < spike_p:
            us *= spec.spike_mult_min + (spec.spike_mult_max - spec.spike_mult_min) * draws.uniform()
        if self.regime == CONGESTED:
            us *= spec.congested_mult
        us = max(us, 0.25 * spec.median_us) + spec.speed_bump_us
        return int(us * 1000)

    def expected_one_way_us(self) -> float:
        """Mean of the calm body, for routers that need a prior before any round trip is measured."""
        spec = self.spec
        return spec.median_us * math.exp(spec.sigma**2 / 2) + spec.speed_bump_us
