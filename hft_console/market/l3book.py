"""One symbol's order book rebuilt from market-by-order messages, and the questions a venue asks of it.

The rebuild is array work (numpy): each visible message (submit, partial cancel, delete, visible
execution) adds or removes shares at its (side, price) level; grouping the messages by level and
summing gives every level's size after every message. Only the best prices need a loop, over the
messages where a level appears or empties. Each message that touches an order carries that order's
priority: the index of its submit message (-1: an order already in the book when the file starts).

Orders in the book before the first message are known from the orderbook file's first row (less the
first message's own effect). A message for an order id never submitted is accepted at a price the
first row lists, or beyond its deepest level (depth the file does not show); anywhere else it is
counted (``unknown_order``) and not applied. Without an orderbook file the first book is unknown: every
such message is accepted and the least depth that explains them is assumed.

Checks: where the orderbook file is present, each row is compared with the rebuilt book after the same
message: the best price on each side (a placeholder row means an empty side) and the size at every
price level the row lists. ``mismatch_rows`` are the 0-based rows that differ.

Prices are in ticks of the symbol's grid (``unit`` = LOBSTER price units per tick); a hidden execution
may print between two ticks (a midpoint), so executions keep a float tick price.
"""

from __future__ import annotations

import heapq

import numpy as np

from hft_console.market.lobster_read import ASK_EMPTY, BID_EMPTY, LobsterFile

NONE_BID, NONE_ASK = np.iinfo(np.int64).min, np.iinfo(np.int64).max  # an empty side's best price
SIDE_SPAN = 1 << 40  # key = side offset + price in ticks: bids below, asks above


class L3Book:
    """One symbol-day's rebuilt book. ``ts``: each message's time in ns of the venue's frame (session
    time, before any feed delay), non-decreasing. Raises nothing: bad files are refused when read."""

    def __init__(self, f: LobsterFile, ts: np.ndarray, unit: int) -> None:
        self.ts = ts
        self.n = n = int(ts.size)
        typ, size, d = f.type, f.size, f.direction.astype(np.int64)
        self.ticks = f.price // unit  # visible prices are on the grid (checked when read)
        self.exec_ticks_f = f.price / unit
        vis = np.isin(typ, (1, 2, 3, 4))
        prio = self._priorities(f, vis)
        self.unknown_order, self.first_unknown = 0, -1
        init = self._first_book(f, unit, vis, prio)
        self.counts = {int(k): int(v) for k, v in zip(*np.unique(typ, return_counts=True), strict=True)}
        self._levels(f, vis, prio, init, unit)
        self._best()
        self.mismatch_rows = self._check(f, unit) if f.book is not None else np.zeros(0, dtype=np.int64)
        self.checked = n if f.book is not None else 0
        # per resting side: executions (visible and hidden) of its orders, and submits on it
        self.executions: dict[int, tuple[np.ndarray, ...]] = {}
        self.submits: dict[int, tuple[np.ndarray, ...]] = {}
        for side in (1, -1):
            ex = np.flatnonzero(np.isin(typ, (4, 5)) & (d == side))
            self.executions[side] = (ex, self.exec_ticks_f[ex], size[ex], typ[ex].astype(np.int64))
            sub = np.flatnonzero((typ == 1) & (d == side))
            self.submits[side] = (sub, self.ticks[sub], size[sub])
        halts = np.flatnonzero(typ == 7)
        # halted from a halt message (price -1) until trading resumes (price 1); quoting resumes (0) first
        state = np.where(f.price[halts] == -1, 1, np.where(f.price[halts] == 1, 0, -1))
        keep = state >= 0
        self.halt_idx, self.halt_state = halts[keep], state[keep]

    # -- the rebuild --------------------------------------------------------------------------------
    def _priorities(self, f: LobsterFile, vis: np.ndarray) -> np.ndarray:
        """Each message's order priority: its submit's index; -1 for an order never submitted here."""
        n, typ, oid = self.n, f.type, f.order_id
        idx = np.arange(n)
        sub = np.flatnonzero(typ == 1)
        order = np.argsort(oid[sub], kind="stable")
        so, si = oid[sub][order], sub[order]
        self.duplicate_order = int(np.count_nonzero(so[1:] == so[:-1]))
        prio = np.full(n, -1, dtype=np.int64)
        if so.size:
            pos = np.minimum(np.searchsorted(so, oid), so.size - 1)
            found = (so[pos] == oid) & (si[pos] <= idx) & vis
            prio[found] = si[pos][found]
        prio[typ == 1] = idx[typ == 1]
        return prio

    def _first_book(self, f: LobsterFile, unit: int, vis: np.ndarray, prio: np.ndarray) -> dict[int, int]:
        """Level key -> shares in the book before message 0 (from the orderbook's first row), and which
        messages for never-submitted orders it cannot explain (set to no effect, counted)."""
        self.delta = np.where(f.type == 1, f.size, -f.size) * vis
        self.keys = np.where(f.direction > 0, 0, SIDE_SPAN) + self.ticks
        if f.book is None:
            return {}
        row = f.book[0]
        init: dict[int, int] = {}
        deep = {1: NONE_BID, -1: NONE_ASK}  # beyond this price the file does not show the depth
        for side, pcol in ((-1, 0), (1, 2)):
            prices, sizes = row[pcol::4], row[pcol + 1 :: 4]
            real = (prices != ASK_EMPTY) & (prices != BID_EMPTY) & (sizes > 0)
            for p, s in zip(prices[real].tolist(), sizes[real].tolist(), strict=True):
                init[(0 if side > 0 else SIDE_SPAN) + p // unit] = s
            if real.all() and real.size:
                deep[side] = int(prices[-1] // unit)
        if vis[0]:  # the first row is the book after message 0: undo it
            k, d0 = int(self.keys[0]), int(self.delta[0])
            if k in init:
                init[k] -= d0
            elif d0 < 0:  # it emptied a level within the depth the row shows: the level held just that
                t0, side0 = int(self.ticks[0]), int(f.direction[0])
                if not (t0 < deep[1] if side0 > 0 else t0 > deep[-1]):
                    init[k] = -d0
        unseen = np.flatnonzero(vis & (prio < 0))
        if unseen.size:
            k, d, t = self.keys[unseen], f.direction[unseen], self.ticks[unseen]
            known = np.isin(k, np.fromiter(init, dtype=np.int64, count=len(init)))
            beyond = np.where(d > 0, t < deep[1], t > deep[-1])
            bad = unseen[~known & ~beyond]
            self.unknown_order = int(bad.size)
            self.first_unknown = int(bad[0]) if bad.size else -1
            self.delta[bad] = 0
        return init

    def _levels(self, f: LobsterFile, vis: np.ndarray, prio: np.ndarray, init: dict[int, int], unit: int) -> None:
        """Every level's size after every message that changed it, grouped by level (``lv_*``)."""
        vi = np.flatnonzero(self.delta != 0)
        init_keys = np.fromiter(init, dtype=np.int64, count=len(init))
        seen_keys, seen_rows, seen_sizes = self._first_shown(f, unit, init_keys)
        self.uniq = np.unique(np.concatenate([self.keys[vi], init_keys, seen_keys]))
        rank = np.searchsorted(self.uniq, self.keys[vi])
        order = np.argsort(rank, kind="stable")
        self.lv_rank, self.lv_idx = rank[order], vi[order]
        self.lv_delta, self.lv_type, self.lv_prio = self.delta[self.lv_idx], f.type[self.lv_idx], prio[self.lv_idx]
        cs = np.cumsum(self.lv_delta)
        counts = np.bincount(self.lv_rank, minlength=self.uniq.size)
        self.lv_start = np.concatenate([[0], np.cumsum(counts)])
        starts = self.lv_start[:-1][counts > 0]
        base = np.zeros(self.uniq.size, dtype=np.int64)
        base[counts > 0] = cs[starts] - self.lv_delta[starts]
        within = cs - base[self.lv_rank]
        self.code = self.lv_rank * (self.n + 1) + self.lv_idx  # ascending: by level, then by message
        self.init = np.zeros(self.uniq.size, dtype=np.int64)
        self.init[np.searchsorted(self.uniq, init_keys)] = np.fromiter(init.values(), dtype=np.int64, count=len(init))
        low = np.zeros(self.uniq.size, dtype=np.int64)
        if within.size:
            low[counts > 0] = np.minimum.reduceat(within, starts)
        given = np.isin(self.uniq, init_keys)
        # a level the first row does not show holds at least what later messages take from it ...
        self.init[~given] = np.maximum(0, -low[~given])
        if seen_keys.size:  # ... and, once a later row shows it, what that row shows less what came since
            r = np.searchsorted(self.uniq, seen_keys)
            p = np.searchsorted(self.code, r * (self.n + 1) + seen_rows, side="right") - 1
            same = (p >= 0) & (self.lv_rank[np.maximum(p, 0)] == r) if self.code.size else np.zeros(r.size, bool)
            since = np.where(same, within[np.maximum(p, 0)] if within.size else 0, 0)
            self.init[r] = np.maximum(0, seen_sizes - since)
        self.lv_after = self.init[self.lv_rank] + within

    @staticmethod
    def _first_shown(f: LobsterFile, unit: int, init_keys: np.ndarray) -> tuple[np.ndarray, ...]:
        """Levels the orderbook's first row does not show but a later one does (orders from before the
        file, deeper than its first row): (key, the first row showing it, the size shown there)."""
        if f.book is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        keys, rows, sizes = [], [], []
        for side, pcol, empty in ((-1, 0, ASK_EMPTY), (1, 2, BID_EMPTY)):
            for col in range(pcol, f.book.shape[1], 4):
                price = f.book[:, col]
                at = np.flatnonzero(np.r_[True, price[1:] != price[:-1]] & (price != empty))  # where a price enters
                keys.append((0 if side > 0 else SIDE_SPAN) + price[at] // unit)
                rows.append(at)
                sizes.append(f.book[at, col + 1])
        k, r, z = np.concatenate(keys), np.concatenate(rows), np.concatenate(sizes)
        new = ~np.isin(k, init_keys)
        k, r, z = k[new], r[new], z[new]
        order = np.lexsort((r, k))
        k, r, z = k[order], r[order], z[order]
        first = np.r_[True, k[1:] != k[:-1]] if k.size else np.zeros(0, bool)
        return k[first], r[first], z[first]

    def _best(self) -> None:
        """The best bid and ask (ticks; NONE_* when a side is empty) after every message."""
        prev = np.where(np.r_[True, self.lv_rank[1:] != self.lv_rank[:-1]], self.init[self.lv_rank],
                        np.r_[0, self.lv_after[:-1]])  # fmt: skip
        flip = np.flatnonzero((prev > 0) != (self.lv_after > 0))
        order = np.argsort(self.lv_idx[flip], kind="stable")
        flip = flip[order]
        t_idx = self.lv_idx[flip]
        keys = self.uniq[self.lv_rank[flip]].tolist()
        on = (self.lv_after[flip] > 0).tolist()
        live = set(self.uniq[self.init > 0].tolist())
        bids = [-k for k in live if k < SIDE_SPAN]
        asks = [k for k in live if k >= SIDE_SPAN]
        heapq.heapify(bids)
        heapq.heapify(asks)
        best_bid = np.empty(len(keys) + 1, dtype=np.int64)
        best_ask = np.empty(len(keys) + 1, dtype=np.int64)
        push, pop = heapq.heappush, heapq.heappop
        for j in range(len(keys) + 1):
            if j:
                k = keys[j - 1]
                if on[j - 1]:
                    live.add(k)
                    push(bids, -k) if k < SIDE_SPAN else push(asks, k)
                else:
                    live.discard(k)
            while bids and -bids[0] not in live:
                pop(bids)
            while asks and asks[0] not in live:
                pop(asks)
            best_bid[j] = -bids[0] if bids else NONE_BID
            best_ask[j] = asks[0] - SIDE_SPAN if asks else NONE_ASK
        at = np.searchsorted(t_idx, np.arange(self.n), side="right")  # transitions up to each message
        self.best_bid, self.best_ask = best_bid[at], best_ask[at]
        self.bid_size = np.where(self.best_bid != NONE_BID, self.sizes(self.best_bid, np.arange(self.n)), 0)
        ask_keys = np.where(self.best_ask != NONE_ASK, self.best_ask + SIDE_SPAN, 0)
        self.ask_size = np.where(self.best_ask != NONE_ASK, self.sizes(ask_keys, np.arange(self.n)), 0)

    def sizes(self, keys: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Shares at level ``keys`` (side offset + ticks) after message ``after`` (-1: before message 0)."""
        rank = np.minimum(np.searchsorted(self.uniq, keys), max(self.uniq.size - 1, 0))
        if not self.uniq.size:
            return np.zeros(np.shape(keys), dtype=np.int64)
        exists = self.uniq[rank] == keys
        p = np.searchsorted(self.code, rank * (self.n + 1) + after, side="right") - 1
        same = (p >= 0) & (self.lv_rank[np.maximum(p, 0)] == rank) if self.code.size else np.zeros_like(exists)
        out = np.where(same, self.lv_after[np.maximum(p, 0)] if self.code.size else 0, self.init[rank])
        return np.where(exists, out, 0)

    def _check(self, f: LobsterFile, unit: int) -> np.ndarray:
        """Rows where the rebuilt book differs from the orderbook file's."""
        assert f.book is not None
        book, idx = f.book, np.arange(self.n)
        bad = np.zeros(self.n, dtype=bool)
        for side, pcol, empty, best in ((-1, 0, ASK_EMPTY, self.best_ask), (1, 2, BID_EMPTY, self.best_bid)):
            none = NONE_ASK if side < 0 else NONE_BID
            top = book[:, pcol]
            bad |= np.where(top == empty, best != none, best != top // unit)
            for col in range(pcol, book.shape[1], 4):
                price, size = book[:, col], book[:, col + 1]
                real = price != empty
                keys = (0 if side > 0 else SIDE_SPAN) + np.where(real, price // unit, 0)
                bad |= real & (self.sizes(keys, idx) != size)
        return np.flatnonzero(bad)

    # -- what a venue asks --------------------------------------------------------------------------
    def index_at(self, t_ns: int) -> int:
        """The last message at or before ``t_ns`` (venue frame); -1 before the first."""
        return int(self.ts.searchsorted(t_ns, side="right")) - 1

    def slot(self, side: int, ticks: int) -> tuple[int, int, int]:
        """A level's (rank, start, end) in the ``lv_*`` arrays; rank -1 (empty slice) for a level no
        message ever touched and the first book did not hold."""
        key = (0 if side > 0 else SIDE_SPAN) + ticks
        r = int(self.uniq.searchsorted(key))
        if r >= self.uniq.size or int(self.uniq[r]) != key:
            return -1, 0, 0
        return r, int(self.lv_start[r]), int(self.lv_start[r + 1])

    def level(self, side: int, ticks: int, after: int) -> int:
        """Others' shares at ``ticks`` on ``side`` (+1 bids, -1 asks) after message ``after``."""
        r, start, end = self.slot(side, ticks)
        if r < 0:
            return 0
        p = start + int(self.lv_idx[start:end].searchsorted(after, side="right")) - 1
        return int(self.lv_after[p]) if p >= start else int(self.init[r])

    def halted(self, after: int) -> bool:
        """Whether trading is halted after message ``after``."""
        k = int(np.searchsorted(self.halt_idx, after, side="right")) - 1
        return k >= 0 and bool(self.halt_state[k] == 1)
