"""The SQLite journal: every order, fill, reject, risk event and operator command of a session.

Rows are buffered and committed by the engine at the end of every batch and before anything is
shown to anyone, so what the operator has seen is on disk. WAL mode with synchronous=NORMAL means a
committed transaction survives a crash of the process. Every table carries ``ts_ns`` on the
engine's clock; ``wall_ns`` columns are wall-clock stamps for people, not for replay.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from hft_console.domain import Fill, Order

SCHEMA = """
create table if not exists meta (key text primary key, value text not null);
create table if not exists orders (
    order_id integer primary key, parent_id integer not null, ts_ns integer not null,
    symbol text not null, side text not null, qty integer not null, limit_price real not null,
    venue text not null, router text not null, arrive_ns integer, status text not null,
    filled integer not null default 0, done_ns integer, reason text, wall_ns integer not null,
    order_type text not null default 'IOC', tif text not null default 'IOC'
);
create table if not exists order_events (
    id integer primary key, order_id integer not null, ts_ns integer not null, state text not null,
    qty integer not null, price real not null, queue_ahead integer not null, reason text
);
create table if not exists fills (
    id integer primary key, ts_ns integer not null, venue_ts_ns integer not null,
    order_id integer not null, symbol text not null, side text not null, qty integer not null,
    price real not null, fee real not null, venue text not null, router text not null,
    trade_pnl real not null, total_pnl real not null, wall_ns integer not null,
    liquidity text not null default 'TAKER'
);
create table if not exists events (
    id integer primary key, ts_ns integer not null, kind text not null, symbol text, venue text,
    order_id integer, reason text, detail text, wall_ns integer not null
);
create index if not exists fills_ts on fills(ts_ns);
create index if not exists events_ts on events(ts_ns);
create index if not exists order_events_order on order_events(order_id);
"""


class JournalError(OSError):
    """The journal cannot be written (disk full, I/O error, the file gone): one line naming the file
    and SQLite's error. What was committed before stays in the file."""

    def __init__(self, path: Path | None, error: BaseException) -> None:
        self.path = path
        super().__init__(f"cannot write the journal {str(path or ':memory:')!r}: {error}")


class Journal:
    def __init__(self, path: Path | None) -> None:
        """``path`` None: an in-memory journal (backtest scenarios keep nothing on disk).
        Raises JournalError when the file cannot be created."""
        self.path = path
        try:
            self.db = sqlite3.connect(path or ":memory:", isolation_level=None, check_same_thread=False)
            self.db.execute("pragma journal_mode=wal")
            self.db.execute("pragma synchronous=normal")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise JournalError(path, exc) from None
        self.broken: JournalError | None = None  # set once a write failed: nothing more is attempted
        self._orders: list[tuple[Any, ...]] = []
        self._done: list[tuple[Any, ...]] = []
        self._fills: list[tuple[Any, ...]] = []
        self._events: list[tuple[Any, ...]] = []
        self._order_events: list[tuple[Any, ...]] = []
        self.counts = {"orders": 0, "fills": 0, "events": 0, "order_events": 0}

    def meta(self, values: dict[str, object]) -> None:
        self.db.executemany(
            "insert or replace into meta values (?, ?)", [(k, json.dumps(v)) for k, v in values.items()]
        )

    def order(self, o: Order) -> None:
        self._orders.append(
            (o.order_id, o.parent_id, o.ts_ns, o.symbol, o.side.label, o.qty, o.limit, o.venue, o.router,
             o.arrive_ns or None, o.status, time.time_ns(), o.order_type, o.tif)
        )  # fmt: skip

    def order_done(self, o: Order, done_ns: int, reason: str) -> None:
        self._done.append((o.status, o.filled, o.qty, o.limit, done_ns, reason or None, o.order_id))

    def order_event(
        self, order_id: int, ts_ns: int, state: str, qty: int, price: float, queue_ahead: int, reason: str
    ) -> None:
        """One state change of an order (``state`` an OrderStatus value); ``qty``/``price`` are the fill's
        on a fill, else the order's."""
        self._order_events.append((order_id, ts_ns, state, qty, price, queue_ahead, reason or None))

    def fill(self, f: Fill) -> None:
        self._fills.append(
            (f.ts_ns, f.venue_ts_ns, f.order_id, f.symbol, f.side.label, f.qty, f.price, f.fee, f.venue, f.router,
             f.trade_pnl, f.total_pnl, time.time_ns(), f.liquidity)
        )  # fmt: skip

    def event(
        self,
        ts_ns: int,
        kind: str,
        reason: str = "",
        *,
        symbol: str | None = None,
        venue: str | None = None,
        order_id: int | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        payload = json.dumps(detail, sort_keys=True) if detail else None
        self._events.append((ts_ns, kind, symbol, venue, order_id, reason or None, payload, time.time_ns()))

    def commit(self) -> None:
        """Write the buffered rows in one transaction. Raises JournalError when they cannot be written
        (the transaction is rolled back: the file keeps every earlier commit)."""
        if self.broken is not None:
            raise self.broken
        if not (self._orders or self._done or self._fills or self._events or self._order_events):
            return
        try:
            self._write()
        except sqlite3.Error as exc:
            self.broken = JournalError(self.path, exc)
            raise self.broken from None

    def _write(self) -> None:
        db = self.db
        db.execute("begin")
        try:
            db.executemany(
                "insert into orders (order_id, parent_id, ts_ns, symbol, side, qty, limit_price, venue, router,"
                " arrive_ns, status, wall_ns, order_type, tif) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._orders,
            )
            db.executemany(
                "update orders set status=?, filled=?, qty=?, limit_price=?, done_ns=?, reason=? where order_id=?",
                self._done,
            )
            db.executemany(
                "insert into fills (ts_ns, venue_ts_ns, order_id, symbol, side, qty, price, fee, venue, router,"
                " trade_pnl, total_pnl, wall_ns, liquidity) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._fills,
            )
            db.executemany(
                "insert into events (ts_ns, kind, symbol, venue, order_id, reason, detail, wall_ns)"
                " values (?,?,?,?,?,?,?,?)",
                self._events,
            )
            db.executemany(
                "insert into order_events (order_id, ts_ns, state, qty, price, queue_ahead, reason)"
                " values (?,?,?,?,?,?,?)",
                self._order_events,
            )
            db.execute("commit")
        except BaseException:
            if db.in_transaction:  # a failed write may have ended the transaction already
                with contextlib.suppress(sqlite3.Error):
                    db.execute("rollback")
            raise
        self.counts["orders"] += len(self._orders)
        self.counts["fills"] += len(self._fills)
        self.counts["events"] += len(self._events)
        self.counts["order_events"] += len(self._order_events)
        self._orders.clear()
        self._done.clear()
        self._fills.clear()
        self._events.clear()
        self._order_events.clear()

    def close(self) -> None:
        """Commit what is buffered, fold the WAL into the file and close it. The file is closed even
        when the last commit fails (JournalError is raised after)."""
        try:
            self.commit()
            self.db.execute("pragma wal_checkpoint(truncate)")
        except sqlite3.Error as exc:
            raise JournalError(self.path, exc) from None
        finally:
            self.db.close()

    def discard(self) -> None:
        """A session that never started: close and remove the file, so the run directory can be used."""
        self.db.close()
        if self.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
