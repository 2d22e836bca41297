"""Operator alerts: thresholds from ``[alerts]`` checked every ``EVERY_NS`` of session time (never per tick).

Each alert has an identity (its name, and the symbol or venue it is about). It fires once when its
condition starts to hold: one ``events`` row (kind ALERT, reason the name, detail the id, value, threshold
and text), an operator note, and an entry in the snapshot (``AlertView``) that stays unacknowledged until
the operator's ``ack_alerts`` command. It fires again only after it re-armed: an "above" alert once its
value is back at or under ``REARM`` of its threshold, the fill rate once it is back a tenth of the way
from its threshold to 1, a stale feed once quotes flow again. So a value hovering at a threshold does not
raise an alert at every check. Checks run on session time at the end of a batch (``Engine._end_of_batch``),
so a simulated session raises the same alerts at the same times for the same seed and batch length.

Conditions (a threshold of 0 turns one off):

- ``loss``: total P&L below -loss ($).
- ``latency_p99``, per venue: the round-trip p99 of the venue's sliding window above its threshold
  (µs), once the window holds ``latency_min_samples`` round trips. Timeouts are not round trips (the
  monitor keeps them apart), so an outage shows as the venue down, not here.
- ``fill_rate``: takes' shares filled / shares sent over the last ``fill_rate_window_s`` of session time
  below the threshold, once ``fill_rate_min_orders`` takes were answered in it.
- ``feed_stale``: the feed stale or down (no symbol), or per symbol no quote on any venue for
  ``feed_stale_s`` of session time.
- ``queue_ahead``, per (symbol, venue): a working order with more shares ahead of it than the threshold.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hft_console.domain import Order, Quote
from hft_console.engine.journal import Journal
from hft_console.execution.order_flow import OrderFlow
from hft_console.execution.portfolio import Portfolio
from hft_console.market.normalizer import Normalizer
from hft_console.money import money
from hft_console.settings import AlertSettings
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import SimVenue

EVERY_NS = 250_000_000  # session time between two checks: 4 a second on the wall clock, on any clock the same
ALERT_NAMES = ("loss", "latency_p99", "fill_rate", "feed_stale", "queue_ahead")
SEVERITY = {"loss": "error", "feed_stale": "error"}  # the rest: "warning"
REARM = 0.9  # an "above" alert re-arms at or under this share of its threshold
ALERT_NOTE = "ALERT "  # how an alert's operator note starts (the headless printer shows those at every level)
KEPT = 100  # alerts a snapshot lists (the newest); the journal has them all

Note = Callable[[int, str], None]  # (engine ns, text): a line for the operator
Key = tuple[str, str, str]  # (name, symbol, venue); "" where the alert is not about one


class Watched(Protocol):
    """What the alerts read of a session (``snapshot.SessionView`` has it all; the Engine is one)."""

    symbols: list[str]
    n_ven: int
    venues: list[SimVenue]
    normalizer: Normalizer
    monitor: LatencyMonitor
    portfolio: Portfolio
    flow: OrderFlow
    feed_state: str


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as the snapshot lists it. ``alert_id`` counts from 1 in firing order; ``ts_ns`` is the
    engine time it fired; ``severity`` is "error" or "warning" (Textual's toast severities)."""

    alert_id: int
    name: str  # one of ALERT_NAMES
    text: str  # one line for the operator: what, where, the value and the threshold
    ts_ns: int
    acknowledged: bool
    severity: str = "warning"
    symbol: str = ""
    venue: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """What the alerts look at, read at every check (``Alerts.read``).

    ``venue_p99``: (venue, round-trip p99 µs of its window or None, round trips in the window);
    ``quote_ns``: (symbol, engine ns of its newest quote on any venue, -1 for none yet);
    ``queue_ahead``: (symbol, venue, the most shares ahead of one working order there), only where > 0;
    ``takes``: running totals (take answers, shares sent, shares filled)."""

    now_ns: int
    pnl_total: float
    feed: str
    venue_p99: tuple[tuple[str, float | None, int], ...]
    quote_ns: tuple[tuple[str, int], ...]
    queue_ahead: tuple[tuple[str, str, int], ...]
    takes: tuple[int, int, int]


def queue_maxima(orders: Iterable[Order]) -> tuple[tuple[str, str, int], ...]:
    """(symbol, venue, the most shares ahead of one of ``orders`` there) for every pair with any."""
    most: dict[tuple[str, str], int] = {}
    for o in orders:
        if o.queue_ahead > most.get((o.symbol, o.venue), 0):
            most[o.symbol, o.venue] = o.queue_ahead
    return tuple((sym, ven, q) for (sym, ven), q in most.items())


def newest_quote_ns(quotes: Sequence[Quote | None]) -> int:
    """Engine ns of the newest of ``quotes`` (one symbol's, every venue), -1 when none."""
    return max((q[0] for q in quotes if q is not None), default=-1)


def alert_text(key: Key, value: float, limit: float, extra: str = "") -> str:
    """One line for the operator: what, where, the value and the threshold. ``extra``: the fill rate's
    sample ("40 takes, last 10 s"), the feed's state for a stale or down feed."""
    name, symbol, venue = key
    if name == "loss":
        return f"loss: P&L {money(-value)} below {money(-limit)}"
    if name == "latency_p99":
        return f"latency: {venue} round-trip p99 {value:,.0f} µs above {limit:,.0f} µs"
    if name == "fill_rate":
        return f"fill rate {value:.0%} below {limit:.0%} ({extra})"
    if name == "feed_stale":
        return f"feed {extra}: trading paused" if not symbol else f"feed stale: no {symbol} quote for {value:,.1f} s"
    return f"queue ahead: {symbol} on {venue} {value:,.0f} shares above {limit:,.0f}"


@dataclass(slots=True)
class _Fired:
    alert_id: int
    key: Key
    text: str
    ts_ns: int
    acknowledged: bool = False

    def view(self) -> AlertView:
        name, symbol, venue = self.key
        severity = SEVERITY.get(name, "warning")
        return AlertView(self.alert_id, name, self.text, self.ts_ns, self.acknowledged, severity, symbol, venue)


class Alerts:
    """The alert state of one session. ``check`` every ``EVERY_NS`` of session time (engine thread);
    ``acknowledge`` from the operator's command (engine thread, between events); ``views`` is what the
    snapshot lists (rebuilt only when something changed); ``counts`` alerts fired by name (summary.json);
    ``fired`` alerts fired so far (the last one's id)."""

    def __init__(self, settings: AlertSettings, journal: Journal, note: Note) -> None:
        self.settings, self.journal, self.note = settings, journal, note
        self._firing: set[Key] = set()  # fired and not re-armed yet
        self._kept: deque[_Fired] = deque(maxlen=KEPT)
        self._takes: deque[tuple[int, int, int, int]] = deque()  # (ns, answers, sent, filled) per reading
        self._p99: dict[int, tuple[int, float | None]] = {}  # venue -> (round trips so far, window p99)
        self.next_ns = 0  # session time of the next check (``check``)
        self.views: tuple[AlertView, ...] = ()
        self.counts: dict[str, int] = {}
        self.fired = 0

    @property
    def unacknowledged(self) -> int:
        return sum(not a.acknowledged for a in self._kept)

    def check(self, e: Watched, t_ns: int) -> bool:
        """Read the session at ``t_ns`` and evaluate (engine thread, at the end of the first batch at or
        after ``next_ns``); True when an alert fired."""
        self.next_ns = t_ns + EVERY_NS
        return self.evaluate(self.read(e, t_ns))

    def read(self, e: Watched, t_ns: int) -> Reading:
        """The session's ``Reading`` at ``t_ns``. A venue's p99 is left out (None) where its alert is off
        or its window is short, and looked at again only when the venue answered since the last check."""
        mon, flow, n_ven = e.monitor, e.flow, e.n_ven
        venue_p99 = []
        for i, v in enumerate(e.venues):
            total, window = len(mon.samples[i]), mon.window[i]
            seen, p99 = self._p99.get(i, (-1, None))
            if total != seen:
                p99 = self._window_p99(v.name, i, e)
                self._p99[i] = (total, p99)
            venue_p99.append((v.name, p99, len(window)))
        quotes = e.normalizer.last_tick
        quote_ns = tuple((sym, newest_quote_ns(quotes[i * n_ven : (i + 1) * n_ven])) for i, sym in enumerate(e.symbols))
        takes = (sum(flow.answered), sum(flow.qty_sent), sum(flow.qty_filled))
        return Reading(t_ns, e.portfolio.total, e.feed_state, tuple(venue_p99), quote_ns,
                       queue_maxima(flow.working.values()), takes)  # fmt: skip

    def _window_p99(self, name: str, i: int, e: Watched) -> float | None:
        s, window = self.settings, e.monitor.window[i]
        limit = s.latency_p99_us_by_venue.get(name, s.latency_p99_us)
        if limit <= 0 or len(window) < s.latency_min_samples:
            return None
        top = max(window)
        # under the re-arm level even at its slowest: the slowest round trip stands in for the p99 (the
        # same decision, without a percentile: measured ~80 µs a venue on the 2-core machine)
        return top if top <= REARM * limit else e.monitor.window_percentiles(i)["p99"]

    def evaluate(self, r: Reading) -> bool:
        """Check every condition against ``r``; True when an alert fired (``views`` changed)."""
        s, before = self.settings, self.fired
        if s.loss > 0:
            self._above(r.now_ns, ("loss", "", ""), -r.pnl_total, s.loss)
        for venue, p99, n in r.venue_p99:
            limit = s.latency_p99_us_by_venue.get(venue, s.latency_p99_us)
            if limit > 0 and p99 is not None and n >= s.latency_min_samples:
                self._above(r.now_ns, ("latency_p99", "", venue), p99, limit)
        if s.fill_rate_below > 0:
            self._fill_rate(r)
        if s.feed_stale_s > 0:
            self._feed(r)
        if s.queue_ahead_above > 0:
            seen = {("queue_ahead", sym, venue) for sym, venue, _ in r.queue_ahead}
            for sym, venue, ahead in r.queue_ahead:
                self._above(r.now_ns, ("queue_ahead", sym, venue), ahead, s.queue_ahead_above)
            self._firing -= {k for k in self._firing if k[0] == "queue_ahead" and k not in seen}  # no order there now
        return self.fired > before

    def _above(self, t_ns: int, key: Key, value: float, limit: float, extra: str = "") -> None:
        """An "above" condition: fire past ``limit``, re-arm at or under ``REARM`` of it."""
        if value > limit:
            self._fire(t_ns, key, value, limit, extra)
        elif value <= REARM * limit:
            self._firing.discard(key)

    def _fill_rate(self, r: Reading) -> None:
        s, takes = self.settings, self._takes
        takes.append((r.now_ns, *r.takes))
        horizon = r.now_ns - int(s.fill_rate_window_s * 1e9)
        while len(takes) > 1 and takes[1][0] <= horizon:  # the base stays the last reading at or before it
            takes.popleft()
        _, answers0, sent0, filled0 = takes[0]
        answers, sent, filled = r.takes
        if answers - answers0 < s.fill_rate_min_orders or sent <= sent0:
            return  # too few takes to judge: the alert keeps its state
        rate, limit, key = (filled - filled0) / (sent - sent0), s.fill_rate_below, ("fill_rate", "", "")
        if rate < limit:
            self._fire(r.now_ns, key, rate, limit, f"{answers - answers0:,} takes, last {s.fill_rate_window_s:g} s")
        elif rate >= limit + (1 - limit) * (1 - REARM):  # back a tenth of the way from the threshold to 1
            self._firing.discard(key)

    def _feed(self, r: Reading) -> None:
        if r.feed in ("stale", "down"):
            self._fire(r.now_ns, ("feed_stale", "", ""), 1.0, 1.0, r.feed)
        else:
            self._firing.discard(("feed_stale", "", ""))
        for sym, last_ns in r.quote_ns:
            age_s = (r.now_ns - max(0, last_ns)) / 1e9  # no quote yet: since the session started
            self._above(r.now_ns, ("feed_stale", sym, ""), age_s, self.settings.feed_stale_s)

    def _fire(self, t_ns: int, key: Key, value: float, limit: float, extra: str = "") -> None:
        if key in self._firing:
            return
        self._firing.add(key)
        name, symbol, venue = key
        text = alert_text(key, value, limit, extra)
        self.fired += 1
        alert_id = self.fired
        self.journal.event(
            t_ns, "ALERT", name, symbol=symbol or None, venue=venue or None,
            detail={"id": alert_id, "value": round(value, 6), "threshold": limit, "text": text},
        )  # fmt: skip
        self.note(t_ns, ALERT_NOTE + text)
        self._kept.append(_Fired(alert_id, key, text, t_ns))
        self.counts[name] = self.counts.get(name, 0) + 1
        self._build_views()

    def acknowledge(self, ids: object) -> str | None:
        """The operator's ``ack_alerts``: ``ids`` None acknowledges every alert, else a list of alert ids
        (those already acknowledged are no error). Returns why it was refused (nothing changed), or None."""
        if ids is not None:
            if not isinstance(ids, list | tuple) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids
            ):
                return f"ids {ids!r}: expected a list of alert ids"
            unknown = sorted(set(ids) - {a.alert_id for a in self._kept})
            if unknown:
                return f"no alert {unknown[0]} (the last {KEPT} are kept)"
        wanted = None if ids is None else set(ids)
        for a in self._kept:
            if wanted is None or a.alert_id in wanted:
                a.acknowledged = True
        self._build_views()
        return None

    def _build_views(self) -> None:
        self.views = tuple(a.view() for a in self._kept)
