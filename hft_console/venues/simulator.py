"""A simulated venue: immediate-or-cancel marketable orders fill against the venue's quote as it
stands when the order *arrives*, after the network latency, never as it was when we decided.

While our order travels, other participants take liquidity at the touch (``fade_tau_us``); a quote
that is stale-cheap against the current fundamental is sniped by faster traders
(``snipe_per_tick`` per tick it is through fair value). The order may walk ``depth_levels`` price
levels within its limit; what it cannot fill is cancelled. Our own earlier fills against an
unchanged quote use up its displayed size.

Fills are on the tick grid and never better than the displayed price: a buy fills at the displayed
ask or the next grid price above it, a sell at the bid or the next grid price below (a quote off the
grid, 100.025 on a cent grid, buys at 100.03); only float noise (1e-6 of a tick) rounds to nearest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hft_console.domain import Order, Quote, VenueSpec
from hft_console.rng import Draws
from hft_console.settings import MarketSettings
from hft_console.venues.latency import LatencyModel

TRADING_DAYS = 252
GRID_NOISE = 1e-6  # of a tick: price x (1 / tick) arithmetic, never a price between two grid prices


def impact_per_sqrt_share(cfg: MarketSettings) -> float:
    """Square-root law: temporary impact (fraction of price) = this x sqrt(shares filled), i.e.
    ``impact_coef`` x daily volatility x sqrt(qty / ``impact_adv_shares``)."""
    return cfg.impact_coef * cfg.annual_vol / math.sqrt(TRADING_DAYS) / math.sqrt(cfg.impact_adv_shares)


@dataclass(slots=True)
class Execution:
    order: Order
    venue_ns: int  # when the venue handled it (engine time)
    report_ns: int  # when we learn the outcome
    status: str  # FILLED | PARTIAL | CANCELLED (nothing available in limit) | REJECTED
    reason: str = ""
    fills: list[tuple[int, float]] = field(default_factory=list)
    fee: float = 0.0


class SimVenue:
    def __init__(
        self,
        spec: VenueSpec,
        latency: LatencyModel,
        draws: Draws,
        tick: float,
        fade_tau_us: float,
        snipe_per_tick: float,
        impact_per_sqrt_share: float = 0.0,
    ) -> None:
        self.spec, self.latency, self.draws = spec, latency, draws
        self.name = spec.name
        self.tick = tick
        inv = 1 / tick
        self.inv_tick = float(round(inv)) if abs(inv - round(inv)) < 1e-9 else inv
        self.fade_tau_us = fade_tau_us
        self.snipe_per_tick = snipe_per_tick
        self.impact = impact_per_sqrt_share
        self._consumed: dict[tuple[int, int], tuple[int, int]] = {}
        self.orders = self.fills = self.rejects = 0

    def send(self, order: Order, t_ns: int) -> int | None:
        """Put the order on the wire; its arrival time, or None when the venue is down (no answer)."""
        self.orders += 1
        if self.latency.is_down(t_ns):
            return None
        return t_ns + self.latency.one_way_ns(t_ns)

    def is_down(self, t_ns: int) -> bool:
        """Whether the venue is out at ``t_ns`` (draws its latency process up to then)."""
        return self.latency.is_down(t_ns)

    def arrival_ns(self, t_ns: int) -> int:
        """When a message sent at ``t_ns`` either way (a cancel, a report) gets there: one sampled
        one-way latency later (engine ns)."""
        return t_ns + self.latency.one_way_ns(t_ns)

    def timeout(self, order: Order, t_ns: int) -> Execution:
        """No answer from a venue that is down: we give up ``outage_timeout_us`` after sending."""
        self.rejects += 1
        timeout_ns = max(t_ns, order.ts_ns + int(self.latency.spec.outage_timeout_us * 1000))
        return Execution(order, t_ns, timeout_ns, "REJECTED", "VENUE_DOWN")

    def execute(self, order: Order, t_ns: int, sym: int, quote: Quote, fair_mid: float) -> Execution:
        """Match at arrival time ``t_ns`` against ``quote`` = (quote_ts, bid, ask, bid_size, ask_size)."""
        report_ns = t_ns + self.latency.one_way_ns(t_ns)
        draws = self.draws
        if draws.uniform() < self.spec.reject_prob:
            self.rejects += 1
            return Execution(order, t_ns, report_ns, "REJECTED", "VENUE_REJECT")
        quote_ts, bid, ask, bid_size, ask_size = quote
        sign = int(order.side)
        touch, size = (ask, ask_size) if sign > 0 else (bid, bid_size)
        key = (sym, sign)
        used_ts, used = self._consumed.get(key, (-1, 0))
        available = size - used if used_ts == quote_ts else size
        keep = math.exp(-(t_ns - order.ts_ns) / 1000 / self.fade_tau_us)
        through_ticks = sign * (fair_mid - touch) / self.tick
        if through_ticks > 0:
            keep *= max(0.0, 1.0 - self.snipe_per_tick * through_ticks)
        if draws.uniform() > keep:
            available = 0
        remaining = order.qty
        fills: list[tuple[int, float]] = []
        taken_at_touch = 0
        at = touch * self.inv_tick  # the touch in ticks; a fill is at a whole number of them, never better
        k = round(at)
        if abs(at - k) > GRID_NOISE:
            k = math.ceil(at) if sign > 0 else math.floor(at)
        for level in range(self.spec.depth_levels):
            price = (k + sign * level) / self.inv_tick
            if sign * (price - order.limit) > 1e-9 or remaining == 0:
                break
            depth = max(available, 0) if level == 0 else self.spec.depth_shares
            take = min(remaining, depth)
            if take > 0:
                fills.append((take, price))
                remaining -= take
                if level == 0:
                    taken_at_touch = take
        if taken_at_touch:
            self._consumed[key] = (quote_ts, (used if used_ts == quote_ts else 0) + taken_at_touch)
        filled = order.qty - remaining
        if filled == 0:
            return Execution(order, t_ns, report_ns, "CANCELLED", "NO_LIQUIDITY")
        if self.impact:  # our own size pushes the price we get (a cost, never a gain), never past the limit
            shift = 1.0 + sign * self.impact * math.sqrt(filled)
            limit = order.limit
            fills = [(q, round(min(p * shift, limit) if sign > 0 else max(p * shift, limit), 6)) for q, p in fills]
        self.fills += len(fills)
        return Execution(
            order,
            t_ns,
            report_ns,
            "FILLED" if remaining == 0 else "PARTIAL",
            fills=fills,
            fee=self.spec.taker_fee * filled,
        )
