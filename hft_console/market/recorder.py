"""``--record PATH``: everything a session's feed delivered, in the replay format (see replay.py).

The recorder wraps the session's source. It writes each batch's quote updates exactly as they came
(bad ticks included, so a replay rejects the same ones), every trade print the source delivered with
its aggressor ``side`` (B, S or N; rejected prints included, so a replay counts and rejects the same
ones), and a ``ref`` row whenever a venue's fill model reads the hidden fair price, so a synthetic
session replays fill for fill. Times are the data's own: session ns plus the source's ``offset_ns``
(a replay's or a real feed's epoch ns of session zero; 0, or none, for a synthetic session). Rows
are buffered and written in large chunks; the file is complete once the session ends (``close``).

What the recorder reads from a source beyond ``MarketSource`` (both optional): ``offset_ns`` (int), and
``last_prints_all()``, every trade print of the latest batch as a ``replay.PrintRows`` (or None when it
had none). A source without the method is recorded from ``TickBatch.prints``, each print placed before
the first quote delivered after it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.market.replay import PrintRows
from hft_console.market.replay_read import COLUMNS, OPTIONAL_COLUMNS, arrow_types
from hft_console.market.source import DataError, MarketSource
from hft_console.market.synthetic import TickBatch, TradePrints

FLUSH_ROWS = 65_536
SIDE_TEXT = np.array(["S", "N", "B"], dtype=object)  # aggressor -1 / 0 / +1 as a recording writes it


def placed(batch: TickBatch, prints: TradePrints) -> PrintRows:
    """Places among the batch's quotes for a source's prints that come without them: each print goes before
    the first quote delivered after it; the quotes keep their feed order (a late-stamped one stays put)."""
    reach = np.maximum.accumulate(batch.ts)
    return PrintRows(prints, np.searchsorted(reach, prints.ts, side="right").astype(np.int64), None)


class RecordingMarket:
    def __init__(self, inner: MarketSource, path: Path, venue_names: list[str]) -> None:
        import pyarrow as pa

        self.inner = inner
        self.symbols = inner.symbols
        self.label = inner.label
        self.path = path
        self.venue_names = venue_names
        self.n_ven = len(venue_names)
        self.schema = pa.schema([(c, arrow_types()[c]) for c in (*COLUMNS, *OPTIONAL_COLUMNS)])
        self.chunks: list[tuple[TickBatch, PrintRows | None]] = []
        self.buffered = 0
        self.refs: list[tuple[int, int, float]] = []
        self.rows_written = 0
        self._writer: Any = None
        if path.exists():  # never overwrite: it may be the very file being replayed, or last week's data
            raise DataError("record", f"{str(path)!r} already exists; expected a new file", 2)
        self.partial = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() == ".csv":
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(str(self.partial), self.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.partial), self.schema)
        except (OSError, pa.ArrowException) as exc:
            raise DataError("record", f"cannot write {str(path)!r}: {str(exc).splitlines()[0]}", 2) from None

    @property
    def feed_state(self) -> str:
        return self.inner.feed_state

    @property
    def exhausted(self) -> bool:
        return self.inner.exhausted

    @property
    def next_ns(self) -> float | None:
        """The recorded source's (None when it cannot say): skipped time holds nothing to record."""
        nxt: float | None = getattr(self.inner, "next_ns", None)
        return nxt

    @property
    def trades_rejected(self) -> int:
        return int(getattr(self.inner, "trades_rejected", 0))

    @property
    def trades_rejected_by_reason(self) -> dict[str, int]:
        return dict(getattr(self.inner, "trades_rejected_by_reason", {}))

    @property
    def end_ns(self) -> int | None:
        end: int | None = getattr(self.inner, "end_ns", None)
        return end

    @property
    def generated(self) -> bool:
        """The recorded source's: a recording changes nothing about how its venues fill."""
        return self.inner.generated

    @property
    def offset_ns(self) -> int:
        """The recorded source's: a replay of a recording of a recording still starts where the data did."""
        return int(getattr(self.inner, "offset_ns", 0))

    def next_batch(self, t1_ns: int) -> TickBatch:
        batch = self.inner.next_batch(t1_ns)
        every = getattr(self.inner, "last_prints_all", None)
        rows: PrintRows | None
        if every is not None:
            rows = every()
        else:
            rows = placed(batch, batch.prints) if batch.prints is not None and len(batch.prints) else None
        n = len(batch) + (0 if rows is None else len(rows.prints))
        if n:
            self.chunks.append((batch, rows))
            self.buffered += n
        if self.buffered >= FLUSH_ROWS:
            self.flush()
        return batch

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        fair = self.inner.fundamental_at(sym, t_ns)
        if not math.isnan(fair):
            self.refs.append((t_ns + self.offset_ns, sym, fair))
        return fair

    def flush(self) -> None:
        """Write what is buffered: the quotes and trade prints in feed order, then the ``ref`` rows."""
        import pyarrow as pa

        if self._writer is None or not (self.chunks or self.refs):
            return
        names = np.array(self.symbols, dtype=object)
        venues = np.array(self.venue_names, dtype=object)
        offset = self.offset_ns
        if self.chunks:
            batches = [b for b, _ in self.chunks]
            stream = np.concatenate([b.stream for b in batches])
            n = stream.size
            quotes = {
                "ts_ns": np.concatenate([b.ts for b in batches]) + offset,
                "symbol": names[stream // self.n_ven],
                "venue": venues[stream % self.n_ven],
                "kind": np.full(n, "quote", dtype=object),
                "bid": np.concatenate([b.bid for b in batches]),
                "ask": np.concatenate([b.ask for b in batches]),
                "bid_size": np.concatenate([b.bid_size for b in batches]),
                "ask_size": np.concatenate([b.ask_size for b in batches]),
                "price": pa.nulls(n, pa.float64()),
                "size": pa.nulls(n, pa.int64()),
                "side": pa.nulls(n, pa.string()),
            }
            table = pa.Table.from_pydict(quotes, schema=self.schema)
            first = np.cumsum([0, *(len(b) for b in batches)])  # each batch's first quote among all
            rows = [(r, int(first[k])) for k, (_, r) in enumerate(self.chunks) if r is not None and len(r.prints)]
            if rows:  # others' trades, each at its place among the quotes
                p = [r.prints for r, _ in rows]
                pst = np.concatenate([q.stream for q in p])
                m = pst.size
                venue = np.concatenate([venues[q.stream % self.n_ven] if r.venue is None else r.venue
                                        for q, (r, _) in zip(p, rows, strict=True)])  # fmt: skip
                price = np.concatenate([q.price for q in p]).astype(np.float64)
                size = np.concatenate([q.size for q in p]).astype(np.int64)
                trades = {
                    "ts_ns": np.concatenate([q.ts for q in p]) + offset, "symbol": names[pst // self.n_ven],
                    "venue": venue, "kind": np.full(m, "trade", dtype=object),
                    "bid": pa.nulls(m, pa.float64()), "ask": pa.nulls(m, pa.float64()),
                    "bid_size": pa.nulls(m, pa.int64()), "ask_size": pa.nulls(m, pa.int64()),
                    # what the data left empty stays empty (the reader's NaN and -1)
                    "price": pa.array(price, mask=np.isnan(price)), "size": pa.array(size, mask=size == -1),
                    "side": SIDE_TEXT[np.sign(np.concatenate([q.side for q in p])).astype(np.int64) + 1],
                }  # fmt: skip
                table = pa.concat_tables([table, pa.Table.from_pydict(trades, schema=self.schema)])
                at = np.concatenate([r.at + base for r, base in rows])
                key = np.concatenate([2 * np.arange(n) + 1, 2 * at])
                table = table.take(pa.array(np.argsort(key, kind="stable")))
            self._write(table)
        if self.refs:
            t, s, fair = zip(*self.refs, strict=True)
            n = len(t)
            refs = {
                "ts_ns": list(t), "symbol": [self.symbols[k] for k in s], "venue": [""] * n, "kind": ["ref"] * n,
                "bid": [None] * n, "ask": [None] * n, "bid_size": [None] * n, "ask_size": [None] * n,
                "price": list(fair), "size": [None] * n, "side": [None] * n,
            }  # fmt: skip
            self._write(pa.Table.from_pydict(refs, schema=self.schema))
        self.chunks, self.buffered, self.refs = [], 0, []

    def _write(self, table: Any) -> None:
        self._writer.write_table(table)
        self.rows_written += table.num_rows

    def close(self) -> None:
        try:
            self.flush()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
                os.replace(self.partial, self.path)  # the file appears complete, or not at all
        finally:
            self.inner.close()
