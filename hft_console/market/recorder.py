"""``--record PATH``: everything a session's feed delivered, in the replay format (see replay.py).

The recorder wraps the session's source. It writes each batch's quote updates exactly as they came
(bad ticks included, so a replay rejects the same ones), and a ``ref`` row whenever a venue's fill
model reads the hidden fair price, so a synthetic session replays fill for fill. Rows are buffered
and written in large chunks; the file is complete once the session ends (``close``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hft_console.market.replay import COLUMNS, _arrow_types
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
        self.schema = pa.schema([(c, _arrow_types()[c]) for c in COLUMNS])
        self.rows: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        self.rows_written = 0
        self._writer: Any = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() == ".csv":
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(str(path), self.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(path), self.schema)
        except (OSError, pa.ArrowException) as exc:
            raise DataError("record", f"cannot write {str(path)!r}: {str(exc).splitlines()[0]}", 2) from None

    @property
    def feed_state(self) -> str:
        return self.inner.feed_state

    @property
    def exhausted(self) -> bool:
        return self.inner.exhausted

    def next_batch(self, t1_ns: int) -> TickBatch:
        batch = self.inner.next_batch(t1_ns)
        rows, n_ven, n = self.rows, self.n_ven, len(batch.ts)
        rows["ts_ns"] += batch.ts
        rows["symbol"] += [self.symbols[k // n_ven] for k in batch.stream]
        rows["venue"] += [self.venue_names[k % n_ven] for k in batch.stream]
        rows["kind"] += ["quote"] * n
        rows["bid"] += batch.bid
        rows["ask"] += batch.ask
        rows["bid_size"] += batch.bid_size
        rows["ask_size"] += batch.ask_size
        rows["price"] += [None] * n
        rows["size"] += [None] * n
        if len(rows["ts_ns"]) >= FLUSH_ROWS:
            self.flush()
        return batch

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        fair = self.inner.fundamental_at(sym, t_ns)
        if not math.isnan(fair):
            rows = self.rows
            for name, value in zip(
                COLUMNS, (t_ns, self.symbols[sym], "", "ref", None, None, None, None, fair, None), strict=True
            ):
                rows[name].append(value)
        return fair

    def flush(self) -> None:
        import pyarrow as pa

        if not self.rows["ts_ns"] or self._writer is None:
            return
        table = pa.Table.from_pydict(self.rows, schema=self.schema)
        self._writer.write_table(table)
        self.rows_written += table.num_rows
        self.rows = {c: [] for c in COLUMNS}

    def close(self) -> None:
        try:
            self.flush()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        finally:
            self.inner.close()
