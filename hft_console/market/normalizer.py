"""Rejects and counts bad ticks before anyone can trade on them.

A tick is refused when a price is not finite, not positive or outside the configured price range,
the quote is crossed or locked, a size is not positive, its timestamp is older than the last
accepted tick (the engine is strictly time-ordered), it repeats its stream's last tick exactly, or
its mid is further than ``max_deviation`` from the symbol's last accepted mid. After
``reanchor_after`` consecutive deviation rejects in one symbol the new level is trusted, so a real
gap (a halt, a split, a bad first tick) cannot blind the engine for the rest of the session.
"""

from __future__ import annotations

import math

from hft_console.settings import NormalizerSettings

REJECT_REASONS = (
    "non_finite", "non_positive", "crossed", "out_of_range", "bad_size", "out_of_order", "duplicate", "deviation",
)  # fmt: skip
OK = -1


class Normalizer:
    def __init__(self, n_symbols: int, n_venues: int, cfg: NormalizerSettings, start_ns: int = 0) -> None:
        self.cfg = cfg
        self.n_venues = n_venues
        self.last_ts = start_ns
        self.last_tick: list[tuple[int, float, float, int, int] | None] = [None] * (n_symbols * n_venues)
        self.ref_mid: list[float] = [0.0] * n_symbols
        self.streak: list[int] = [0] * n_symbols
        self.rejected = [0] * len(REJECT_REASONS)
        self.accepted = 0
        self.reanchors = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected)

    def rejected_by_reason(self) -> dict[str, int]:
        return {r: c for r, c in zip(REJECT_REASONS, self.rejected, strict=True) if c}

    def check(self, ts: int, stream: int, bid: float, ask: float, bid_size: int, ask_size: int) -> int:
        """OK (-1) when the tick may be used, else the index of its reason in REJECT_REASONS."""
        cfg = self.cfg
        if not (cfg.min_price <= bid < ask <= cfg.max_price and bid_size > 0 and ask_size > 0):
            return self._reject(self._classify(bid, ask, bid_size, ask_size))
        if ts < self.last_ts:
            return self._reject(5)
        tick = (ts, bid, ask, bid_size, ask_size)
        if self.last_tick[stream] == tick:
            return self._reject(6)
        sym = stream // self.n_venues
        mid = (bid + ask) * 0.5
        ref = self.ref_mid[sym]
        if ref and abs(mid - ref) > cfg.max_deviation * ref:
            self.streak[sym] += 1
            if self.streak[sym] < cfg.reanchor_after:
                return self._reject(7)
            self.reanchors += 1
        self.streak[sym] = 0
        self.ref_mid[sym] = mid
        self.last_tick[stream] = tick
        self.last_ts = ts
        self.accepted += 1
        return OK

    def _classify(self, bid: float, ask: float, bid_size: int, ask_size: int) -> int:
        if not (math.isfinite(bid) and math.isfinite(ask)):
            return 0
        if bid <= 0 or ask <= 0:
            return 1
        if bid >= ask:
            return 2
        if bid < self.cfg.min_price or ask > self.cfg.max_price:
            return 3
        return 4

    def _reject(self, reason: int) -> int:
        self.rejected[reason] += 1
        return reason
