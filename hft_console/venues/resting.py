"""Our orders resting in one venue's book, and what the venue's market does to them.

A resting order joins the back of its price level (``venues/queue.py`` estimates its place). It
fills as a maker when:

- a trade print at its price reaches it through the queue ahead (``on_print``);
- a print at a worse price (a seller at 99.99 while we bid 100.00) went through our level: the
  trader would have met us first, so we fill up to the print's size;
- the venue's quote crosses our price (its ask at or below our bid): the level was traded through,
  every share of ours fills (as hftbacktest does on a best-price update).

Prices are compared in whole ticks. The venue's displayed size never includes our own order.

A midpoint peg (where the venue offers them) shows nothing and has no price level: it waits behind
the venue's typical depth of others' hidden pegs, and fills at the venue's midpoint when a taker
meets hidden midpoint liquidity there (``on_midpoint_print``), never beyond its cap (``limit``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hft_console.domain import Order, Quote
from hft_console.venues.queue import QueueModel, QueuePosition

Fills = list[tuple["Resting", int]]


@dataclass(slots=True)
class Resting:
    order: Order
    sym: int
    side: int  # +1 a bid, -1 an offer
    ticks: int  # its price in ticks
    qty: int  # its size as the venue knows it (a replace changes it)
    leaves: int  # shares still working: ``qty`` less what has executed
    q: QueuePosition
    level: int  # displayed size at its price as last seen (-1: not visible, behind the touch)
    peg: bool = False  # a midpoint peg: hidden, at the venue's midpoint, its queue among other hidden pegs


class RestingBook:
    """One venue's resting orders of ours, by symbol. ``inv_tick`` = 1 / tick size."""

    def __init__(self, model: QueueModel, inv_tick: float) -> None:
        self.model, self.inv_tick = model, inv_tick
        self.by_id: dict[int, Resting] = {}
        self.by_sym: dict[int, list[Resting]] = {}  # priced orders (pegs are apart: no price to compare)
        self.pegs: dict[int, list[Resting]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def ticks(self, price: float) -> int:
        return round(price * self.inv_tick)

    def level_shares(self, side: int, ticks: int, quote: Quote | None) -> int:
        """Others' displayed shares at ``ticks`` on our ``side``: the touch's size there, 0 when our price
        is better than the touch (we would be alone), -1 when it is behind the touch (not shown)."""
        if quote is None:
            return -1
        touch = self.ticks(quote[1] if side > 0 else quote[2])
        if touch == ticks:
            return quote[3] if side > 0 else quote[4]
        return 0 if side * (ticks - touch) > 0 else -1

    def crosses(self, side: int, ticks: int, quote: Quote | None) -> bool:
        """Whether the venue's opposite touch is at or through ``ticks`` (an order there would take)."""
        if quote is None:
            return False
        other = self.ticks(quote[2] if side > 0 else quote[1])
        return side * (ticks - other) >= 0

    def add(self, order: Order, sym: int, quote: Quote | None, behind_touch_shares: int) -> Resting:
        """Join the back of the order's level. ``behind_touch_shares``: what is assumed ahead at a price
        behind the touch, where the feed shows nothing (the venue's typical depth)."""
        side = int(order.side)
        ticks = self.ticks(order.limit)
        level = self.level_shares(side, ticks, quote)
        q = self.model.join(level if level >= 0 else behind_touch_shares)
        r = Resting(order, sym, side, ticks, order.qty, order.qty, q, level)
        self.by_id[order.order_id] = r
        self.by_sym.setdefault(sym, []).append(r)
        return r

    def add_peg(self, order: Order, sym: int, hidden_ahead: int) -> Resting:
        """A midpoint peg: behind ``hidden_ahead`` shares of others' hidden pegs (the feed shows none)."""
        r = Resting(order, sym, int(order.side), 0, order.qty, order.qty, self.model.join(hidden_ahead), -1, True)
        self.by_id[order.order_id] = r
        self.pegs.setdefault(sym, []).append(r)
        return r

    def count(self, sym: int) -> int:
        """Our orders resting in ``sym`` here, pegs included."""
        return len(self.by_sym.get(sym, ())) + len(self.pegs.get(sym, ()))

    def on_midpoint_print(self, sym: int, aggressor: int, size: int, mid: float) -> Fills:
        """Another trader's take of ``size`` that met hidden midpoint liquidity at ``mid``: our pegs on the
        met side, oldest first, take what reaches them through the hidden queue, within their caps."""
        fills: Fills = []
        left = size
        for r in sorted(self.pegs.get(sym, ()), key=lambda r: r.order.order_id):
            if left <= 0:
                break
            if r.side != -aggressor or r.side * (mid - r.order.limit) > 1e-9:
                continue
            take = min(self.model.on_trade(r.q, left), r.leaves)
            if take > 0:
                fills.append((r, take))
                left -= take
        return fills

    def remove(self, order_id: int) -> Resting | None:
        r = self.by_id.pop(order_id, None)
        if r is not None:
            book = self.pegs if r.peg else self.by_sym
            rows = book[r.sym]
            rows.remove(r)
            if not rows:
                del book[r.sym]
        return r

    def reprice(self, r: Resting, price: float, qty: int, quote: Quote | None, behind_touch_shares: int) -> None:
        """A replace to ``qty`` shares in all (more than have executed) at ``price``: a new price or a
        larger size goes to the back of the (new) level; a smaller size at the same price keeps its place
        (exchange rules)."""
        ticks = self.ticks(price)
        leaves = qty - (r.qty - r.leaves)
        if ticks != r.ticks or leaves > r.leaves:
            level = self.level_shares(r.side, ticks, quote)
            r.q = self.model.join(level if level >= 0 else behind_touch_shares)
            r.ticks, r.level = ticks, level
        r.qty, r.leaves = qty, leaves

    def on_quote(self, sym: int, quote: Quote) -> Fills:
        """The venue's quote for ``sym`` changed: queue estimates follow the displayed size at our price;
        a quote through our price fills us. Returns (order, shares) filled, at the order's price."""
        fills: Fills = []
        for r in self.by_sym.get(sym, ()):
            if self.crosses(r.side, r.ticks, quote):
                fills.append((r, r.leaves))
                continue
            level = self.level_shares(r.side, r.ticks, quote)
            if level >= 0:
                if r.level >= 0:
                    self.model.on_level(r.q, r.level, level)
                else:  # the level came back into view: the queue ahead is at most what is shown
                    self.model.on_level(r.q, level, level)
                r.level = level
            else:
                r.level = -1
        return fills

    def on_print(self, sym: int, aggressor: int, price: float, size: int) -> Fills:
        """Another trader's trade of ``size`` at ``price``; ``aggressor`` +1 a buyer (meets offers), -1 a
        seller (meets bids). Our orders on the met side, best price first, take what reaches them."""
        rows = [r for r in self.by_sym.get(sym, ()) if r.side == -aggressor]
        if not rows:
            return []
        ticks = self.ticks(price)
        fills: Fills = []
        left = size
        rows.sort(key=lambda r: (r.side * -r.ticks, r.order.order_id))  # best price first, then time
        for r in rows:
            if left <= 0:
                break
            through = r.side * (r.ticks - ticks)  # > 0: the print is at a worse price than ours
            if through > 0:
                take = min(left, r.leaves)
            elif through == 0:
                take = min(self.model.on_trade(r.q, left), r.leaves)
            else:
                continue
            if take > 0:
                fills.append((r, take))
                left -= take
        return fills
