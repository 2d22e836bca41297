"""LOBSTER market-by-order data as a market source (``--data lobster:PATH``).

PATH is a LOBSTER message file (its orderbook file is found beside it by LOBSTER's naming, see
lobster_read.py) or a folder of them; each names its symbol and day. Several, comma-separated, each
``PATH@VENUE`` where its books are at another configured venue than ``data.l3_venue`` (default: the
venue named like Nasdaq). Each file's book is rebuilt message by message (l3book.py); one file per
symbol and venue; every symbol and venue merges by time.

What the engine sees: the venue's top of book whenever its price or size changes on either side (a
book with an empty side shows no quote; counted), and every execution as a trade print: a visible or
hidden execution's aggressor is the opposite of the resting order's side; a cross trade (an auction)
prints with no aggressor. The messages are stamped with the exchange's time, so the venue's own feed
delay is added (``feed_delayed``): the engine sees the book one feed delay late and our orders reach it
one latency after we send them, as on any simulated venue. The venue's simulator places our resting
orders in the real FIFO queue (``l3_books``; venues/l3.py).

Time zero is the first message's whole second; ``offset_ns`` is its UTC epoch ns (a recording writes
epoch times). Messages out of time order are delivered in file order at the latest time seen so far,
and counted; past ``max_anomalies`` of them, or of messages for an order never submitted (and not in
the first book), the file is refused naming the first such row.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.market.l3book import NONE_ASK, NONE_BID, L3Book
from hft_console.market.lobster_read import ASK_EMPTY, BID_EMPTY, PRICE_UNIT, LobsterFile, message_files, read_lobster
from hft_console.market.source import DataError
from hft_console.market.synthetic import TickBatch, TradePrints

MISMATCHES_SHOWN = 10


def dollars(price: int) -> str:
    """A LOBSTER price (dollars x 10000) as text: cents, or the sub-penny digits where it has them."""
    return f"{price / PRICE_UNIT:.2f}" if price % 100 == 0 else f"{price / PRICE_UNIT:.4f}"


def in_time_order(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Message times put in order, the rows out of order, and what is wrong with them. A row is out of
    order either because it is earlier than one before it or later than one after it; whichever reading
    finds fewer such rows is taken (one stray future stamp is that row, not every row after it). Early
    rows are delivered at the latest time before them, late ones at the earliest time after them."""
    ahead = np.maximum.accumulate(ts)
    behind = np.minimum.accumulate(ts[::-1])[::-1]
    early, late = np.flatnonzero(ts < ahead), np.flatnonzero(ts > behind)
    if late.size < early.size:
        return behind, late, "later than a row after it"
    return ahead, early, "earlier than a row before it"


def default_venue(venue_names: list[str]) -> str:
    """The configured venue named like Nasdaq, else the first one."""
    return next((v for v in venue_names if "NASDAQ" in v.upper()), venue_names[0])


def split_venue(item: str) -> tuple[str, str]:
    """``PATH`` or ``PATH@VENUE`` -> (path, venue or "")."""
    head, at, tail = item.rpartition("@")
    if at and tail and "/" not in tail and "\\" not in tail:
        return head, tail
    return item, ""


def lobster_sources(body: str, venue: str) -> list[tuple[Path, str]]:
    """``--data lobster:BODY``: comma-separated message files or folders, each optionally ``@VENUE``
    (``venue``, ``data.l3_venue`` or the Nasdaq-like one, where none is named)."""
    out = []
    for item in (i for i in body.split(",") if i):
        path, named = split_venue(item)
        out.append((Path(path), named or venue))
    return out


class LobsterMarket:
    """LOBSTER files as a market source. ``delay_ns``: the venue's feed delay; ``tick``: the price
    grid in dollars. Raises DataError (exit 2) naming the file and the row."""

    generated = False  # real books: no synthetic fade, impact or hidden liquidity
    feed_delayed = True  # stamped with the exchange's time: the venue adds its feed delay
    feed_state = "sim"

    def __init__(
        self,
        sources: Sequence[tuple[Path, str]],
        symbols: list[str] | None,
        venue_names: list[str],
        delay_ns: Mapping[str, int],
        tick: float,
        max_anomalies: int = 100,
        dark: Sequence[str] = (),
    ) -> None:
        """``sources``: (a message file or a folder of them, the venue its books are at); ``delay_ns``:
        each venue's feed delay (0 where absent); ``dark``: venues that show no book (refused)."""
        unit = tick * PRICE_UNIT
        if tick <= 0 or abs(unit - round(unit)) > 1e-9:
            raise DataError(
                "lobster", f"market.tick_size = {tick:g}: expected a multiple of $0.0001 (LOBSTER's price unit)", 2
            )
        found: dict[tuple[str, str], LobsterFile] = {}  # (symbol, venue) -> its file
        for path, venue in sources:
            if venue not in venue_names or venue in dark:
                lit = ", ".join(v for v in venue_names if v not in dark)
                raise DataError("lobster", f"{path}: venue {venue!r}: expected a configured lit venue ({lit})", 2)
            for f in (read_lobster(p, tick) for p in message_files(path)):
                other = found.get((f.symbol, venue))
                if other is not None:
                    raise DataError(
                        "lobster",
                        f"{f.path}: a second file for {f.symbol} at {venue} ({other.path.name}); "
                        "expected one day per symbol and venue",
                        2,
                    )
                found[f.symbol, venue] = f
        in_files = list(dict.fromkeys(sym for sym, _ in found))
        if symbols is not None:
            absent = [s for s in symbols if s not in in_files]
            if absent:
                where = ", ".join(str(p) for p, _ in sources)
                raise DataError("lobster", f"{where}: no LOBSTER file for {', '.join(absent)} (found {in_files})", 2)
        self.symbols = list(symbols) if symbols is not None else in_files
        sym_index = {s: i for i, s in enumerate(self.symbols)}
        chosen = [(sym_index[s], v, f) for (s, v), f in found.items() if s in sym_index]
        days = sorted({f.date for _, _, f in chosen})
        if len(days) > 1:
            first = {f.date: f for _, _, f in chosen}
            named = ", ".join(f"{first[d].symbol} {d}" for d in days)
            raise DataError(
                "lobster", f"files of different days ({named}); expected one day (merged by time they would be "
                "a day apart): replay one day per session", 2,
            )  # fmt: skip
        self.label = "lobster:" + ",".join(p.name + (f"@{v}" if len(sources) > 1 else "") for p, v in sources)
        self.venues = sorted({v for _, v, _ in chosen}, key=venue_names.index)
        self.n_ven = len(venue_names)
        self.offset_ns = min(f.epoch_ns + int(f.t_ns[0]) for _, _, f in chosen) // 1_000_000_000 * 1_000_000_000
        self.books: dict[str, dict[int, L3Book]] = {v: {} for v in self.venues}
        self.anomalies = {"out_of_order": 0, "unknown_order": 0, "duplicate_order": 0}
        self.one_sided = 0
        q_parts: list[tuple[np.ndarray, ...]] = []
        p_parts: list[tuple[np.ndarray, ...]] = []
        m_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.mismatches: list[str] = []
        for s, venue, f in sorted(chosen, key=lambda c: (c[0], venue_names.index(c[1]))):
            ts, late, what = in_time_order(f.epoch_ns + f.t_ns - self.offset_ns)
            self._anomaly(f, "out_of_order", late.size, int(late[0]) if late.size else -1, max_anomalies, what)
            book = L3Book(f, ts, round(unit))
            self._anomaly(f, "unknown_order", book.unknown_order, book.first_unknown, max_anomalies,
                          "an order id never submitted and not in the first orderbook row")  # fmt: skip
            self.anomalies["duplicate_order"] += book.duplicate_order
            self.books[venue][s] = book
            self.one_sided += int(np.count_nonzero((book.best_bid == NONE_BID) | (book.best_ask == NONE_ASK)))
            self._describe_mismatches(f, book, tick)
            stream = s * self.n_ven + venue_names.index(venue)
            seen = ts + delay_ns.get(venue, 0)  # when the engine sees each message: one feed delay late
            q_parts.append(self._quotes(book, seen, stream, tick))
            p_parts.append(self._prints(f, seen, stream))
            checked = np.zeros(ts.size, dtype=np.int64) + (f.book is not None)
            bad = np.zeros(ts.size, dtype=np.int64)
            bad[book.mismatch_rows] = 1
            m_parts.append((seen, checked, bad))
        self.q = self._merge(q_parts)
        self.p = self._merge(p_parts)
        mts, mchk, mbad = self._merge(m_parts)
        self.msg_ts, self.msg_checked, self.msg_bad = mts, np.cumsum(mchk), np.cumsum(mbad)
        self.n_messages = int(mts.size)
        self.end_ns = int(mts[-1]) + 1 if mts.size else 1
        self.q_ptr = self.p_ptr = self.m_ptr = 0
        # a batch with nothing in it (its arrays are empty and read-only: nobody writes a batch)
        q0 = [c[:0] for c in self.q]
        self.empty = TickBatch(q0[0], q0[1], q0[2], q0[3], q0[4], q0[5], {}, 0, None)

    def _anomaly(self, f: LobsterFile, kind: str, count: int, first: int, limit: int, what: str) -> None:
        self.anomalies[kind] += count
        if count > limit:
            raise f.error(first, f"{what} ({count} such messages, more than data.l3_max_anomalies = {limit})")

    def _describe_mismatches(self, f: LobsterFile, book: L3Book, tick: float) -> None:
        """The first few rows that differ, each named with its first difference: a side's best price,
        or the size at a level (side, level number, price) in the file against the rebuilt book."""
        if f.book is None:
            return
        unit = round(tick * PRICE_UNIT)
        for row in book.mismatch_rows[: max(0, MISMATCHES_SHOWN - len(self.mismatches))].tolist():
            r = f.book[row].tolist()
            text = "differs"
            for side, name, pcol, empty, best, none in (
                (-1, "ask", 0, ASK_EMPTY, book.best_ask, NONE_ASK),
                (1, "bid", 2, BID_EMPTY, book.best_bid, NONE_BID),
            ):
                ours = "none" if best[row] == none else dollars(int(best[row]) * unit)
                shown = "none" if r[pcol] == empty else dollars(r[pcol])
                if ours != shown:
                    text = f"best {name}: file {shown}, rebuilt {ours}"
                    break
                levels = [(j // 4 + 1, r[j], r[j + 1]) for j in range(pcol, len(r), 4) if r[j] != empty]
                wrong = [(n, p, z, book.level(side, p // unit, row)) for n, p, z in levels]
                wrong = [w for w in wrong if w[2] != w[3]]
                if wrong:
                    n, p, z, z2 = wrong[0]
                    text = f"{name} level {n} at {dollars(p)}: file {z} shares, rebuilt {z2}"
                    break
            self.mismatches.append(f"{f.book_path}: row {row + 1}: {text}")

    @staticmethod
    def _quotes(book: L3Book, ts: np.ndarray, stream: int, tick: float) -> tuple[np.ndarray, ...]:
        """The top of book after each message where it changed, both sides present."""
        top = np.stack([book.best_bid, book.bid_size, book.best_ask, book.ask_size])
        changed = np.r_[True, (top[:, 1:] != top[:, :-1]).any(axis=0)] if ts.size else np.zeros(0, dtype=bool)
        two_sided = (book.best_bid != NONE_BID) & (book.best_ask != NONE_ASK)
        keep = np.flatnonzero(changed & two_sided)
        n = keep.size
        per_dollar = 1 / tick
        bid: np.ndarray
        ask: np.ndarray
        if abs(per_dollar - round(per_dollar)) < 1e-9:  # 9999 / 100 is 99.99 exactly; 9999 * 0.01 is not
            bid = book.best_bid[keep] / round(per_dollar)
            ask = book.best_ask[keep] / round(per_dollar)
        else:
            bid = book.best_bid[keep] * tick
            ask = book.best_ask[keep] * tick
        return (ts[keep], np.full(n, stream, dtype=np.int64), bid, ask, book.bid_size[keep], book.ask_size[keep])

    @staticmethod
    def _prints(f: LobsterFile, ts: np.ndarray, stream: int) -> tuple[np.ndarray, ...]:
        ex = np.flatnonzero(np.isin(f.type, (4, 5, 6)))
        side = np.where(f.type[ex] == 6, 0, -f.direction[ex].astype(np.int64))
        return (ts[ex], np.full(ex.size, stream, dtype=np.int64), f.price[ex] / PRICE_UNIT, f.size[ex], side)

    @staticmethod
    def _merge(parts: list[Any]) -> tuple[np.ndarray, ...]:
        cols = tuple(np.concatenate(c) for c in zip(*parts, strict=True))
        order = np.argsort(cols[0], kind="stable")
        return tuple(c[order] for c in cols)

    # -- the source ---------------------------------------------------------------------------------
    def l3_books(self, venue: str) -> dict[int, L3Book] | None:
        """Symbol index -> its rebuilt book at ``venue``; None for a venue no file maps to."""
        return self.books.get(venue)

    @property
    def exhausted(self) -> bool:
        return self.m_ptr >= self.n_messages

    @property
    def next_ns(self) -> float:
        """When the next quote or print is stamped (inf: none left): the engine skips the time before."""
        q, p = self.q[0], self.p[0]
        return min(q.item(self.q_ptr) if self.q_ptr < q.size else math.inf,
                   p.item(self.p_ptr) if self.p_ptr < p.size else math.inf)  # fmt: skip

    @property
    def data_stats(self) -> dict[str, Any]:
        """summary.json ``data``: messages replayed so far, orderbook rows checked against the rebuilt
        book and those that differed (the first few named), anomalies counted, messages by type."""
        m = self.m_ptr
        types: dict[str, int] = {}
        names = {
            1: "submit",
            2: "cancel",
            3: "delete",
            4: "execute_visible",
            5: "execute_hidden",
            6: "cross",
            7: "halt",
        }
        for b in (b for books in self.books.values() for b in books.values()):
            for k, c in b.counts.items():
                types[names[k]] = types.get(names[k], 0) + c
        return {
            "source": self.label,
            "venues": list(self.venues),
            "messages": m,
            "book_checks": int(self.msg_checked[m - 1]) if m else 0,
            "book_mismatches": int(self.msg_bad[m - 1]) if m else 0,
            "mismatch_rows": list(self.mismatches),
            "anomalies": dict(self.anomalies),
            "one_sided_rows": self.one_sided,
            "messages_in_files": self.n_messages,
            "messages_by_type": types,
        }

    @property
    def quality(self) -> dict[str, int]:
        return {"out_of_order": self.anomalies["out_of_order"], "unknown_order": self.anomalies["unknown_order"]}

    def rewound(self) -> LobsterMarket:
        """The same data from the start, sharing the (read-only) arrays: one parse, many runs."""
        other = copy.copy(self)
        other.q_ptr = other.p_ptr = other.m_ptr = 0
        return other

    def next_batch(self, t1_ns: int) -> TickBatch:
        qa, pa_ = self.q_ptr, self.p_ptr
        q, p = self.q, self.p
        qb = max(qa, int(q[0].searchsorted(t1_ns)))
        pb = max(pa_, int(p[0].searchsorted(t1_ns)))
        self.m_ptr = max(self.m_ptr, int(self.msg_ts.searchsorted(t1_ns)))
        if qb == qa and pb == pa_:
            return self.empty
        self.q_ptr, self.p_ptr = qb, pb
        prints = TradePrints(p[0][pa_:pb], p[1][pa_:pb], p[2][pa_:pb], p[3][pa_:pb], p[4][pa_:pb]) if pb > pa_ else None
        return TickBatch(
            q[0][qa:qb], q[1][qa:qb], q[2][qa:qb], q[3][qa:qb], q[4][qa:qb], q[5][qa:qb], {}, pb - pa_, prints
        )

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        return math.nan

    def close(self) -> None:
        return None
