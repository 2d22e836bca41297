"""Our orders in the real order book of market-by-order data (LOBSTER): the exact FIFO queue.

A resting order joins its price level at its arrival behind every real order already there (all of
the level's shares after the last message at or before its arrival are ahead of it; a real order
that arrives later is behind it). The real flow then moves it, message by message:

- a real cancel or delete of an order that was ahead moves it up by that many shares; one behind it
  does not (NautilusTrader #4370 is the bug where any delete did);
- a real visible execution of an order ahead consumes the queue ahead; an execution of an order
  behind it means a taker reached past it: it fills first, up to the execution's size;
- an execution on its side at a worse price (visible or hidden) went through its level: it fills up
  to that size; a hidden execution at its own price reaches it only once nothing is ahead (displayed
  orders trade before hidden ones at a price);
- a real order submitted on the other side at or through its price would have traded with it: it
  fills up to that order's size.

The real flow does not react to us (the historical messages stay as they are: a fill of ours takes
nothing from the orders behind us in the data). Queue state is brought up to date lazily, whenever a
quote or a print of the symbol reaches the venue, and before our own cancel or replace is handled.

A taking order walks the real levels from the touch out to its limit. What it took stays taken: the
level shows that much less to our next take until the real flow removes the orders we took (real
executions at the level, and cancels of orders that were there when we took); new orders behind them
are there to take. (The data cannot show what the real takers would have done without those shares.)
"""

from __future__ import annotations

from typing import Protocol

from hft_console.domain import Order, Quote
from hft_console.venues.queue import QueueModel
from hft_console.venues.resting import Fills, Resting, RestingBook

CANCEL, DELETE, EXECUTE, HIDDEN = 2, 3, 4, 5
WALK_TICKS = 1000  # a take walks at most this many price levels past the touch


class L3Levels(Protocol):
    """A symbol's rebuilt book (market/l3book.py L3Book); message indices run in time order."""

    ts: object

    def index_at(self, t_ns: int) -> int: ...

    def level(self, side: int, ticks: int, after: int) -> int: ...

    def level_events(
        self, side: int, ticks: int, lo: int, hi: int
    ) -> tuple[list[int], list[int], list[int], list[int]]: ...

    def executions(self, lo: int, hi: int) -> tuple[list[int], list[int], list[float], list[int], list[int]]: ...

    def submits(self, lo: int, hi: int) -> tuple[list[int], list[int], list[int], list[int]]: ...

    def halted(self, after: int) -> bool: ...


class L3RestingBook(RestingBook):
    """``RestingBook`` whose orders sit in the real queues of ``books`` (symbol index -> L3Levels).
    ``now`` (venue frame ns) is set by the venue before each call."""

    def __init__(self, model: QueueModel, inv_tick: float, books: dict[int, L3Levels]) -> None:
        super().__init__(model, inv_tick)
        self.books = books
        self.now = 0
        self.placed: dict[int, list[int]] = {}  # order id -> [joined after message, caught up to message]
        self.taken: dict[tuple[int, int, int], list[int]] = {}  # (sym, side, ticks) -> [shares, seen to, taken at]

    def at(self, sym: int) -> int:
        book = self.books.get(sym)
        return book.index_at(self.now) if book is not None else -1

    def halted(self, sym: int) -> bool:
        book = self.books.get(sym)
        return book is not None and book.halted(book.index_at(self.now))

    def _join(self, r: Resting) -> None:
        book = self.books.get(r.sym)
        if book is None:
            return
        m = book.index_at(self.now)
        ahead = book.level(r.side, r.ticks, m)
        r.q = self.model.join(ahead)
        r.level = ahead
        self.placed[r.order.order_id] = [m, m]

    def add(self, order: Order, sym: int, quote: Quote | None, behind_touch_shares: int) -> Resting:
        r = super().add(order, sym, quote, behind_touch_shares)
        self._join(r)
        return r

    def remove(self, order_id: int) -> Resting | None:
        self.placed.pop(order_id, None)
        return super().remove(order_id)

    def reprice(self, r: Resting, price: float, qty: int, quote: Quote | None, behind_touch_shares: int) -> None:
        ticks = self.ticks(price)
        leaves = qty - (r.qty - r.leaves)
        moved = ticks != r.ticks or leaves > r.leaves
        super().reprice(r, price, qty, quote, behind_touch_shares)
        if moved:
            self._join(r)

    def on_quote(self, sym: int, quote: Quote) -> Fills:
        return self.catch_up(sym)

    def on_print(self, sym: int, aggressor: int, price: float, size: int) -> Fills:
        return self.catch_up(sym)

    def catch_up(self, sym: int) -> Fills:
        """Apply the real messages up to ``now`` to our orders in ``sym``: the fills they cause."""
        book = self.books.get(sym)
        rows = self.by_sym.get(sym)
        if book is None or not rows:
            return []
        hi = book.index_at(self.now)
        fills: Fills = []
        for r in list(rows):
            state = self.placed.get(r.order.order_id)
            if state is None or state[1] >= hi:
                continue
            got = self._advance(book, r, state[0], state[1], hi)
            state[1] = hi
            if got:
                fills.append((r, got))
        return fills

    def _advance(self, book: L3Levels, r: Resting, joined: int, lo: int, hi: int) -> int:
        """Messages (lo, hi] against one order: shares it fills (at most its leaves)."""
        events: list[tuple[int, int, int, int]] = []  # (message, what, shares, priority)
        idx, typ, size, prio = book.level_events(r.side, r.ticks, lo, hi)
        events += [(i, t, s, p) for i, t, s, p in zip(idx, typ, size, prio, strict=True) if t != 1]
        e_idx, e_side, e_ticks, e_size, e_type = book.executions(lo, hi)
        for i, side, ticks, s, t in zip(e_idx, e_side, e_ticks, e_size, e_type, strict=True):
            if side != r.side:
                continue
            through = r.side * (r.ticks - ticks)  # > 0: the execution was at a worse price than ours
            if through > 1e-9:
                events.append((i, 10, s, 0))
            elif t == HIDDEN and abs(through) <= 1e-9:
                events.append((i, HIDDEN, s, 0))
        s_idx, s_side, s_ticks, s_size = book.submits(lo, hi)
        for i, side, ticks, s in zip(s_idx, s_side, s_ticks, s_size, strict=True):
            if side == -r.side and r.side * (r.ticks - ticks) >= 0:
                events.append((i, 11, s, 0))
        if not events:
            return 0
        events.sort()
        q, left = r.q, r.leaves
        got = 0
        for _, what, shares, p in events:
            if left - got <= 0:
                break
            if what in (CANCEL, DELETE) and p <= joined:
                q.ahead = max(0.0, q.ahead - shares)
            elif what == EXECUTE:
                if p <= joined and q.ahead > 0:
                    q.ahead = max(0.0, q.ahead - shares)
                elif p > joined:  # the queue reached an order behind us: nothing is ahead any more
                    q.ahead = 0.0
                    got += min(shares, left - got)
            elif what == HIDDEN:
                if q.ahead <= 0:
                    got += min(shares, left - got)
            elif what in (10, 11):
                got += min(shares, left - got)
        r.level = book.level(r.side, r.ticks, hi)
        return got

    # -- takes ---------------------------------------------------------------------------------------
    def walk(self, sym: int, side: int, touch: int, limit: int, qty: int) -> list[tuple[int, int]]:
        """A take of ``qty`` on ``side`` (+1 buys from the asks) from the touch (ticks) out to ``limit``:
        (shares, ticks) per level it filled at, less what our earlier takes still hold there."""
        book = self.books.get(sym)
        if book is None:
            return []
        m = book.index_at(self.now)
        rest_side = -side
        fills: list[tuple[int, int]] = []
        left = qty
        ticks = touch
        for _ in range(WALK_TICKS):
            if left <= 0 or side * (ticks - limit) > 0:
                break
            shown = book.level(rest_side, ticks, m)
            if shown > 0:
                key = (sym, rest_side, ticks)
                held = self._held(book, key, m)
                take = min(left, shown - held)
                if take > 0:
                    fills.append((take, ticks))
                    left -= take
                    self.taken[key] = [held + take, m, m]
            ticks += side
        return fills

    def _held(self, book: L3Levels, key: tuple[int, int, int], m: int) -> int:
        """Shares our earlier takes still hold at a level: less the real removals of orders that were
        there when we last took (executions at the level, cancels of orders submitted by then)."""
        state = self.taken.get(key)
        if state is None:
            return 0
        held, seen, cut = state
        if m > seen:
            _, typ, size, prio = book.level_events(key[1], key[2], seen, m)
            for t, s, p in zip(typ, size, prio, strict=True):
                if t == EXECUTE or (t in (CANCEL, DELETE) and p <= cut):
                    held -= s
            held = max(0, held)
            if held == 0:
                del self.taken[key]
            else:
                state[0], state[1] = held, m
        return held
