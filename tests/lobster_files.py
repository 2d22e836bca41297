"""LOBSTER-format files made by the tests, with the orderbook written by a plain per-order book.

The reference book here is deliberately the obvious one (a dict of orders, levels summed on demand),
so the rebuilt book under test (market/l3book.py, array work) is checked against an independent
implementation, not against itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ASK_EMPTY, BID_EMPTY = 9_999_999_999, -9_999_999_999
Msg = tuple[float, int, int, int, int, int]  # time s, type, order id, size, price (x 10000), direction


class RefBook:
    """Orders by id: [price, shares, direction]; initial orders may be given."""

    def __init__(self, initial: dict[int, list[int]] | None = None) -> None:
        self.orders: dict[int, list[int]] = {k: list(v) for k, v in (initial or {}).items()}

    def apply(self, m: Msg) -> None:
        _, typ, oid, size, price, d = m
        if typ == 1:
            self.orders[oid] = [price, size, d]
        elif typ in (2, 4):
            self.orders[oid][1] -= size
            if self.orders[oid][1] <= 0:
                del self.orders[oid]
        elif typ == 3:
            del self.orders[oid]

    def levels(self, d: int, n: int) -> list[tuple[int, int]]:
        sizes: dict[int, int] = {}
        for p, s, dd in self.orders.values():
            if dd == d:
                sizes[p] = sizes.get(p, 0) + s
        prices = sorted(sizes, reverse=d > 0)[:n]
        return [(p, sizes[p]) for p in prices]

    def row(self, n: int) -> str:
        asks, bids = self.levels(-1, n), self.levels(1, n)
        out = []
        for i in range(n):
            ap, as_ = asks[i] if i < len(asks) else (ASK_EMPTY, 0)
            bp, bs = bids[i] if i < len(bids) else (BID_EMPTY, 0)
            out += [ap, as_, bp, bs]
        return ",".join(str(x) for x in out)


def write_lobster(
    folder: Path,
    messages: list[Msg],
    symbol: str = "TEST",
    levels: int = 2,
    initial: dict[int, list[int]] | None = None,
    book: bool = True,
    date: str = "2024-01-02",
) -> Path:
    """The message file (and, with ``book``, its orderbook) for ``messages``; the message file's path.
    ``initial``: orders already in the book before the first message (order id -> [price, size, dir])."""
    ref = RefBook(initial)
    msg_lines, book_lines = [], []
    for m in messages:
        ref.apply(m)
        t, typ, oid, size, price, d = m
        msg_lines.append(f"{t:.9f},{typ},{oid},{size},{price},{d}")
        book_lines.append(ref.row(levels))
    stem = f"{symbol}_{date}_34200000_57600000"
    path = folder / f"{stem}_message_{levels}.csv"
    path.write_text("\n".join(msg_lines) + "\n")
    if book:
        (folder / f"{stem}_orderbook_{levels}.csv").write_text("\n".join(book_lines) + "\n")
    return path


def random_messages(seed: int, n: int) -> tuple[list[Msg], dict[int, list[int]]]:
    """A realistic-looking stream: submits around the touch, partial cancels, deletes, executions of the
    oldest order at the best price (time priority), hidden executions, a halt and its resumption; the
    book starts with orders submitted before the file (ids never seen in it)."""
    rng = np.random.default_rng(seed)
    initial = {1: [1_000_000, 300, 1], 2: [999_900, 200, 1], 3: [1_000_200, 250, -1], 4: [1_000_300, 100, -1]}
    ref = RefBook(initial)
    out: list[Msg] = []
    t, oid = 34_200.0, 10
    halted_at = n // 2
    for i in range(n):
        t += float(rng.exponential(0.01))
        if i == halted_at:
            out.append((t, 7, 0, 0, -1, -1))
            continue
        if i == halted_at + 1:
            out.append((t, 7, 0, 0, 1, -1))
            continue
        bids = [k for k, v in ref.orders.items() if v[2] > 0]
        asks = [k for k, v in ref.orders.items() if v[2] < 0]
        u = rng.random()
        if u < 0.45 or len(bids) < 2 or len(asks) < 2:
            d = 1 if rng.random() < 0.5 else -1
            best_bid = max((ref.orders[k][0] for k in bids), default=999_800)
            best_ask = min((ref.orders[k][0] for k in asks), default=1_000_400)
            price = best_bid - 100 * int(rng.integers(-1, 4)) if d > 0 else best_ask + 100 * int(rng.integers(-1, 4))
            price = min(price, best_ask - 100) if d > 0 else max(price, best_bid + 100)
            m: Msg = (t, 1, oid, int(rng.integers(1, 5)) * 100, price, d)
            oid += 1
        elif u < 0.6:
            k = int(rng.choice(bids + asks))
            p, s, d = ref.orders[k]
            m = (t, 2, k, max(1, s // 3), p, d) if s > 1 else (t, 3, k, s, p, d)
        elif u < 0.75:
            k = int(rng.choice(bids + asks))
            p, s, d = ref.orders[k]
            m = (t, 3, k, s, p, d)
        elif u < 0.93:
            d = 1 if rng.random() < 0.5 else -1
            side = bids if d > 0 else asks
            best = (max if d > 0 else min)(ref.orders[k][0] for k in side)
            k = min(k for k in side if ref.orders[k][0] == best and k >= 0) if any(
                ref.orders[k][0] == best for k in side) else side[0]  # fmt: skip
            p, s, _ = ref.orders[k]
            m = (t, 4, k, int(min(s, rng.integers(1, 300))), p, d)
        else:
            m = (t, 5, 0, int(rng.integers(1, 100)), 1_000_050, 1 if rng.random() < 0.5 else -1)
        ref.apply(m)
        out.append(m)
    return out, initial
