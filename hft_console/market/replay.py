"""Replay of recorded ticks from CSV or Parquet, through the same normaliser as live data.

Columns (one row per event, in feed order; extra columns are ignored, any order):

    ts_ns     int    event time, ns (UTC epoch ns for real data, session ns for synthetic recordings)
    symbol    str    ticker
    venue     str    a configured venue name (quotes); may be empty for trades
    kind      str    quote | trade | ref
    bid, ask  float  quote prices (empty for trades)
    bid_size, ask_size  int  displayed sizes (empty for trades)
    price     float  trade price, or the fair price for ``ref`` rows (empty for quotes)
    size      int    trade size (empty for quotes)
    side      str    optional: a trade's aggressor, B (a buyer lifted the offer), S (a seller hit the
                     bid) or N (unknown: it fills no resting order of ours); +1, -1, 0 (and BUY, SELL)
                     read the same. Empty, or no such column: the quote rule (Lee and Ready) infers it
                     from the last accepted mid. Ignored on quote and ref rows; a recording writes it
                     on every trade row.

``ref`` rows are not market events: they hold the hidden fair price a synthetic venue's fill model
used at that time, so a recorded synthetic session replays fill for fill. Data without them (any
real feed) fills against the latest consolidated mid.

What a file may look like (reading is in replay_read.py): CSV in UTF-8 with or without a byte-order
mark, or UTF-16/32 with one; CRLF or LF; quoted fields; blank lines. Parquet columns of any type that
converts exactly; ``ts_ns`` typed as a timestamp (any unit, any time zone), date, time of day or
duration is converted to ns. Integer ``ts_ns`` must be ns since the epoch (1990-2100) or ns of a
session starting within its first day; seconds, ms or µs since the epoch are refused, the unit named.

What is an error and what is counted: a missing or unreadable file, missing columns, a truncated
row, a value of the wrong type, an unknown ``kind``, an empty symbol, a venue that is not
configured, or a quote the normaliser would accept with a price off the tick grid stops the run with
a message naming the file and the row — a backtest on part of a file would be silently wrong. A
quote whose values parse but make no sense (NaN, crossed, negative, too wide, out of order) is kept
and rejected and counted by the normaliser, exactly as a live feed's would be; a trade print that
fails the same rules (or is further than ``max_deviation`` from the symbol's last good mid) is
counted in ``trades_rejected``.

Prices within float32 rounding of the tick grid (a file written with 32-bit floats:
585.47998046875 for 585.48) are snapped to the grid and counted (``prices_snapped``): the venue
rounds fills to the tick, so an unsnapped quote could never fill at its own price.

Timestamps are shifted by the whole seconds of the first row (``offset_ns``), so session time starts
near zero and a recording of a synthetic session (which starts at 0) replays on the very same times;
a recording of a replay writes the file's own times back (recorder.py adds ``offset_ns``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hft_console.market.normalizer import OK, REJECT_REASONS, Normalizer, check_trades, sane_quotes, snap_to_tick
from hft_console.market.replay_read import COLUMNS, ReplayFile, side_codes
from hft_console.market.source import DataError
from hft_console.market.synthetic import TickBatch, TradePrints
from hft_console.settings import NormalizerSettings

__all__ = ["COLUMNS", "KINDS", "PrintRows", "ReplayMarket", "read_table"]
KINDS = ("quote", "trade", "ref")
CHECK_CHUNK = 8192  # quotes per normaliser call when the file is checked at load


@dataclass(slots=True)
class PrintRows:
    """Every trade print of one batch as the source delivered it, rejected ones included: what
    ``--record`` writes, so a replay of the recording counts and rejects the same prints."""

    prints: TradePrints  # side +1 / -1 / 0 (unknown); price NaN and size -1 where the data had none
    at: np.ndarray  # int64 per print: how many of the batch's quotes were delivered before it
    venue: np.ndarray | None  # object str per print, the data's venue text; None: the venue of ``stream``


def read_table(path: Path) -> dict[str, np.ndarray]:
    """The file's columns as numpy arrays; DataError (exit 2) on anything structurally wrong."""
    return ReplayFile(path).cols


class ReplayMarket:
    """A replay file as a market source.

    ``tick`` (``market.tick_size``; 0: prices taken as they are) snaps float32 noise to the grid and
    refuses a quote the normaliser would accept with a price off it. ``rules`` (the session's
    normaliser settings; None: only finite, positive prices and sizes) are what trade prints are held to.
    Raises DataError (exit 2) naming the file and the row.
    """

    generated = False  # recorded books: no synthetic fade, impact or depth; the feed's delay is in the stamps

    feed_state = "sim"

    def __init__(
        self,
        path: Path,
        symbols: list[str] | None,
        venue_names: list[str],
        tick: float = 0.0,
        rules: NormalizerSettings | None = None,
    ) -> None:
        f = ReplayFile(path)
        cols = f.cols
        self.label = f"replay:{path.name}"
        kind = cols["kind"]
        bad_kind = np.flatnonzero(~np.isin(kind, KINDS))
        if bad_kind.size:
            row = int(bad_kind[0])
            raise f.error(row, f"kind = {kind[row]!r}: expected one of {KINDS}")
        sym_col = cols["symbol"]
        empty = np.flatnonzero(sym_col == "")
        if empty.size:
            raise f.error(int(empty[0]), "symbol is empty")
        in_file = list(dict.fromkeys(sym_col.tolist()))
        if symbols is None:
            self.symbols = in_file
        else:
            absent = [s for s in symbols if s not in in_file]
            if absent:
                raise DataError("replay", f"{f.where}: no rows for {', '.join(absent)} (the file has {in_file})", 2)
            self.symbols = list(symbols)
        sym_index = {s: i for i, s in enumerate(self.symbols)}
        ven_index = {v: i for i, v in enumerate(venue_names)}
        self.n_ven = n_ven = len(venue_names)
        keep = np.isin(sym_col, self.symbols)
        self.rows_skipped = int((~keep).sum())
        is_quote = (kind == "quote") & keep
        ven_col = cols["venue"]
        unknown = np.flatnonzero(is_quote & ~np.isin(ven_col, venue_names))
        if unknown.size:
            row = int(unknown[0])
            raise f.error(row, f"venue = {ven_col[row]!r}: expected a configured venue ({', '.join(venue_names)})")
        ts = cols["ts_ns"]
        events = np.flatnonzero((is_quote | (kind == "trade")) & keep)
        if events.size == 0:
            raise DataError("replay", f"{f.where}: no quotes or trades for {', '.join(self.symbols)}", 2)
        self.offset_ns = int(ts[events[0]]) // 1_000_000_000 * 1_000_000_000
        sym_codes = np.array([sym_index.get(s, -1) for s in sym_col.tolist()], dtype=np.int64)
        ven_codes = np.array([ven_index.get(v, 0) for v in ven_col.tolist()], dtype=np.int64)
        # a print names its venue (or no configured one: it counts, but fills no resting order of ours)
        self.print_venue_known = np.isin(ven_col, venue_names)[events]
        self.is_trade = kind[events] == "trade"
        # the text of those that name none, kept for a recording (None: every print names a venue)
        self.venue_text = ven_col[events] if (~self.print_venue_known & self.is_trade).any() else None
        self.side_given = self._sides(f, events, cols.get("side"), self.is_trade)
        self.ts = ts[events] - self.offset_ns
        self.stream = sym_codes[events] * n_ven + ven_codes[events]
        self.bid, self.ask = cols["bid"][events], cols["ask"][events]
        self.bid_size, self.ask_size = cols["bid_size"][events], cols["ask_size"][events]
        self.price, self.size = cols["price"][events], cols["size"][events]
        self.tick = tick
        self.snapped = np.zeros(events.size, dtype=np.int8)  # prices snapped to the tick, per event
        off_grid = self._snap(tick, rules) if tick > 0 else np.zeros(events.size, dtype=bool)
        self.trade_verdict = self._check(events, f, off_grid, rules)
        # a batch ends at the first row stamped at or after its end; late rows stay in feed order
        self.ts_reach = np.maximum.accumulate(self.ts)
        refs = np.flatnonzero((kind == "ref") & keep)
        self.refs: dict[tuple[int, int], float] = {
            (int(sym_codes[i]), int(ts[i]) - self.offset_ns): float(cols["price"][i]) for i in refs
        }
        self.n_events = int(events.size)
        self.end_ns = int(self.ts_reach[-1]) + 1
        self.ptr = 0
        self.last = (0, 0)  # the rows [start, stop) of the latest batch
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.trades_seen = self.trades_rejected = self.prices_snapped = 0
        self.trade_rejects = [0] * len(REJECT_REASONS)

    @staticmethod
    def _sides(f: ReplayFile, events: np.ndarray, text: np.ndarray | None, trade: np.ndarray) -> np.ndarray | None:
        """The trade rows' ``side`` column as int8 per event: +1 / -1 / 0 where given, 2 where the quote rule
        decides; None without the column. Raises DataError on a value that is not a side."""
        if text is None:
            return None
        rows = events[trade]
        code, given, bad = side_codes(text[rows])
        if bad.any():
            k = int(np.argmax(bad))
            raise f.error(int(rows[k]), f"side = {text[rows[k]]!r}: expected B, S, N or empty (or +1, -1, 0)")
        out = np.full(events.size, 2, dtype=np.int8)
        out[np.flatnonzero(trade)[given]] = code[given]
        return out

    def _snap(self, tick: float, rules: NormalizerSettings | None) -> np.ndarray:
        """Snap quote prices within float32 rounding of the grid (counted); the quotes with a price off it.

        Only quotes that pass the normaliser's stateless tests: an empty level's placeholder price
        (999999.9999) is rejected as it is, neither snapped nor counted."""
        quote = ~self.is_trade & sane_quotes(self.bid, self.ask, self.bid_size, self.ask_size, rules)
        off = np.zeros(self.ts.size, dtype=bool)
        for name in ("bid", "ask"):
            prices = getattr(self, name)
            fixed, snapped, off_side = snap_to_tick(prices, tick)
            snapped &= quote
            prices[snapped] = fixed[snapped]
            self.snapped += snapped
            off |= off_side & quote
        return off

    def _check(
        self, events: np.ndarray, f: ReplayFile, off_grid: np.ndarray, rules: NormalizerSettings | None
    ) -> np.ndarray:
        """Each trade print's verdict (OK elsewhere); refuses a quote the normaliser accepts off the grid.

        The quotes go through a normaliser of their own, as the engine's will see them (its verdicts
        depend on the feed alone), for each trade print's reference: its symbol's last accepted mid."""
        n = self.ts.size
        verdict = np.full(n, OK, dtype=np.int8)
        self.trade_side = np.zeros(n, dtype=np.int8)
        trades = np.flatnonzero(self.is_trade)
        if not trades.size and not off_grid.any():
            return verdict
        quotes = np.flatnonzero(~self.is_trade)
        if rules is not None:
            norm = Normalizer(len(self.symbols), self.n_ven, rules)
            accepted = np.empty(quotes.size, dtype=bool)
            for lo in range(0, quotes.size, CHECK_CHUNK):
                q = quotes[lo : lo + CHECK_CHUNK]
                v = norm.check_batch(self.ts[q], self.stream[q], self.bid[q], self.ask[q], self.bid_size[q],
                                     self.ask_size[q])  # fmt: skip
                accepted[lo : lo + q.size] = v == OK
        else:
            b, a, bsz, asz = self.bid[quotes], self.ask[quotes], self.bid_size[quotes], self.ask_size[quotes]
            accepted = sane_quotes(b, a, bsz, asz, None)
        bad = np.flatnonzero(off_grid[quotes] & accepted)
        if bad.size:
            k = int(quotes[bad[0]])
            name = "bid" if snap_to_tick(self.bid[k : k + 1], self.tick)[2][0] else "ask"
            price = float(getattr(self, name)[k])
            raise f.error(
                int(events[k]),
                f"{name} = {price!r} is off the {self.tick:g} tick grid (market.tick_size); expected a multiple of "
                "the tick: set market.tick_size to the file's tick",
            )
        if not trades.size:
            return verdict
        ref = np.zeros(trades.size)
        sym = self.stream // self.n_ven
        good = quotes[accepted]
        mid = (self.bid[good] + self.ask[good]) * 0.5
        for s in np.unique(sym[trades]).tolist():
            mine = sym[good] == s
            at, m = good[mine], mid[mine]
            sel = sym[trades] == s
            k = np.searchsorted(at, trades[sel]) - 1  # the symbol's last accepted quote before the print
            ref[sel] = np.where(k >= 0, m[np.maximum(k, 0)] if m.size else 0.0, 0.0)
        verdict[trades] = check_trades(self.price[trades], self.size[trades], ref, rules)
        # the aggressor by the quote rule (Lee and Ready 1991): above the mid a buyer lifted the offer, below
        # it a seller hit the bid; at the mid unknown (0: it fills no resting order of ours)
        side = np.sign(np.nan_to_num(self.price[trades] - ref))  # a non-finite print is rejected: no side
        self.trade_side[trades] = side.astype(np.int8) * (ref > 0)
        if self.side_given is not None:  # the data's own side, where it has one, over the quote rule
            given = self.side_given != 2
            self.trade_side[given] = self.side_given[given]
        return verdict

    @property
    def exhausted(self) -> bool:
        return self.ptr >= self.n_events

    @property
    def next_ns(self) -> float:
        """The earliest time the next batch can end and hold a row (inf: none left)."""
        return self.ts_reach.item(self.ptr) if self.ptr < self.n_events else math.inf

    @property
    def quality(self) -> dict[str, int]:
        """What the replay changed in its data (summary.json ``data_quality``): prices snapped to the tick."""
        return {"prices_snapped": self.prices_snapped}

    @property
    def trades_rejected_by_reason(self) -> dict[str, int]:
        return {r: c for r, c in zip(REJECT_REASONS, self.trade_rejects, strict=True) if c}

    def rewound(self) -> ReplayMarket:
        """The same data from the start, sharing the (read-only) arrays: one parse, many runs."""
        other = copy.copy(self)
        other.ptr, other.last = 0, (0, 0)
        other._reset_counts()
        return other

    def next_batch(self, t1_ns: int) -> TickBatch:
        start = self.ptr
        stop = int(np.searchsorted(self.ts_reach, t1_ns, side="left"))
        stop = max(stop, start)
        self.ptr = stop
        self.last = (start, stop)
        self.prices_snapped += int(self.snapped[start:stop].sum())
        trade = self.is_trade[start:stop]
        n_trades = int(trade.sum())
        if n_trades:
            self.trades_seen += n_trades
            rejected = self.trade_verdict[start:stop][trade]
            rejected = rejected[rejected != OK]
            self.trades_rejected += int(rejected.size)
            for r in rejected.tolist():
                self.trade_rejects[r] += 1
            q = np.flatnonzero(~trade) + start
            t = np.flatnonzero(trade) + start
            t = t[(self.trade_verdict[t] == OK) & self.print_venue_known[t] & (self.trade_side[t] != 0)]
            prints = TradePrints(
                self.ts[t], self.stream[t], self.price[t].astype(float), self.size[t].astype(np.int64),
                self.trade_side[t].astype(np.int64),
            )  # fmt: skip
        else:
            q = slice(start, stop)  # type: ignore[assignment]
            prints = None
        return TickBatch(
            self.ts[q],
            self.stream[q],
            self.bid[q],
            self.ask[q],
            self.bid_size[q],
            self.ask_size[q],
            {},
            n_trades,
            prints,
        )

    def last_prints_all(self) -> PrintRows | None:
        """Every trade row of the latest batch, as the file had it (rejected, venue-less and unsided ones
        too; ``side`` the one replay used), with its place among the batch's quotes; None: no trades."""
        start, stop = self.last
        t = np.flatnonzero(self.is_trade[start:stop])
        if not t.size:
            return None
        at = t - np.arange(t.size)  # the rows before each print, less the prints among them
        t += start
        prints = TradePrints(
            self.ts[t], self.stream[t], self.price[t], self.size[t], self.trade_side[t].astype(np.int64)
        )
        return PrintRows(prints, at.astype(np.int64), None if self.venue_text is None else self.venue_text[t])

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        """The recorded fair price, or NaN: the engine then uses the consolidated mid it has seen by
        ``t_ns`` (never a quote from later in the batch)."""
        return self.refs.get((sym, t_ns), math.nan)

    def close(self) -> None:
        return None
