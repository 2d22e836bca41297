"""hftbacktest's event files (``.npz``, 2.x ``event_dtype``) as a market source: one file per symbol.

A file holds one structured array under ``data`` (hftbacktest 2.4.4, ``py-hftbacktest/hftbacktest/types.py``):

    ev        u8   event type (low byte) | flags
    exch_ts   i8   ns, when the exchange stamped the event
    local_ts  i8   ns, when the feed reached the recording machine
    px, qty   f8   price; the level's new total quantity (depth) or the traded quantity (trade)
    order_id, ival, fval   unused here

Flags: EXCH_EVENT (1 << 31) and LOCAL_EVENT (1 << 30) say which side of hftbacktest processes the row;
BUY_EVENT (1 << 29) and SELL_EVENT (1 << 28) say the book side of a depth row (bid, ask) and the
aggressor of a trade. The feed is the rows flagged LOCAL_EVENT, in ``local_ts`` order (stable), seen at
``local_ts``: the recorded feed latency is in the data, so nothing is added. Exchange-only rows are
hftbacktest's exchange model's and are not read.

Types read: DEPTH_EVENT (1) and DEPTH_SNAPSHOT_EVENT (4) set a level's total (0 removes it);
DEPTH_CLEAR_EVENT (3) clears the bid side's levels at or above ``px`` (the ask side's at or below it),
the whole side when ``px`` is not finite, both sides when no side flag is set; TRADE_EVENT (2) is a
print. The book is hftbacktest's HashMapMarketDepth (``hftbacktest/src/depth/hashmapmarketdepth.rs``):
the best prices are tracked, so a level that a newer one on the other side crossed stays hidden until
the data refreshes it. One difference: after a clear the best is the best level left that was not
hidden, where HashMapMarketDepth skips the level one tick past ``px`` (and could surface a hidden one).
DEPTH_BBO_EVENT (5) and depth rows with no side flag are skipped and counted, as hftbacktest's local
processor ignores them; L3 order events (10-13) are refused (read Nasdaq order-by-order data with ``--data lobster:``).

Quotes: after the last event of a ``local_ts``, the symbol's top of book (best bid and ask, their total
quantities) is a quote on (symbol, ``venue``) when it changed; a one-sided or empty book gives none
(counted). Quantities are shares (lot 1): rounded to whole shares, the rows whose quantity was not whole
counted. Prices within float32 rounding of ``tick`` are snapped (counted), as replay does; a book price
off the grid is refused.

Errors: DataError (exit 2) naming the file and the row (the index into ``data``): a missing or
unreadable file, no ``data`` array, the wrong dtype, an unknown event type, a book row whose price or
quantity makes no sense, timestamps that are not ns, or more than ``MAX_OUT_OF_ORDER`` feed rows stamped
before an earlier row (fewer are put in order and counted).
"""

from __future__ import annotations

import copy
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hft_console.market.normalizer import OK, REJECT_REASONS, check_trades, snap_to_tick
from hft_console.market.replay_read import DAY_NS, EPOCH_HI_S, EPOCH_LO_S, UNITS
from hft_console.market.source import DataError
from hft_console.market.synthetic import TickBatch, TradePrints
from hft_console.settings import NormalizerSettings

__all__ = ["FIELDS", "MAX_OUT_OF_ORDER", "HftBacktestMarket", "read_events", "top_of_book"]

EXCH_EVENT, LOCAL_EVENT, BUY_EVENT, SELL_EVENT = 1 << 31, 1 << 30, 1 << 29, 1 << 28
DEPTH_EVENT, TRADE_EVENT, DEPTH_CLEAR_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_BBO_EVENT = 1, 2, 3, 4, 5
L3_EVENTS = (10, 11, 12, 13)  # add, cancel, modify order; fill
KNOWN_TYPES = (DEPTH_EVENT, TRADE_EVENT, DEPTH_CLEAR_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_BBO_EVENT, *L3_EVENTS)
#: the fields read and their numpy kinds (i: signed, u: unsigned, f: float); hftbacktest's is ``align=True``
FIELDS = (("ev", "ui"), ("exch_ts", "i"), ("local_ts", "i"), ("px", "f"), ("qty", "f"))
EVENT_DTYPE_TEXT = "hftbacktest 2.x's event_dtype (ev u8, exch_ts i8, local_ts i8, px f8, qty f8, order_id u8, ...)"
MAX_OUT_OF_ORDER = 100  # feed rows stamped before an earlier one, per file, before the file is refused
SKIP_KINDS = ("bbo", "depth_no_side", "trade_no_side")  # feed events not read, by kind
COUNTS = ("out_of_order", "qty_rounded", "prices_snapped", "one_sided_books", *SKIP_KINDS)  # quality's counts


def read_events(path: Path) -> np.ndarray:
    """The file's event array (1-D, structured, with ``FIELDS``). Raises DataError (exit 2)."""
    where = f"hftbacktest file {str(path)!r}"
    if not path.is_file():
        raise DataError("hftbacktest", f"{where}: no such file", 2)
    with path.open("rb") as fh:
        head = fh.read(6)
    if not head.startswith(b"PK"):  # a zip archive's first bytes: numpy's pickle fallback would only confuse
        got = "a .npy array" if head == b"\x93NUMPY" else "not a zip archive"
        raise DataError("hftbacktest", f"{where}: {got}, expected a .npz archive (numpy.savez(path, data=events))", 2)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "data" not in npz.files:
                what = "expected hftbacktest's events under `data` (numpy.savez(path, data=events))"
                raise DataError("hftbacktest", f"{where}: no `data` array (it has {npz.files}), {what}", 2)
            data: np.ndarray = npz["data"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError("hftbacktest", f"{where}: unreadable .npz archive ({exc}), expected numpy.savez's", 2) from exc
    names = data.dtype.names or ()
    bad = [f"{n} {data.dtype[n].str[1:] if n in names else 'missing'}" for n, kinds in FIELDS
           if n not in names or data.dtype[n].kind not in kinds or data.dtype[n].itemsize != 8]  # fmt: skip
    if data.ndim != 1 or bad:
        got = ", ".join(bad) if bad else f"a {data.ndim}-D array of events"
        got = got if names else f"a {data.ndim}-D {data.dtype} array"
        v1 = not names and data.ndim == 2 and data.shape[1] == 6
        hint = " (hftbacktest 1.x's layout: convert it with hftbacktest.data.utils.migration2)" if v1 else ""
        raise DataError("hftbacktest", f"{where}: dtype {got}{hint}, expected {EVENT_DTYPE_TEXT}", 2)
    return data


def top_of_book(
    ts: list[int], op: list[int], side: list[int], rank: list[int], qty: list[int], last: list[bool], n: int
) -> tuple[list[tuple[int, int, int, int, int]], list[int]]:
    """The quotes an L2 book's events give, each (ts, bid rank, ask rank, bid qty, ask qty); the ts of the
    top-of-book changes that left a side empty (no quote).

    Per event: ``op`` 0 sets the level ``rank`` (0..n-1, ascending price) of ``side`` (+1 bid, -1 ask) to
    ``qty`` (0 removes it); ``op`` 1 clears ``side``'s levels from ``rank`` to its best (bids at or above
    ``rank``: 0..n; asks at or below it: -1..n-1); ``op`` 2 clears the whole side (``side`` 0: both).
    ``last`` marks the last event of a timestamp, where the top of book is read. The best prices move as
    in hftbacktest's HashMapMarketDepth (see the module's doc)."""
    bq, aq = [0] * n, [0] * n
    bb, ba, lo_b, hi_a = -1, n, n, -1  # best bid, best ask; the scans' bounds (low_bid_tick, high_ask_tick)
    state = (-1, n, 0, 0)
    quotes: list[tuple[int, int, int, int, int]] = []
    one_sided: list[int] = []
    for t, o, s, r, q, end in zip(ts, op, side, rank, qty, last, strict=True):
        if o == 0:
            if s > 0:
                bq[r] = q
                if q == 0:
                    if r == bb:
                        k = r - 1
                        while k >= lo_b and bq[k] == 0:
                            k -= 1
                        bb = k if k >= lo_b else -1
                        if bb < 0:
                            lo_b = n
                else:
                    if r > bb:
                        bb = r
                        if bb >= ba:  # the asks it crosses are stale: hidden, as hftbacktest does
                            k = bb + 1
                            while k <= hi_a and aq[k] == 0:
                                k += 1
                            ba = k if k <= hi_a else n
                    if r < lo_b:
                        lo_b = r
            else:
                aq[r] = q
                if q == 0:
                    if r == ba:
                        k = r + 1
                        while k <= hi_a and aq[k] == 0:
                            k += 1
                        ba = k if k <= hi_a else n
                        if ba == n:
                            hi_a = -1
                else:
                    if r < ba:
                        ba = r
                        if bb >= ba:
                            k = ba - 1
                            while k >= lo_b and bq[k] == 0:
                                k -= 1
                            bb = k if k >= lo_b else -1
                    if r > hi_a:
                        hi_a = r
        else:
            if s >= 0:
                if o == 2:
                    bq, bb, lo_b = [0] * n, -1, n
                else:
                    if bb >= r:
                        bq[r : bb + 1] = [0] * (bb + 1 - r)
                    k = min(r, bb + 1) - 1 if bb >= 0 else -1
                    while k >= lo_b and bq[k] == 0:
                        k -= 1
                    bb = k if k >= lo_b else -1
                    if bb < 0:
                        lo_b = n
            if s <= 0:
                if o == 2:
                    aq, ba, hi_a = [0] * n, n, -1
                else:
                    if ba <= r:
                        aq[ba : r + 1] = [0] * (r + 1 - ba)
                    k = max(r, ba - 1) + 1 if ba < n else n
                    while k <= hi_a and aq[k] == 0:
                        k += 1
                    ba = k if k <= hi_a else n
                    if ba == n:
                        hi_a = -1
        if end:
            now = (bb, ba, bq[bb] if bb >= 0 else 0, aq[ba] if ba < n else 0)
            if now != state:
                state = now
                if bb >= 0 and ba < n:
                    quotes.append((t, bb, ba, now[2], now[3]))
                else:
                    one_sided.append(t)
    return quotes, one_sided


@dataclass(slots=True)
class FileFeed:
    """One file's feed in its own ns (``local_ts``), each column in feed order."""

    q_ts: np.ndarray  # int64: quotes
    bid: np.ndarray  # float64
    ask: np.ndarray
    bid_size: np.ndarray  # int64 shares
    ask_size: np.ndarray
    p_ts: np.ndarray  # int64: trade prints, every trade row
    price: np.ndarray  # float64
    size: np.ndarray  # int64 shares (-1: not finite)
    side: np.ndarray  # int64 aggressor: +1 buy, -1 sell, 0 not given
    verdict: np.ndarray  # int8 OK or the REJECT_REASONS index (normalizer.check_trades)
    feed_ts: np.ndarray  # int64: every feed row
    counted: dict[str, np.ndarray]  # per quality count, the int64 stamps of the rows it counts, sorted


def read_feed(path: Path, tick: float, rules: NormalizerSettings | None) -> FileFeed:
    """One file's feed: its top-of-book quotes and its prints. Raises DataError (exit 2) naming the row."""
    where = f"hftbacktest file {str(path)!r}"

    def error(row: int, text: str) -> DataError:
        return DataError("hftbacktest", f"{where}: row {row}: {text}", 2)

    data = read_events(path)
    ev = data["ev"].astype(np.uint64)
    kind = (ev & np.uint64(0xFF)).astype(np.int64)
    unknown = np.flatnonzero(~np.isin(kind, KNOWN_TYPES))
    if unknown.size:
        k = int(unknown[0])
        what = "expected 1-5 (depth, trade, depth clear, depth snapshot, best bid/offer)"
        raise error(k, f"event type {kind[k]} (ev = {int(ev[k]):#x}), {what}")
    local = np.flatnonzero(ev & np.uint64(LOCAL_EVENT))
    if not local.size:
        raise DataError("hftbacktest", f"{where}: no feed rows, expected rows flagged LOCAL_EVENT (1 << 30)", 2)
    l3 = local[np.isin(kind[local], L3_EVENTS)]
    if l3.size:
        k = int(l3[0])
        what = "expected L2 depth, trade and snapshot events (read order-by-order data with --data lobster:)"
        raise error(k, f"L3 order event (type {kind[k]}), {what}")
    ts = data["local_ts"][local].astype(np.int64)
    ahead = np.maximum.accumulate(ts)
    late = np.flatnonzero(ts[1:] < ahead[:-1]) + 1
    if late.size > MAX_OUT_OF_ORDER:
        k = int(late[0])
        j = int(local[np.argmax(ts == ahead[k - 1])])
        what = f"{late.size} feed rows out of order, expected local_ts in order (at most {MAX_OUT_OF_ORDER} out)"
        raise error(int(local[k]), f"local_ts = {int(ts[k])} is before row {j}'s {int(ahead[k - 1])} ({what})")
    counted = {"out_of_order": np.sort(ts[late])}
    if late.size:
        order = np.argsort(ts, kind="stable")
        local, ts = local[order], ts[order]
    _check_unit(ts, local, error)
    kind, ev, px, qty = kind[local], ev[local], data["px"][local], data["qty"][local]
    side = np.where(ev & np.uint64(BUY_EVENT), 1, np.where(ev & np.uint64(SELL_EVENT), -1, 0)).astype(np.int64)
    is_level = np.isin(kind, (DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT))
    update = is_level & (side != 0)
    is_clear = kind == DEPTH_CLEAR_EVENT
    is_trade = kind == TRADE_EVENT
    counted["bbo"] = ts[kind == DEPTH_BBO_EVENT]
    counted["depth_no_side"] = ts[is_level & (side == 0)]
    counted["trade_no_side"] = ts[is_trade & (side == 0)]
    px = px.astype(np.float64)  # native floats, whatever the file's byte order; a copy, snapped below
    with np.errstate(invalid="ignore"):
        bad = update & ~((px > 0) & (px < np.inf) & (qty >= 0) & (qty < np.inf))
    if bad.any():
        k = int(np.argmax(bad))
        what = "expected a finite price above 0 and a finite quantity of 0 or more"
        raise error(int(local[k]), f"depth px = {float(px[k])!r}, qty = {float(qty[k])!r}, {what}")
    priced = update | (is_clear & np.isfinite(px))
    if tick > 0:
        fixed, snapped, off = snap_to_tick(px, tick)
        off &= priced
        if off.any():
            k = int(np.argmax(off))
            what = "expected a multiple of the tick: set market.tick_size to the file's tick"
            raise error(
                int(local[k]), f"px = {float(px[k])!r} is off the {tick:g} tick grid (market.tick_size), {what}"
            )
        snapped &= priced
        px[snapped] = fixed[snapped]
        counted["prices_snapped"] = ts[snapped]
    else:
        counted["prices_snapped"] = ts[:0]
    with np.errstate(invalid="ignore"):
        whole = np.rint(qty)
        counted["qty_rounded"] = ts[(update | is_trade) & np.isfinite(qty) & (whole != qty)]
    book = np.flatnonzero(update | is_clear)
    levels, rank_of = np.unique(px[update], return_inverse=True)
    rank = np.zeros(local.size, dtype=np.int64)
    rank[update] = rank_of.reshape(-1)
    bid_clear, ask_clear = is_clear & (side >= 0), is_clear & (side < 0)
    rank[bid_clear] = np.searchsorted(levels, px[bid_clear], side="left")  # bids at or above px go
    rank[ask_clear] = np.searchsorted(levels, px[ask_clear], side="right") - 1  # asks at or below px go
    op = np.where(is_clear, np.where((side == 0) | ~np.isfinite(px), 2, 1), 0)
    b_ts = ts[book]
    last = np.append(b_ts[1:] != b_ts[:-1], True) if book.size else np.zeros(0, dtype=bool)
    quotes, one_sided = top_of_book(
        b_ts.tolist(), op[book].tolist(), side[book].tolist(), rank[book].tolist(),
        np.where(update, whole, 0)[book].astype(np.int64).tolist(), last.tolist(), int(levels.size),
    )  # fmt: skip
    counted["one_sided_books"] = np.array(one_sided, dtype=np.int64)
    q = np.array(quotes, dtype=np.int64).reshape(-1, 5)
    q_ts, bid, ask = q[:, 0].copy(), levels[q[:, 1]], levels[q[:, 2]]
    trades = np.flatnonzero(is_trade)
    p_ts, price = ts[trades], px[trades]
    size = np.where(np.isfinite(qty[trades]), whole[trades], -1).astype(np.int64)
    before = np.searchsorted(q_ts, p_ts, side="left") - 1  # the last quote before the print: its reference mid
    ref = np.where(before >= 0, ((bid + ask) * 0.5)[np.maximum(before, 0)] if q_ts.size else 0.0, 0.0)
    verdict = check_trades(price, size, ref, rules)
    return FileFeed(q_ts, bid, ask, q[:, 3].copy(), q[:, 4].copy(), p_ts, price, size, side[trades], verdict, ts,
                    counted)  # fmt: skip


def _check_unit(ts: np.ndarray, rows: np.ndarray, error: Callable[[int, str], DataError]) -> None:
    """Refuses ``local_ts`` (sorted) that is not ns since the epoch (1990-2100) or of a session from 0."""
    lo, hi = EPOCH_LO_S * 10**9, EPOCH_HI_S * 10**9
    first = int(ts[0])
    for unit, ns in UNITS:  # before the session test: ms since the epoch would pass for a session's ns
        if lo // ns <= first <= hi // ns:
            what = f"reads as {unit} since the epoch, expected ns (multiply by {ns:,})"
            raise error(int(rows[0]), f"local_ts = {first} {what}")
    if lo <= first <= hi:
        beyond, what = ts > hi, "ns since the epoch (1990-2100), as the first row is"
    elif -DAY_NS < first < DAY_NS:
        beyond, what = ts >= lo, "ns of a session (from 0), as the first row is"
    else:
        raise error(int(rows[0]), f"local_ts = {first}, expected ns since the epoch (1990-2100) or of a session")
    if beyond[-1]:
        k = int(np.argmax(beyond))
        raise error(int(rows[k]), f"local_ts = {int(ts[k])}, expected {what}")


class HftBacktestMarket:
    """hftbacktest event files as a market source: ``paths[i]`` is ``symbols[i]``'s, all on venue ``venue``.

    ``tick`` (``market.tick_size``; 0: prices as they are) snaps float32 noise to the grid and refuses a
    book price off it; ``rules`` (the normaliser's settings; None: finite, positive price and size) are
    what trade prints are held to, against the symbol's last quoted mid. Files merge by ``local_ts``
    (a tie: the earlier file's first). Raises DataError (exit 2) naming the file and the row.
    """

    generated = False  # recorded books: no synthetic fade, impact or depth; the feed's delay is in the stamps
    feed_state = "sim"

    def __init__(
        self,
        paths: list[Path],
        symbols: list[str],
        venue_names: list[str],
        venue: str,
        tick: float = 0.0,
        rules: NormalizerSettings | None = None,
    ) -> None:
        if len(paths) != len(symbols) or not paths:
            what = f"{len(paths)} files for the symbols {', '.join(symbols) or '(none)'}"
            raise DataError("hftbacktest", f"{what}, expected one file per symbol", 2)
        if venue not in venue_names:
            what = f"expected a configured venue ({', '.join(venue_names)})"
            raise DataError("hftbacktest", f"venue {venue!r}, {what}", 2)
        self.symbols = list(symbols)
        self.label = "hftbacktest:" + ",".join(p.name for p in paths)
        feeds = [read_feed(p, tick, rules) for p in paths]
        self.offset_ns = min(int(f.feed_ts[0]) for f in feeds) // 1_000_000_000 * 1_000_000_000
        n_ven, v = len(venue_names), venue_names.index(venue)

        def merged(ts: str, cols: tuple[str, ...]) -> list[np.ndarray]:
            """The files' columns as one, in time order (a tie: the earlier file's row first)."""
            out = [np.concatenate([getattr(f, ts) - self.offset_ns for f in feeds])]
            out.append(np.concatenate([np.full(getattr(f, ts).size, i * n_ven + v) for i, f in enumerate(feeds)]))
            out += [np.concatenate([getattr(f, c) for f in feeds]) for c in cols]
            order = np.argsort(out[0], kind="stable")
            return [c[order] for c in out]

        q = merged("q_ts", ("bid", "ask", "bid_size", "ask_size"))
        self.q_ts, self.stream, self.bid, self.ask, self.bid_size, self.ask_size = q
        p = merged("p_ts", ("price", "size", "side", "verdict"))
        self.p_ts, self.p_stream, self.price, self.size, self.side, self.verdict = p
        self.p_keep = (self.verdict == OK) & (self.side != 0)  # a print with no aggressor fills nothing of ours
        self.feed_ts = np.sort(np.concatenate([f.feed_ts for f in feeds])) - self.offset_ns
        self.counted = {k: np.sort(np.concatenate([f.counted[k] for f in feeds])) - self.offset_ns for k in COUNTS}
        self.end_ns = int(self.feed_ts[-1]) + 1
        self._reset()

    def _reset(self) -> None:
        self.q_ptr = self.p_ptr = 0
        self.reached = -(2**62)  # session ns up to which the feed was served (next_batch's t1_ns)
        self.trades_rejected = 0
        self.trade_rejects = [0] * len(REJECT_REASONS)

    def _seen(self, stamps: np.ndarray) -> int:
        return int(np.searchsorted(stamps, self.reached, side="left"))

    @property
    def exhausted(self) -> bool:
        return self.q_ptr >= self.q_ts.size and self.p_ptr >= self.p_ts.size

    @property
    def next_ns(self) -> float:
        """When the next quote or print is stamped (inf: none left)."""
        return min(self.q_ts.item(self.q_ptr) if self.q_ptr < self.q_ts.size else math.inf,
                   self.p_ts.item(self.p_ptr) if self.p_ptr < self.p_ts.size else math.inf)  # fmt: skip

    @property
    def quality(self) -> dict[str, object]:
        """What was dropped or changed in the data served so far (summary.json ``data_quality``): feed events
        skipped (``skipped_by_kind``: bbo, depth_no_side, trade_no_side), rows put back in order, quantities
        rounded to whole shares, prices snapped to the tick, top-of-book changes that left a side empty."""
        by_kind = {k: self._seen(self.counted[k]) for k in SKIP_KINDS}
        counts: dict[str, object] = {"events_skipped": sum(by_kind.values())}
        counts.update({k: self._seen(self.counted[k]) for k in COUNTS if k not in SKIP_KINDS})
        counts["skipped_by_kind"] = by_kind
        return counts

    @property
    def data_stats(self) -> dict[str, int]:
        """Feed events read so far; the book is not checked against a second source here (LOBSTER's is)."""
        return {"messages": self._seen(self.feed_ts), "book_checks": 0, "book_mismatches": 0}

    @property
    def trades_rejected_by_reason(self) -> dict[str, int]:
        return {r: c for r, c in zip(REJECT_REASONS, self.trade_rejects, strict=True) if c}

    def rewound(self) -> HftBacktestMarket:
        """The same data from the start, sharing the (read-only) arrays: one parse, many runs."""
        other = copy.copy(self)
        other._reset()
        return other

    def next_batch(self, t1_ns: int) -> TickBatch:
        """Quotes and prints seen in [the last batch's end, ``t1_ns``), in session ns."""
        self.reached = max(self.reached, t1_ns)
        q0, p0 = self.q_ptr, self.p_ptr
        q1 = max(q0, int(np.searchsorted(self.q_ts, t1_ns, side="left")))
        p1 = max(p0, int(np.searchsorted(self.p_ts, t1_ns, side="left")))
        self.q_ptr, self.p_ptr = q1, p1
        prints = None
        if p1 > p0:
            verdict = self.verdict[p0:p1]
            rejected = verdict[verdict != OK]
            self.trades_rejected += int(rejected.size)
            for r in rejected.tolist():
                self.trade_rejects[r] += 1
            t = np.flatnonzero(self.p_keep[p0:p1]) + p0
            prints = TradePrints(self.p_ts[t], self.p_stream[t], self.price[t], self.size[t], self.side[t])
        q = slice(q0, q1)
        quotes = self.q_ts[q], self.stream[q], self.bid[q], self.ask[q], self.bid_size[q], self.ask_size[q]
        return TickBatch(*quotes, {}, p1 - p0, prints)

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        """NaN: no fair price is recorded, so the engine uses the consolidated mid it has seen by ``t_ns``."""
        return math.nan

    def close(self) -> None:
        return None
