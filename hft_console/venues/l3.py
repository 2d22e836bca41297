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

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hft_console.domain import Order, Quote
from hft_console.venues.queue import QueueModel
from hft_console.venues.resting import Fills, Resting, RestingBook

CANCEL, DELETE, EXECUTE, HIDDEN = 2, 3, 4, 5  # LOBSTER's message types
THROUGH, CROSSING = 10, 11  # an execution at a worse price than ours; the other side's order through ours
WALK_TICKS = 1000  # a take walks at most this many price levels past the touch


class L3Levels(Protocol):
    """A symbol's rebuilt book (market/l3book.py L3Book). Message indices run in time order; the
    ``lv_*`` arrays hold every level's messages grouped by level (``slot``), each with its type,
    shares (negative: removed), its order's priority (its submit's index; -1: in the first book) and
    the level's size after it."""

    lv_idx: np.ndarray
    lv_type: np.ndarray
    lv_delta: np.ndarray
    lv_prio: np.ndarray
    lv_after: np.ndarray
    init: np.ndarray
    #: resting side -> (index, price in ticks (float: a hidden one may print between ticks), shares, type)
    executions: dict[int, tuple[np.ndarray, ...]]
    #: side -> (index, price in ticks, shares) of the orders submitted on it
    submits: dict[int, tuple[np.ndarray, ...]]

    def index_at(self, t_ns: int) -> int: ...

    def slot(self, side: int, ticks: int) -> tuple[int, int, int]: ...

    def level(self, side: int, ticks: int, after: int) -> int: ...

    def halted(self, after: int) -> bool: ...


@dataclass(slots=True)
class Place:
    """One resting order's place in the real book: it joined after message ``joined``; the messages up
    to ``done`` are applied; the cursors are the next unread entry of its level's messages, of its
    side's executions and of the other side's submits."""

    joined: int
    done: int
    rank: int
    lv: int
    lv_end: int
    ex: int
    sub: int


class L3RestingBook(RestingBook):
    """``RestingBook`` whose orders sit in the real queues of ``books`` (symbol index -> L3Levels).
    ``now`` (venue frame ns) is set by the venue before each call."""

    def __init__(self, model: QueueModel, inv_tick: float, books: dict[int, L3Levels]) -> None:
        super().__init__(model, inv_tick)
        self.books = books
        self.now = 0
        self.placed: dict[int, Place] = {}  # order id -> its place
        self.taken: dict[tuple[int, int, int], list[int]] = {}  # (sym, side, ticks) -> [shares, seen to, taken at]

    def halted(self, sym: int) -> bool:
        book = self.books.get(sym)
        return book is not None and book.halted(book.index_at(self.now))

    def _join(self, r: Resting) -> None:
        book = self.books.get(r.sym)
        if book is None:
            return
        m = book.index_at(self.now)
        rank, start, end = book.slot(r.side, r.ticks)
        lv = start + int(book.lv_idx[start:end].searchsorted(m, side="right"))
        ahead = int(book.lv_after[lv - 1]) if lv > start else (int(book.init[rank]) if rank >= 0 else 0)
        ex = int(book.executions[r.side][0].searchsorted(m, side="right"))
        sub = int(book.submits[-r.side][0].searchsorted(m, side="right"))
        r.q = self.model.join(ahead)
        r.level = ahead
        self.placed[r.order.order_id] = Place(m, m, rank, lv, end, ex, sub)

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
        """Apply the real messages up to ``now`` to our orders in ``sym``: the fills they cause. Our
        orders meet a real message in price-time priority among themselves (best price first, then the
        earliest to join), and never for more shares than it had between them."""
        book = self.books.get(sym)
        rows = self.by_sym.get(sym)
        if book is None or not rows:
            return []
        hi = book.index_at(self.now)
        placed = self.placed
        due = []
        for r in rows:
            pl = placed.get(r.order.order_id)
            if pl is not None and pl.done < hi:
                due.append((r, pl))
        if not due:
            return []
        if len(due) > 1:
            due.sort(key=lambda rp: (-rp[0].side * rp[0].ticks, rp[1].joined, rp[0].order.order_id))
        used: dict[int, int] = {}  # message -> shares of it our orders took in this call
        fills: Fills = []
        for r, pl in due:
            got = self._advance(book, r, pl, hi, used)
            if got:
                fills.append((r, got))
        return fills

    def _advance(self, book: L3Levels, r: Resting, pl: Place, hi: int, used: dict[int, int]) -> int:
        """Messages up to ``hi`` against one order: the shares it fills (at most its leaves, at most what
        each message has left after our orders before it in priority, nothing while trading is halted)."""
        pl.done = hi
        events: list[tuple[int, int, int, int]] = []  # (message, what, shares, priority)
        lv_idx = book.lv_idx
        lv, end = pl.lv, pl.lv_end
        while lv < end and lv_idx.item(lv) <= hi:
            if book.lv_type.item(lv) != 1:  # a submit at our price is behind us
                events.append((lv_idx.item(lv), book.lv_type.item(lv), -book.lv_delta.item(lv), book.lv_prio.item(lv)))
            lv += 1
        if lv != pl.lv:
            r.level = int(book.lv_after[lv - 1])
        pl.lv = lv
        e_idx, e_ticks, e_size, e_type = book.executions[r.side]
        k, n, mine = pl.ex, e_idx.size, r.ticks
        while k < n and e_idx.item(k) <= hi:
            through = r.side * (mine - e_ticks.item(k))  # > 0: the execution was at a worse price than ours
            if through > 1e-9:
                events.append((e_idx.item(k), THROUGH, e_size.item(k), 0))
            elif through > -1e-9 and e_type.item(k) == HIDDEN:
                events.append((e_idx.item(k), HIDDEN, e_size.item(k), 0))
            k += 1
        pl.ex = k
        s_idx, s_ticks, s_size = book.submits[-r.side]
        k, n = pl.sub, s_idx.size
        while k < n and s_idx.item(k) <= hi:
            if r.side * (mine - s_ticks.item(k)) >= 0:  # the other side's order at or through our price
                events.append((s_idx.item(k), CROSSING, s_size.item(k), 0))
            k += 1
        pl.sub = k
        if not events:
            return 0
        events.sort()
        q, left, joined = r.q, r.leaves, pl.joined
        got = 0
        for i, what, shares, p in events:
            if left - got <= 0:
                break
            if what in (CANCEL, DELETE) and p <= joined:
                q.ahead = max(0.0, q.ahead - shares)
                continue
            if what == EXECUTE:
                if p <= joined and q.ahead > 0:
                    q.ahead = max(0.0, q.ahead - shares)
                    continue
                if p <= joined:
                    continue
                q.ahead = 0.0  # the queue reached an order behind us: nothing is ahead any more
            elif (what == HIDDEN and q.ahead > 0) or what not in (HIDDEN, THROUGH, CROSSING):
                continue  # displayed orders ahead trade before a hidden one; a cancel behind us moves nothing
            take = min(shares - used.get(i, 0), left - got)
            if take > 0 and not book.halted(i):
                used[i] = used.get(i, 0) + take
                got += take
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
            _, start, end = book.slot(key[1], key[2])
            idx = book.lv_idx[start:end]
            a, b = start + int(idx.searchsorted(seen, side="right")), start + int(idx.searchsorted(m, side="right"))
            for t, d, p in zip(book.lv_type[a:b].tolist(), book.lv_delta[a:b].tolist(), book.lv_prio[a:b].tolist(),
                               strict=True):  # fmt: skip
                if t == EXECUTE or (t in (CANCEL, DELETE) and p <= cut):
                    held += d  # d < 0: shares removed
            held = max(0, held)
            if held == 0:
                del self.taken[key]
            else:
                state[0], state[1] = held, m
        return held
