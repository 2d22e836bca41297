"""LOBSTER-format files made by the tests, with the orderbook written by a plain per-order book.

The reference book here is deliberately the obvious one (a dict of orders, levels summed on demand),
so the rebuilt book under test (market/l3book.py, array work) is checked against an independent
implementation, not against itself.
"""

from __future__ import annotations

from pathlib import Path

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
