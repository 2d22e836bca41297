"""A run's journal read back, read-only: the rows ``hft-console view`` steps through, loaded once and
turned into running series (positions, P&L, round trips per venue) that can be cut at any engine time.

The journal is opened with SQLite's URI flags so that viewing never changes a run: ``immutable=1`` for
a closed journal (nothing is written beside it, not even the ``-shm``/``-wal`` files a read-only WAL
reader would leave), ``mode=ro`` while a ``-wal`` file shows a writer may still be at work.

What the journal records exactly is replayed exactly: fills go through the same ``Portfolio`` the
engine books them with (same order, same arithmetic), so realised P&L, fees, wins, losses, positions
and average costs are the engine's own figures. What it does not record (the market's mid between
fills, venue regimes, tick counts) is left to ``summary.json`` at the end, or shown as unknown.
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hft_console.domain import Fill, Liquidity, Side
from hft_console.execution.portfolio import Portfolio
from hft_console.settings import Settings, SettingsError, load_settings
from hft_console.venues.latency import prior_round_trip_us
from hft_console.venues.monitor import EWMA_ALPHA

JOURNAL, SUMMARY = "journal.sqlite", "summary.json"
TABLES = ("meta", "orders", "order_events", "fills", "events")
# when the configured settings cannot be loaded: config/default.toml's engine values
FALLBACK_ENGINE = {"latency_bucket_s": 1.0, "latency_buckets": 60, "latency_window": 256, "trades_kept": 500}


class RunError(Exception):
    """A run directory that cannot be viewed; the message is one line naming what and why."""


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: int
    ts_ns: int  # sent (engine ns)
    symbol: str
    side: str  # BUY | SELL
    venue: str
    router: str
    order_type: str
    done_ns: int | None  # when it reached a final state; None: still working when the journal was read


@dataclass(frozen=True, slots=True)
class OrderEvent:
    ts_ns: int
    state: str  # an OrderStatus value
    qty: int  # the order's size, or the fill's on a fill row (reason FILL)
    price: float  # the order's limit, or the fill's price on a fill row
    queue_ahead: int
    reason: str


@dataclass(frozen=True, slots=True)
class Booked:
    """The portfolio right after one fill, as the engine booked it."""

    realized: float
    fees: float
    fees_taker: float
    rebates_maker: float
    wins: int
    losses: int
    position: tuple[int, ...]
    avg_cost: tuple[float, ...]
    realized_by_symbol: tuple[float, ...]


@dataclass
class VenueSeries:
    """One venue's answers in answer order: every round trip (µs) and timeout, and the router's EWMA
    after each, as ``LatencyMonitor.record`` saw them."""

    answer_ts: list[int] = field(default_factory=list)
    answer_us: list[float] = field(default_factory=list)
    timed_out: list[bool] = field(default_factory=list)
    ewma_us: list[float] = field(default_factory=list)
    sample_ts: list[int] = field(default_factory=list)  # round trips only (no timeouts): the percentiles' window
    sample_us: list[float] = field(default_factory=list)


@dataclass
class Event:
    ts_ns: int
    kind: str
    symbol: str
    venue: str
    order_id: int | None
    reason: str
    detail: dict[str, Any]


def _uri(path: Path) -> str:
    wal = Path(f"{path}-wal")
    return f"{path.absolute().as_uri()}?{'mode=ro' if wal.exists() else 'immutable=1'}"


def open_journal(run_dir: Path) -> sqlite3.Connection:
    """``run_dir``/journal.sqlite opened read-only. RunError (one line) when the directory or the file
    is missing, unreadable, not SQLite or not a journal (a table missing)."""
    if not run_dir.exists():
        raise RunError(f"RUN_DIR: {str(run_dir)!r} does not exist; expected a run directory")
    if not run_dir.is_dir():
        raise RunError(f"RUN_DIR: {str(run_dir)!r} is a file; expected a run directory")
    path = run_dir / JOURNAL
    if not path.is_file():
        raise RunError(f"RUN_DIR: {str(run_dir)!r} holds no {JOURNAL}; expected a session's run directory")
    try:
        with path.open("rb"):
            pass
        db = sqlite3.connect(_uri(path), uri=True)
        names = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RunError(f"RUN_DIR: cannot read {str(path)!r}: {why}; expected a session's journal") from None
    missing = [t for t in TABLES if t not in names]
    if missing:
        db.close()
        raise RunError(f"RUN_DIR: {str(path)!r} is not a journal (no table {missing[0]!r})")
    return db


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json's content; None when there is none (an unfinished run). RunError when it is there
    but unreadable or not JSON."""
    path = run_dir / SUMMARY
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"RUN_DIR: cannot read {str(path)!r}: {exc}; expected the session's summary") from None
    if not isinstance(value, dict):
        raise RunError(f"RUN_DIR: {str(path)!r} is not a session summary (expected a JSON object)")
    return value


def configured(mode: str) -> Settings | None:
    """The settings a session of ``mode`` gets from the config files as they are now (the journal does
    not record the engine's bucket size or the venues' latency models); None when they do not load."""
    try:
        return load_settings({"session.mode": mode}, environ={}, dotenv_path=None)
    except (SettingsError, OSError):
        return None


class RecordedRun:
    """Everything ``view`` shows of a run, loaded from its directory. Raises RunError (one line)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        db = open_journal(run_dir)
        try:
            self._load(db)
        except sqlite3.Error as exc:
            raise RunError(f"RUN_DIR: cannot read {str(run_dir / JOURNAL)!r}: {exc}") from None
        finally:
            db.close()
        self.summary = read_summary(run_dir)
        self.finished = self.summary is not None
        session = self.meta.get("session") if isinstance(self.meta.get("session"), dict) else {}
        self.session: dict[str, Any] = session or {}
        self.mode = str(self.session.get("mode", self.summary.get("mode") if self.summary else "?"))
        self.clock = str(self.session.get("clock", "sim"))
        self.data_source = str(self.meta.get("data", "?"))
        self.settings = configured(self.mode) if self.mode != "?" else None
        try:
            self._name_things()
            self._book_fills()
            self._answers()
        except (KeyError, TypeError, ValueError) as exc:  # rows no session of this version writes
            path = str(run_dir / JOURNAL)
            raise RunError(f"RUN_DIR: {path!r} holds rows this version cannot read ({exc!r})") from None

    # -- loading -----------------------------------------------------------------------------------
    def _load(self, db: sqlite3.Connection) -> None:
        self.meta: dict[str, Any] = {}
        for key, value in db.execute("select key, value from meta"):
            try:
                self.meta[key] = json.loads(value)
            except ValueError:
                self.meta[key] = value
        self.orders = [
            OrderRow(*r)
            for r in db.execute(
                "select order_id, ts_ns, symbol, side, venue, router, order_type, done_ns from orders order by order_id"
            )
        ]
        self.order_events: dict[int, list[OrderEvent]] = {}
        for oid, ts, state, qty, price, ahead, reason in db.execute(
            "select order_id, ts_ns, state, qty, price, queue_ahead, reason from order_events order by id"
        ):
            self.order_events.setdefault(oid, []).append(OrderEvent(ts, state, qty, price, ahead, reason or ""))
        self.fill_rows = db.execute(
            "select ts_ns, venue_ts_ns, order_id, symbol, side, qty, price, fee, venue, router, trade_pnl,"
            " total_pnl, liquidity from fills order by id"
        ).fetchall()
        self.events = []
        for ts, kind, sym, venue, oid, reason, detail in db.execute(
            "select ts_ns, kind, symbol, venue, order_id, reason, detail from events order by id"
        ):
            try:
                parsed = json.loads(detail) if detail else {}
            except ValueError:
                parsed = {}
            self.events.append(Event(ts, kind, sym or "", venue or "", oid, reason or "", parsed))
        ends = [e.ts_ns for e in self.events if e.kind == "SESSION" and e.reason == "end"]
        last = max(
            [0, *(o.ts_ns for o in self.orders), *(f[0] for f in self.fill_rows), *(e.ts_ns for e in self.events)]
        )
        self.end_ns = ends[-1] if ends else last  # the engine's time when the session ended (wind-down included)

    def _name_things(self) -> None:
        s = self.summary or {}
        symbols = s.get("symbols") or self.session.get("symbols") or []
        self.symbols: list[str] = [str(x) for x in symbols]
        for sym in [o.symbol for o in self.orders] + [f[3] for f in self.fill_rows]:
            if sym not in self.symbols:
                self.symbols.append(sym)
        venues = self.meta.get("venues") or list((s.get("venues") or {}).keys())
        self.venue_names: list[str] = [str(v) for v in venues]
        for venue in [o.venue for o in self.orders] + [f[8] for f in self.fill_rows]:
            if venue not in self.venue_names:
                self.venue_names.append(venue)
        self.duration_ns = int(float(s.get("duration_s") or self.session.get("duration_s") or 0) * 1e9) or self.end_ns
        engine = self.settings.engine if self.settings else None
        self.bucket_s = float(engine.latency_bucket_s if engine else FALLBACK_ENGINE["latency_bucket_s"])
        self.bucket_ns = max(1, int(self.bucket_s * 1e9))
        self.n_buckets = int(engine.latency_buckets if engine else FALLBACK_ENGINE["latency_buckets"])
        self.window = int(engine.latency_window if engine else FALLBACK_ENGINE["latency_window"])
        self.trades_kept = int(engine.trades_kept if engine else FALLBACK_ENGINE["trades_kept"])
        specs = {v.name: v for v in self.settings.venues} if self.settings else {}
        self.calm_rt_us = [
            prior_round_trip_us(specs[n].latency) if n in specs else float("nan") for n in self.venue_names
        ]
        fees = {n: float(v.get("taker_fee", 0.0)) for n, v in (s.get("venues") or {}).items() if isinstance(v, dict)}
        self.taker_fee = [fees.get(n, specs[n].taker_fee if n in specs else 0.0) for n in self.venue_names]

    def _book_fills(self) -> None:
        """Every fill as the engine booked it, and the portfolio after each."""
        index = {s: i for i, s in enumerate(self.symbols)}
        p = Portfolio(self.symbols)
        taker = rebates = 0.0
        self.fills: list[Fill] = []
        self.fill_ts: list[int] = []
        self.booked: list[Booked] = []
        for seq, (ts, vts, oid, sym, side, qty, price, fee, venue, router, tpnl, total, liq) in enumerate(
            self.fill_rows, 1
        ):
            s = Side.BUY if side == "BUY" else Side.SELL
            booking = p.apply_fill(index[sym], int(s), qty, price, fee)
            liquidity = Liquidity.MAKER if liq == "MAKER" else Liquidity.TAKER
            if liquidity is Liquidity.MAKER:
                rebates -= fee
            else:
                taker += fee
            self.fills.append(
                Fill(
                    seq, oid, ts, vts, sym, s, qty, price, fee, venue, router, tpnl, total, booking.realized, liquidity
                )
            )
            self.fill_ts.append(ts)
            self.booked.append(
                Booked(p.realized, p.fees, taker, rebates, p.wins, p.losses, tuple(p.position), tuple(p.avg_cost),
                       tuple(p.realized_by_symbol))
            )  # fmt: skip
        self.order_ts = [o.ts_ns for o in self.orders]

    def _answers(self) -> None:
        """Each order's first answer from its venue (acknowledged or refused), as the latency monitor
        records it: the round trip from sending, bucketed by when the answer came; a refusal for
        VENUE_DOWN is a timeout. Then the EWMA routers saw after each."""
        vi = {n: i for i, n in enumerate(self.venue_names)}
        answers: list[tuple[int, int, int, float, bool]] = []  # answered ns, event order, venue, µs, timed out
        order_no = 0
        for o in self.orders:
            for ev in self.order_events.get(o.order_id, ()):
                order_no += 1
                if ev.state in ("ACCEPTED", "REJECTED") or ev.reason == "VENUE_ACCEPTED":
                    answers.append(
                        (ev.ts_ns, order_no, vi[o.venue], (ev.ts_ns - o.ts_ns) / 1000, ev.reason == "VENUE_DOWN")
                    )
                    break
        answers.sort()
        self.venue_series = [VenueSeries() for _ in self.venue_names]
        ewma = [x if x == x else 0.0 for x in self.calm_rt_us]
        for ts, _, v, us, timed_out in answers:
            vs = self.venue_series[v]
            ewma[v] += EWMA_ALPHA * (us - ewma[v])
            vs.answer_ts.append(ts)
            vs.answer_us.append(us)
            vs.timed_out.append(timed_out)
            vs.ewma_us.append(ewma[v])
            if not timed_out:
                vs.sample_ts.append(ts)
                vs.sample_us.append(us)

    # -- cutting at a time -------------------------------------------------------------------------
    def fills_until(self, t_ns: int) -> int:
        """How many fills the engine had booked by engine time ``t_ns``."""
        return bisect_right(self.fill_ts, t_ns)

    def orders_until(self, t_ns: int) -> int:
        """How many orders had been sent by engine time ``t_ns``."""
        return bisect_right(self.order_ts, t_ns)

    def events_until(self, t_ns: int) -> list[Event]:
        """The events journaled by engine time ``t_ns``, oldest first."""
        return [e for e in self.events if e.ts_ns <= t_ns]
