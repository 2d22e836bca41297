"""``--record PATH``: everything a session's feed delivered, in the replay format (see replay.py).

The recorder wraps the session's source. It writes each batch's quote updates exactly as they came
(bad ticks included, so a replay rejects the same ones), and a ``ref`` row whenever a venue's fill
model reads the hidden fair price, so a synthetic session replays fill for fill. Rows are buffered
and written in large chunks; the file is complete once the session ends (``close``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.market.replay_read import COLUMNS, arrow_types
from hft_console.market.source import DataError, MarketSource
from hft_console.market.synthetic import TickBatch

FLUSH_ROWS = 65_536


class RecordingMarket:
    def __init__(self, inner: MarketSource, path: Path, venue_names: list[str]) -> None:
        import pyarrow as pa

        self.inner = inner
        self.symbols = inner.symbols
        self.label = inner.label
        self.path = path
        self.venue_names = venue_names
        self.n_ven = len(venue_names)
        self.schema = pa.schema([(c, arrow_types()[c]) for c in COLUMNS])
        self.chunks: list[TickBatch] = []
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

    def next_batch(self, t1_ns: int) -> TickBatch:
        batch = self.inner.next_batch(t1_ns)
        n = len(batch)
        if n:
            self.chunks.append(batch)
            self.buffered += n
        if self.buffered >= FLUSH_ROWS:
            self.flush()
        return batch

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        fair = self.inner.fundamental_at(sym, t_ns)
        if not math.isnan(fair):
            self.refs.append((t_ns, sym, fair))
        return fair

    def flush(self) -> None:
        """Write what is buffered: the quotes and trade prints in feed order, then the ``ref`` rows."""
        import pyarrow as pa

        if self._writer is None or not (self.chunks or self.refs):
            return
        names = np.array(self.symbols, dtype=object)
        venues = np.array(self.venue_names, dtype=object)
        if self.chunks:
            stream = np.concatenate([c.stream for c in self.chunks])
            n = stream.size
            quotes = {
                "ts_ns": np.concatenate([c.ts for c in self.chunks]),
                "symbol": names[stream // self.n_ven],
                "venue": venues[stream % self.n_ven],
                "kind": np.full(n, "quote", dtype=object),
                "bid": np.concatenate([c.bid for c in self.chunks]),
                "ask": np.concatenate([c.ask for c in self.chunks]),
                "bid_size": np.concatenate([c.bid_size for c in self.chunks]),
                "ask_size": np.concatenate([c.ask_size for c in self.chunks]),
                "price": pa.nulls(n, pa.float64()),
                "size": pa.nulls(n, pa.int64()),
            }
            table = pa.Table.from_pydict(quotes, schema=self.schema)
            prints = [c.prints for c in self.chunks if c.prints is not None and len(c.prints)]
            if prints:  # others' trades, in time order among the quotes (replay infers their side)
                pst = np.concatenate([p.stream for p in prints])
                m = pst.size
                trades = {
                    "ts_ns": np.concatenate([p.ts for p in prints]), "symbol": names[pst // self.n_ven],
                    "venue": venues[pst % self.n_ven], "kind": np.full(m, "trade", dtype=object),
                    "bid": pa.nulls(m, pa.float64()), "ask": pa.nulls(m, pa.float64()),
                    "bid_size": pa.nulls(m, pa.int64()), "ask_size": pa.nulls(m, pa.int64()),
                    "price": np.concatenate([p.price for p in prints]),
                    "size": np.concatenate([p.size for p in prints]),
                }  # fmt: skip
                table = pa.concat_tables([table, pa.Table.from_pydict(trades, schema=self.schema)])
                # each print goes before the first quote delivered after it; the quotes keep their feed
                # order (a late-stamped quote stays where the feed put it)
                reach = np.maximum.accumulate(quotes["ts_ns"])
                at = np.searchsorted(reach, trades["ts_ns"], side="right")
                key = np.concatenate([2 * np.arange(n) + 1, 2 * at])
                table = table.take(pa.array(np.argsort(key, kind="stable")))
            self._write(table)
        if self.refs:
            t, s, fair = zip(*self.refs, strict=True)
            n = len(t)
            refs = {
                "ts_ns": list(t), "symbol": [self.symbols[k] for k in s], "venue": [""] * n, "kind": ["ref"] * n,
                "bid": [None] * n, "ask": [None] * n, "bid_size": [None] * n, "ask_size": [None] * n,
                "price": list(fair), "size": [None] * n,
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
