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
WORST_BODY_MULT = 20  # the lognormal body's worst case, in medians, for the slowest answer to wait for


def expected_one_way_us(spec: LatencySpec) -> float:
    """Mean one-way latency of the calm body (µs): the lognormal mean plus the speed bump."""
    return spec.median_us * math.exp(spec.sigma**2 / 2) + spec.speed_bump_us


def prior_round_trip_us(spec: LatencySpec) -> float:
    """The calm round trip (µs) a router expects before any is measured: twice the mean one way."""
    return 2 * expected_one_way_us(spec)


def slowest_answer_us(spec: LatencySpec) -> float:
    """The longest an order can wait for its answer (µs after sending): the outage timeout, or a round
    trip of ``WORST_BODY_MULT`` medians at the largest spike while congested, whichever is longer."""
    worst_trip = 2 * (spec.median_us * WORST_BODY_MULT * spec.spike_mult_max * spec.congested_mult + spec.speed_bump_us)
    return max(spec.outage_timeout_us, worst_trip)


class LatencyModel:
    """One venue's latency process. ``regime`` (CALM/CONGESTED), ``regime_changes`` and ``outages``
    are as of the last time asked about; every query that takes a time draws the process up to it."""

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
        """Whether the venue is out at ``t_ns``; draws the regime and outage processes up to it."""
        self.advance(t_ns)
        return self._outage_start <= t_ns < self._outage_end

    def is_down_as_drawn(self, t_ns: int) -> bool:
        """``is_down`` without drawing: as far as the processes have been drawn (by orders). Exact up
        to the end of the outage last drawn; after it, up until an order draws the next one. For
        observers (the snapshot), whose reads must not move the random stream the orders use."""
        return self._outage_start <= t_ns < self._outage_end

    def one_way_ns(self, t_ns: int, median_us: float = 0.0) -> int:
        """A sampled one-way latency for a message sent at ``t_ns``; ``median_us`` the body's median for
        this kind of message (0: a new order's, ``spec.median_us``)."""
        self.advance(t_ns)
        spec, draws = self.spec, self.draws
        us = (median_us or spec.median_us) * math.exp(spec.sigma * draws.normal())
        us += spec.jitter_us * (2 * draws.uniform() - 1)
        spike_p = spec.congested_spike_prob if self.regime == CONGESTED else spec.spike_prob
        if draws.uniform() < spike_p:
            us *= spec.spike_mult_min + (spec.spike_mult_max - spec.spike_mult_min) * draws.uniform()
        if self.regime == CONGESTED:
            us *= spec.congested_mult
        us = max(us, 0.25 * (median_us or spec.median_us)) + spec.speed_bump_us
        return int(us * 1000)

    def round_trip_us(self, t_ns: int) -> float | None:
        """A probe's round trip (µs): two one-way latencies drawn at ``t_ns``; None when the venue is down."""
        if self.is_down(t_ns):
            return None
        return (self.one_way_ns(t_ns) + self.one_way_ns(t_ns)) / 1000

    def prior_round_trip_us(self) -> float:
        """See ``prior_round_trip_us``: the calm round trip (µs), a router's prior."""
        return prior_round_trip_us(self.spec)

    def slowest_answer_us(self) -> float:
        """See ``slowest_answer_us``: the longest an order can wait for its answer (µs)."""
        return slowest_answer_us(self.spec)
