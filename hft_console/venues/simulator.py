"""A simulated venue: it answers each message where and when it arrives, never as things stood
when we decided.

Time: a venue's market data reaches us ``feed_delay_us`` late, so the venue lives that much ahead of
the picture the engine has of it. Each venue is simulated in that frame: a message we send at ``t``
arrives at ``t + latency + feed delay`` on the engine's clock, when the engine has just received the
quote the venue then shows; an answer leaves the venue at that (true) time and reaches us one latency
later. Messages each way are in order (one session per venue): a cancel never overtakes its order,
a fill report never overtakes the acceptance.

Takes (IOC, and the marketable part of a LIMIT) fill against the venue's quote at arrival. On the
synthetic market, while our order travels, other participants take liquidity at the touch
(``fade_tau_us``); a quote through the fundamental is sniped by faster traders (``snipe_per_tick``);
the order may walk ``depth_levels`` price levels, and its size moves the price against it (square-root
impact). Speed-bump venues fill a share of takers at their midpoint (hidden pegs); dark venues show
nothing and each order meets hidden liquidity drawn for it, at the consolidated midpoint. On recorded
data none of that is invented: a take fills at most the displayed size at the displayed touch, and
there is no hidden liquidity (a dark venue fills nothing, no take meets a midpoint, no peg rests).

Fills are on the tick grid and never better than the displayed price (midpoint fills excepted: a
half tick is allowed there); only float noise (1e-6 of a tick) rounds to nearest.

Resting orders (LIMIT, POST_ONLY) live in the venue's ``RestingBook`` (venues/resting.py) and fill as
makers when the market reaches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hft_console.domain import Order, OrderType, Quote, VenueSpec
from hft_console.rng import Draws
from hft_console.settings import MarketSettings
from hft_console.venues.l3 import L3Levels, L3RestingBook
from hft_console.venues.latency import LatencyModel
from hft_console.venues.queue import queue_model
from hft_console.venues.resting import Resting, RestingBook

TRADING_DAYS = 252
GRID_NOISE = 1e-6  # of a tick: price x (1 / tick) arithmetic, never a price between two grid prices


def impact_per_sqrt_share(cfg: MarketSettings) -> float:
    """Square-root law: temporary impact (fraction of price) = this x sqrt(shares filled), i.e.
    ``impact_coef`` x daily volatility x sqrt(qty / ``impact_adv_shares``)."""
    return cfg.impact_coef * cfg.annual_vol / math.sqrt(TRADING_DAYS) / math.sqrt(cfg.impact_adv_shares)


@dataclass(slots=True)
class Execution:
    """A venue's one answer to a take: accepted and filled (in part or whole, the rest cancelled), or
    rejected. ``fee``: $ for the whole order (negative: paid to us)."""

    order: Order
    venue_ns: int  # when the venue handled it (true time on the engine's clock)
    report_ns: int  # when we learn the outcome
    status: str  # FILLED | CANCELED (partly filled or not at all; ``reason`` says why) | REJECTED
    reason: str = ""
    fills: list[tuple[int, float]] = field(default_factory=list)
    fee: float = 0.0


ACCEPTED, FILL, CANCELED, REPLACED, REJECTED = "ACCEPTED", "FILL", "CANCELED", "REPLACED", "REJECTED"
CANCEL_REJECTED, REPLACE_REJECTED = "CANCEL_REJECTED", "REPLACE_REJECTED"


@dataclass(slots=True)
class Report:
    """One venue message about a resting order (``kind`` one of the names above)."""

    order: Order
    kind: str
    venue_ns: int  # true time at the venue
    report_ns: int  # engine time we receive it
    qty: int = 0  # FILL: shares; REPLACED: the new size
    price: float = 0.0  # FILL: the price; REPLACED: the new price
    fee: float = 0.0  # FILL: $ (negative: a maker rebate paid to us)
    queue_ahead: int = 0
    level_total: int = 0
    reason: str = ""


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
        synthetic: bool = True,
        feed_delayed: bool | None = None,
    ) -> None:
        """``synthetic``: the market is generated here (fade, sniping, deeper levels and impact apply,
        the feed is delayed); False on recorded data, whose timestamps already carry the feed's delay
        and whose displayed touch bounds every take. ``feed_delayed`` (default: ``synthetic``): the data is
        stamped with the venue's own time, so its feed delay applies (market-by-order data)."""
        self.spec, self.latency, self.draws = spec, latency, draws
        self.name = spec.name
        self.tick = tick
        inv = 1 / tick
        self.inv_tick = float(round(inv)) if abs(inv - round(inv)) < 1e-9 else inv
        self.fade_tau_us = fade_tau_us
        self.snipe_per_tick = snipe_per_tick
        self.impact = impact_per_sqrt_share if synthetic else 0.0
        self.synthetic = synthetic
        delayed = synthetic if feed_delayed is None else feed_delayed
        self.delay_ns = int(spec.feed_delay_us * 1000) if delayed else 0
        self.dark = spec.kind == "dark"
        # hidden liquidity (a dark pool's, a speed-bump venue's midpoint pegs) exists only where the market is
        # generated: a recorded file shows none, and a fill against it would be invented
        self.midpoint_share = spec.midpoint_share if synthetic else 0.0
        self.offers_pegs = spec.kind == "speed-bump" and self.midpoint_share > 0
        self.book: RestingBook = RestingBook(queue_model(spec.queue_model, spec.queue_power), self.inv_tick)
        self.l3: L3RestingBook | None = None
        self.cancel_median_us = spec.latency.cancel_median_us
        self.replace_median_us = spec.latency.replace_median_us
        self._consumed: dict[tuple[int, int], tuple[int, int]] = {}
        self.last_in = self.last_out = 0  # the latest arrival each way: messages stay in order
        self.orders = self.fills = self.rejects = 0
        self.received: set[int] = set()  # resting orders that reached us: a cancel for another is UNKNOWN_ORDER

    def attach_l3(self, books: dict[int, L3Levels]) -> None:
        """Market-by-order data for this venue (symbol index -> its rebuilt book): our resting orders
        join the real queues and takes walk the real levels (venues/l3.py)."""
        self.l3 = L3RestingBook(self.book.model, self.inv_tick, books)
        self.book = self.l3

    def settle(self, sym: int, t_ns: int) -> list[Report]:
        """Before our cancel or replace arriving at ``t_ns`` is handled: the maker fills the real flow
        caused until then (market-by-order data; nothing otherwise)."""
        if self.l3 is None:
            return []
        self.l3.now = t_ns - self.delay_ns
        return self._maker_fills(self.l3.catch_up(sym), t_ns)

    def send(self, order: Order, t_ns: int, median_us: float = 0.0) -> int | None:
        """Put a new order on the wire; its arrival (engine time in the venue's frame), or None when the
        venue is down (no answer)."""
        self.orders += 1
        if self.latency.is_down(t_ns):
            return None
        return self.inbound(t_ns, median_us)

    def inbound(self, t_ns: int, median_us: float = 0.0) -> int:
        """When a message we send at ``t_ns`` reaches the venue (engine time, the venue's frame)."""
        arrive = max(t_ns + self.latency.one_way_ns(t_ns, median_us) + self.delay_ns, self.last_in)
        self.last_in = arrive
        return arrive

    def outbound(self, t_ns: int) -> int:
        """When a message the venue sends at frame time ``t_ns`` reaches us: one latency after the true
        time, never before ``t_ns`` (we cannot learn of it before the engine's clock gets there)."""
        true_ns = t_ns - self.delay_ns
        arrive = max(true_ns + self.latency.one_way_ns(true_ns), t_ns, self.last_out)
        self.last_out = arrive
        return arrive

    def is_down(self, t_ns: int) -> bool:
        """Whether the venue is out at ``t_ns`` (draws its latency process up to then)."""
        return self.latency.is_down(t_ns)

    def timeout(self, order: Order, t_ns: int) -> Execution:
        """No answer from a venue that is down: we give up ``outage_timeout_us`` after sending."""
        self.rejects += 1
        timeout_ns = max(t_ns, order.ts_ns + int(self.latency.spec.outage_timeout_us * 1000))
        return Execution(order, t_ns - self.delay_ns, timeout_ns, "REJECTED", "VENUE_DOWN")

    def execute(
        self, order: Order, t_ns: int, sym: int, quote: Quote | None, fair_mid: float, mid: float = float("nan")
    ) -> Execution:
        """A take arriving at ``t_ns``: against ``quote`` = (quote_ts, bid, ask, bid_size, ask_size), or for a
        dark venue against hidden liquidity at ``mid`` (the consolidated midpoint). ``fair_mid``: the
        fundamental (synthetic market) or the mid seen so far."""
        report_ns = self.outbound(t_ns)
        venue_ns = t_ns - self.delay_ns
        draws = self.draws
        if draws.uniform() < self.spec.reject_prob:
            self.rejects += 1
            return Execution(order, venue_ns, report_ns, "REJECTED", "VENUE_REJECT")
        if self.dark:
            if not self.synthetic:
                return Execution(order, venue_ns, report_ns, "CANCELED", "NO_HIDDEN_LIQUIDITY_DATA")
            return self._dark(order, venue_ns, report_ns, mid)
        if quote is None:
            return Execution(order, venue_ns, report_ns, "CANCELED", "NO_QUOTE")
        if self.l3 is not None:
            self.l3.now = venue_ns
            if self.l3.halted(sym):
                self.rejects += 1
                return Execution(order, venue_ns, report_ns, "REJECTED", "TRADING_HALT")
        if self.midpoint_share > 0 and draws.uniform() < self.midpoint_share:
            fill = self._midpoint(order, venue_ns, report_ns, quote)
            if fill is not None:
                return fill
        fills = self._take(order, t_ns, sym, quote, fair_mid)
        filled = sum(q for q, _ in fills)
        if filled == 0:
            return Execution(order, venue_ns, report_ns, "CANCELED", "NO_LIQUIDITY")
        self.fills += len(fills)
        status, reason = ("FILLED", "") if filled == order.qty else ("CANCELED", "IOC_REMAINDER")
        return Execution(order, venue_ns, report_ns, status, reason, fills, self.spec.taker_fee * filled)

    def _dark(self, order: Order, venue_ns: int, report_ns: int, mid: float) -> Execution:
        spec, draws = self.spec, self.draws
        hidden = 0
        if draws.uniform() >= spec.hidden_liquidity_zero_prob:
            hidden = max(1, round(draws.exponential(spec.hidden_liquidity_mean_shares)))
        take = min(order.qty, hidden)
        if take == 0 or mid != mid or int(order.side) * (mid - order.limit) > 1e-9:
            return Execution(order, venue_ns, report_ns, "CANCELED", "NO_LIQUIDITY")
        self.fills += 1
        status, reason = ("FILLED", "") if take == order.qty else ("CANCELED", "IOC_REMAINDER")
        return Execution(order, venue_ns, report_ns, status, reason, [(take, round(mid, 6))], spec.taker_fee * take)

    def _midpoint(self, order: Order, venue_ns: int, report_ns: int, quote: Quote) -> Execution | None:
        mid = round((quote[1] + quote[2]) / 2, 6)
        if int(order.side) * (mid - order.limit) > 1e-9:
            return None
        self.fills += 1
        return Execution(order, venue_ns, report_ns, "FILLED", "", [(order.qty, mid)], self.spec.taker_fee * order.qty)

    def _take(self, order: Order, t_ns: int, sym: int, quote: Quote, fair_mid: float) -> list[tuple[int, float]]:
        quote_ts, bid, ask, bid_size, ask_size = quote
        sign = int(order.side)
        if self.l3 is not None:  # the real levels from the touch the venue shows now
            touch_now = round((ask if sign > 0 else bid) * self.inv_tick)
            walked = self.l3.walk(sym, sign, touch_now, math.floor(order.limit * self.inv_tick + GRID_NOISE)
                                  if sign > 0 else math.ceil(order.limit * self.inv_tick - GRID_NOISE),
                                  order.qty - order.filled)  # fmt: skip
            return [(q, round(k / self.inv_tick, 6)) for q, k in walked]
        touch, size = (ask, ask_size) if sign > 0 else (bid, bid_size)
        key = (sym, sign)
        used_ts, used = self._consumed.get(key, (-1, 0))
        available = size - used if used_ts == quote_ts else size
        if self.synthetic:
            keep = math.exp(-(t_ns - order.ts_ns) / 1000 / self.fade_tau_us)
            through_ticks = sign * (fair_mid - touch) / self.tick
            if through_ticks > 0:
                keep *= max(0.0, 1.0 - self.snipe_per_tick * through_ticks)
            if self.draws.uniform() > keep:
                available = 0
        remaining = order.qty - order.filled
        fills: list[tuple[int, float]] = []
        taken_at_touch = 0
        at = touch * self.inv_tick  # the touch in ticks; a fill is at a whole number of them, never better
        k = round(at)
        if abs(at - k) > GRID_NOISE:
            k = math.ceil(at) if sign > 0 else math.floor(at)
        levels = self.spec.depth_levels if self.synthetic else 1  # recorded data shows the touch only
        for level in range(levels):
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
        filled = sum(q for q, _ in fills)
        if self.impact and filled:  # our own size pushes the price we get (a cost, never a gain), never past the limit
            shift = 1.0 + sign * self.impact * math.sqrt(filled)
            limit = order.limit
            fills = [(q, round(min(p * shift, limit) if sign > 0 else max(p * shift, limit), 6)) for q, p in fills]
        return fills

    # -- resting orders ----------------------------------------------------------------------------
    def rest(self, order: Order, t_ns: int, sym: int, quote: Quote | None) -> list[Report]:
        """A LIMIT or POST_ONLY arriving at ``t_ns``: refused, or accepted and resting (a LIMIT that can
        take does so first, as a taker, and rests the rest)."""
        venue_ns, draws = t_ns - self.delay_ns, self.draws
        self.received.add(order.order_id)
        if draws.uniform() < self.spec.reject_prob:
            self.rejects += 1
            return [Report(order, REJECTED, venue_ns, self.outbound(t_ns), reason="VENUE_REJECT")]
        if self.dark or quote is None:
            reason = "NOT_SUPPORTED" if self.dark else "NO_QUOTE"
            return [Report(order, REJECTED, venue_ns, self.outbound(t_ns), reason=reason)]
        if self.l3 is not None:
            self.l3.now = venue_ns
            if self.l3.halted(sym):
                self.rejects += 1
                return [Report(order, REJECTED, venue_ns, self.outbound(t_ns), reason="TRADING_HALT")]
        if order.order_type is OrderType.MID_PEG:
            if not self.offers_pegs:
                return [Report(order, REJECTED, venue_ns, self.outbound(t_ns), reason="MID_PEG_NOT_OFFERED")]
            r = self.book.add_peg(order, sym, self.spec.depth_shares)
            return [
                Report(order, ACCEPTED, venue_ns, self.outbound(t_ns), queue_ahead=r.q.shares_ahead, level_total=-1)
            ]
        side, ticks = int(order.side), self.book.ticks(order.limit)
        out: list[Report] = []
        if self.book.crosses(side, ticks, quote):
            if order.order_type is OrderType.POST_ONLY:
                return [Report(order, REJECTED, venue_ns, self.outbound(t_ns), reason="POST_ONLY_WOULD_CROSS")]
            fills = self._take(order, t_ns, sym, quote, float("nan"))
            out.append(Report(order, ACCEPTED, venue_ns, self.outbound(t_ns)))
            fee = self.spec.taker_fee
            out += [Report(order, FILL, venue_ns, self.outbound(t_ns), q, p, fee * q, reason="TAKER") for q, p in fills]
            if sum(q for q, _ in fills) + order.filled >= order.qty:
                return out
        r = self.book.add(order, sym, quote, self.spec.depth_shares)
        r.leaves -= sum(x.qty for x in out if x.kind == FILL)
        if not out:
            out.append(Report(order, ACCEPTED, venue_ns, self.outbound(t_ns)))
        out[0].queue_ahead, out[0].level_total = r.q.shares_ahead, r.level
        return out

    def cancel(self, order: Order, t_ns: int) -> Report:
        """Our cancel arriving at ``t_ns``: CANCELED, or CANCEL_REJECTED: CANCEL_TOO_LATE when the order
        is no longer resting (it filled before the cancel got there), UNKNOWN_ORDER when it never got
        here (lost to an outage: our timeout answers it)."""
        venue_ns = t_ns - self.delay_ns
        if self.book.remove(order.order_id) is None:
            reason = "CANCEL_TOO_LATE" if order.order_id in self.received else "UNKNOWN_ORDER"
            return Report(order, CANCEL_REJECTED, venue_ns, self.outbound(t_ns), reason=reason)
        return Report(order, CANCELED, venue_ns, self.outbound(t_ns))

    def replace(self, order: Order, t_ns: int, price: float, qty: int, quote: Quote | None) -> Report:
        """Our replace arriving at ``t_ns``: REPLACED (priority lost on a price change or a larger size),
        or REPLACE_REJECTED: too late (not resting any more), unknown (never got here), or the new price
        would take."""
        venue_ns = t_ns - self.delay_ns
        if self.l3 is not None:
            self.l3.now = venue_ns
        r = self.book.by_id.get(order.order_id)
        if r is None:
            reason = "REPLACE_TOO_LATE" if order.order_id in self.received else "UNKNOWN_ORDER"
            return Report(order, REPLACE_REJECTED, venue_ns, self.outbound(t_ns), reason=reason)
        if r.peg:
            return Report(order, REPLACE_REJECTED, venue_ns, self.outbound(t_ns), reason="NOT_SUPPORTED")
        if self.book.crosses(r.side, self.book.ticks(price), quote):
            return Report(order, REPLACE_REJECTED, venue_ns, self.outbound(t_ns), reason="REPLACE_WOULD_CROSS")
        if qty <= r.qty - r.leaves:  # no more than has executed (some of it may still be on its way to us)
            return Report(order, REPLACE_REJECTED, venue_ns, self.outbound(t_ns), reason="REPLACE_BELOW_FILLED")
        self.book.reprice(r, price, qty, quote, self.spec.depth_shares)
        return Report(order, REPLACED, venue_ns, self.outbound(t_ns), qty, price, 0.0, r.q.shares_ahead, r.level)

    def on_quote(self, sym: int, quote: Quote, t_ns: int) -> list[Report]:
        """The venue's quote for ``sym`` as of frame time ``t_ns``: maker fills it causes."""
        if self.l3 is not None:
            self.l3.now = t_ns - self.delay_ns
        return self._maker_fills(self.book.on_quote(sym, quote), t_ns)

    def on_print(
        self, sym: int, aggressor: int, price: float, size: int, t_ns: int, quote: Quote | None = None
    ) -> list[Report]:
        """Another trader's print at frame time ``t_ns``: maker fills it causes. Where we rest midpoint
        pegs, the take met hidden midpoint liquidity with probability ``midpoint_share`` (at the mid of
        ``quote``, the venue's quote)."""
        if self.l3 is not None:
            self.l3.now = t_ns - self.delay_ns
        out = self._maker_fills(self.book.on_print(sym, aggressor, price, size), t_ns)
        if self.book.pegs.get(sym) and quote is not None and self.draws.uniform() < self.midpoint_share:
            mid = round((quote[1] + quote[2]) / 2, 6)
            out += self._maker_fills(self.book.on_midpoint_print(sym, aggressor, size, mid), t_ns, mid)
        return out

    def _maker_fills(self, fills: list[tuple[Resting, int]], t_ns: int, mid: float = 0.0) -> list[Report]:
        out: list[Report] = []
        rebate = self.spec.maker_rebate
        for r, qty in fills:
            r.leaves -= qty
            if r.leaves <= 0:
                self.book.remove(r.order.order_id)
            price = mid if r.peg else r.ticks / self.inv_tick
            self.fills += 1
            out.append(
                Report(r.order, FILL, t_ns - self.delay_ns, self.outbound(t_ns), qty, price, -rebate * qty,
                       r.q.shares_ahead, r.level, "MAKER")
            )  # fmt: skip
        return out
