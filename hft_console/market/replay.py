"""Replay of recorded ticks from CSV or Parquet, through the same normaliser as live data.

Columns (one row per event, in feed order):

    ts_ns     int    event time, ns (UTC epoch ns for real data, session ns for synthetic recordings)
    symbol    str    ticker
    venue     str    a configured venue name (quotes); may be empty for trades
    kind      str    quote | trade | ref
    bid, ask  float  quote prices (empty for trades)
    bid_size, ask_size  int  displayed sizes (empty for trades)
    price     float  trade price, or the fair price for ``ref`` rows (empty for quotes)
    size      int    trade size (empty for quotes)

``ref`` rows are not market events: they hold the hidden fair price a synthetic venue's fill model
used at that time, so a recorded synthetic session replays fill for fill. Data without them (any
real feed) fills against the latest consolidated mid.

What is an error and what is counted: a missing or unreadable file, missing columns, a truncated
row, a value of the wrong type, an unknown ``kind``, an empty symbol, or a venue that is not
configured stops the run with a message naming the file and the row — a backtest on part of a file
would be silently wrong. A quote whose values parse but make no sense (NaN, crossed, negative,
out of order) is kept and rejected and counted by the normaliser, exactly as a live feed's would
be; such a trade print is counted in ``trades_rejected``.

Timestamps are shifted by the whole seconds of the first row, so session time starts near zero
and a recording of a synthetic session (which starts at 0) replays on the very same times.
"""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.market.source import DataError
from hft_console.market.synthetic import TickBatch

COLUMNS = ("ts_ns", "symbol", "venue", "kind", "bid", "ask", "bid_size", "ask_size", "price", "size")
KINDS = ("quote", "trade", "ref")
INT_COLUMNS = ("ts_ns", "bid_size", "ask_size", "size")
FLOAT_COLUMNS = ("bid", "ask", "price")


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    types = {c: pa.int64() for c in INT_COLUMNS}
    types.update({c: pa.float64() for c in FLOAT_COLUMNS})
    types.update({c: pa.string() for c in ("symbol", "venue", "kind")})
    return types


def _first_bad_csv_row(path: Path) -> str:
    """pyarrow says what is wrong but not where: find the first offending row the slow way."""
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        index = {name: i for i, name in enumerate(header)}
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                return f"row {line}: expected {len(header)} fields, found {len(row)} (truncated or malformed)"
            for name in INT_COLUMNS + FLOAT_COLUMNS:
                text = row[index[name]].strip() if name in index else ""
                if not text:
                    continue
                try:
                    int(text) if name in INT_COLUMNS else float(text)
                except ValueError:
                    kind = "an integer" if name in INT_COLUMNS else "a number"
                    return f"row {line}: {name} = {text!r}: expected {kind}"
    return "a value the CSV reader cannot parse"


def read_table(path: Path) -> dict[str, np.ndarray]:
    """The file's columns as numpy arrays; DataError (exit 2) on anything structurally wrong."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    where = f"replay file {str(path)!r}"
    if not path.is_file():
        raise DataError("replay", f"{where}: no such file", 2)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataError("replay", f"{where}: expected a .csv or .parquet file", 2)
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8", errors="replace") as fh:
                header = next(csv.reader(fh), [])
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise DataError("replay", f"{where}: missing columns {missing}; expected {list(COLUMNS)}", 2)
            options = pacsv.ConvertOptions(column_types=_arrow_types(), include_columns=list(COLUMNS))
            table = pacsv.read_csv(path, convert_options=options)
        else:
            schema_names = pq.read_schema(path).names
            missing = [c for c in COLUMNS if c not in schema_names]
            if missing:
                raise DataError("replay", f"{where}: missing columns {missing}; expected {list(COLUMNS)}", 2)
            table = pq.read_table(path, columns=list(COLUMNS))
            table = table.cast(pa.schema([(c, _arrow_types()[c]) for c in COLUMNS]))
    except DataError:
        raise
    except pa.ArrowInvalid as exc:
        detail = _first_bad_csv_row(path) if suffix == ".csv" else str(exc).splitlines()[0]
        raise DataError("replay", f"{where}: {detail}", 2) from None
    except (OSError, pa.ArrowException) as exc:
        raise DataError("replay", f"{where}: unreadable ({str(exc).splitlines()[0]})", 2) from None
    if table.num_rows == 0:
        raise DataError("replay", f"{where}: no rows", 2)
    out: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        col = table.column(name)
        if name in ("symbol", "venue", "kind"):
            out[name] = np.array(col.fill_null("").to_pylist(), dtype=object)
        elif name in INT_COLUMNS:
            if name == "ts_ns" and col.null_count:
                row = int(np.flatnonzero(np.asarray(col.is_null()))[0])
                raise DataError("replay", f"{where}: row {_row_label(suffix, row)}: ts_ns is empty", 2)
            out[name] = np.asarray(col.fill_null(0 if name == "ts_ns" else -1), dtype=np.int64)
        else:
            out[name] = np.asarray(col.fill_null(math.nan), dtype=np.float64)
    return out


def _row_label(suffix: str, index: int) -> int:
    """Rows as a person counts them: CSV line numbers (header = 1), Parquet rows from 1."""
    return index + 2 if suffix == ".csv" else index + 1


class ReplayMarket:
    feed_state = "sim"

    def __init__(self, path: Path, symbols: list[str] | None, venue_names: list[str]) -> None:
        cols = read_table(path)
        suffix = path.suffix.lower()
        where = f"replay file {str(path)!r}"
        self.label = f"replay:{path.name}"
        kind = cols["kind"]
        bad_kind = np.flatnonzero(~np.isin(kind, KINDS))
        if bad_kind.size:
            row = int(bad_kind[0])
            raise DataError(
                "replay", f"{where}: row {_row_label(suffix, row)}: kind = {kind[row]!r}: expected one of {KINDS}", 2
            )
        sym_col = cols["symbol"]
        empty = np.flatnonzero(sym_col == "")
        if empty.size:
            raise DataError("replay", f"{where}: row {_row_label(suffix, int(empty[0]))}: symbol is empty", 2)
        in_file = list(dict.fromkeys(sym_col.tolist()))
        if symbols is None:
            self.symbols = in_file
        else:
            absent = [s for s in symbols if s not in in_file]
            if absent:
                raise DataError("replay", f"{where}: no rows for {', '.join(absent)} (the file has {in_file})", 2)
            self.symbols = list(symbols)
        sym_index = {s: i for i, s in enumerate(self.symbols)}
        ven_index = {v: i for i, v in enumerate(venue_names)}
        n_ven = len(venue_names)
        keep = np.isin(sym_col, self.symbols)
        self.rows_skipped = int((~keep).sum())
        is_quote = (kind == "quote") & keep
        ven_col = cols["venue"]
        unknown = np.flatnonzero(is_quote & ~np.isin(ven_col, venue_names))
        if unknown.size:
            row = int(unknown[0])
            raise DataError(
                "replay",
                f"{where}: row {_row_label(suffix, row)}: venue = {ven_col[row]!r}: expected a configured venue "
                f"({', '.join(venue_names)})",
                2,
            )
        ts = cols["ts_ns"]
        events = np.flatnonzero((is_quote | (kind == "trade")) & keep)
        if events.size == 0:
            raise DataError("replay", f"{where}: no quotes or trades for {', '.join(self.symbols)}", 2)
        self.offset_ns = int(ts[events[0]]) // 1_000_000_000 * 1_000_000_000
        sym_codes = np.array([sym_index.get(s, -1) for s in sym_col.tolist()], dtype=np.int64)
        ven_codes = np.array([ven_index.get(v, 0) for v in ven_col.tolist()], dtype=np.int64)
        self.ts = ts[events] - self.offset_ns
        self.is_trade = kind[events] == "trade"
        self.stream = sym_codes[events] * n_ven + ven_codes[events]
        self.bid, self.ask = cols["bid"][events], cols["ask"][events]
        self.bid_size, self.ask_size = cols["bid_size"][events], cols["ask_size"][events]
        self.price, self.size = cols["price"][events], cols["size"][events]
        # a batch ends at the first row stamped at or after its end; late rows stay in feed order
        self.ts_reach = np.maximum.accumulate(self.ts)
        refs = np.flatnonzero((kind == "ref") & keep)
        self.refs: dict[tuple[int, int], float] = {
            (int(sym_codes[i]), int(ts[i]) - self.offset_ns): float(cols["price"][i]) for i in refs
        }
        self.n_events = int(events.size)
        self.end_ns = int(self.ts_reach[-1]) + 1
        self.ptr = 0
        self.trades_seen = self.trades_rejected = 0

    @property
    def exhausted(self) -> bool:
        return self.ptr >= self.n_events

    def rewound(self) -> ReplayMarket:
        """The same data from the start, sharing the (read-only) arrays: one parse, many runs."""
        other = copy.copy(self)
        other.ptr = 0
        other.trades_seen = other.trades_rejected = 0
        return other

    def next_batch(self, t1_ns: int) -> TickBatch:
        start = self.ptr
        stop = int(np.searchsorted(self.ts_reach, t1_ns, side="left"))
        stop = max(stop, start)
        self.ptr = stop
        trade = self.is_trade[start:stop]
        n_trades = int(trade.sum())
        if n_trades:
            tp, tsz = self.price[start:stop][trade], self.size[start:stop][trade]
            self.trades_seen += n_trades
            self.trades_rejected += int((~(np.isfinite(tp) & (tp > 0) & (tsz > 0))).sum())
            q = np.flatnonzero(~trade) + start
        else:
            q = slice(start, stop)  # type: ignore[assignment]
        return TickBatch(
            self.ts[q], self.stream[q], self.bid[q], self.ask[q], self.bid_size[q], self.ask_size[q], {}, n_trades
        )

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        """The recorded fair price, or NaN: the engine then uses the consolidated mid it has seen by
        ``t_ns`` (never a quote from later in the batch)."""
        return self.refs.get((sym, t_ns), math.nan)

    def close(self) -> None:
        return None
