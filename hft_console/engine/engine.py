"""The pipeline: market source -> normaliser -> book -> strategy -> router -> risk -> venues ->
portfolio, on either clock. One thread drives it; operator commands arrive through a thread-safe
queue and are applied between events; observers (printer, console) read published snapshots."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from hft_console import __version__
from hft_console.clock import SimClock, WallClock
from hft_console.domain import Command
from hft_console.engine.alerts import Alerts
from hft_console.engine.commands import CommandQueue, TradingDesk
from hft_console.engine.journal import Journal
from hft_console.engine.pipeline import Pipeline, Progress
from hft_console.engine.snapshot import Snapshot, build_snapshot
from hft_console.engine.summary import build_summary, write_summary
from hft_console.execution.order_flow import OrderFlow
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager
from hft_console.market.normalizer import Normalizer
from hft_console.market.open import l3_books, open_source
from hft_console.market.source import MarketSource
from hft_console.rng import Draws, rng_for
from hft_console.routing.policy import PolicySpec
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.routing.runner import RouterRunner
from hft_console.settings import Settings
from hft_console.stats import RateMeter
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.strategies.market_maker import MarketMaker
from hft_console.venues.latency import LatencyModel
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import SimVenue, impact_per_sqrt_share

Observer = Callable[["Engine"], None]
WIND_DOWN_MIN_NS = 2_000_000_000  # the market keeps running after the session while orders are in flight


def collect_between_batches(full: bool = False) -> None:
    """The collection CPython's thresholds would have started during the batch, run after it (engine
    thread, no decision in flight): the generation they pick (without the full collection's 25% rule).
    ``full``: everything, then what survives is frozen (out of every later collection's walk)."""
    if full:
        gc.collect()
        gc.freeze()
        return
    (t0, t1, t2), (c0, c1, c2) = gc.get_threshold(), gc.get_count()
    if c0 > t0:
        gc.collect(2 if c2 > t2 else 1 if c1 > t1 else 0)


class Engine:
    """Builds a session's parts, hands each its collaborators, and runs the loop. Its attributes are
    what observers read (``snapshot.SessionView``); the parts never see the engine itself."""

    def __init__(self, settings: Settings, run_dir: Path | None, market: MarketSource | None = None) -> None:
        """``run_dir`` None: nothing on disk (the journal lives in memory; backtest scenarios).
        ``market`` None: open the configured source (may raise DataError)."""
        self.settings = s = settings
        self.run_dir = run_dir
        self._gc_owned = False  # whether _start turned automatic collection off (and _finish turns it back on)
        # set by a console (any thread): collect everything at the end of the next batch, on this thread
        self.full_collection_requested = False
        self.skip_idle = True  # sim clock on recorded data: jump over batches that would be empty
        self.skipped_batches = 0
        self._idle = True  # the last batch held no tick and no print
        seed = s.session.seed
        self.market: MarketSource = market if market is not None else open_source(s, seed)
        try:
            self._build_market(s)
            self._build_venues(s, seed)
            self._build_router(s, seed)
            self._build_journal(run_dir)
            self._build_trading(s)
            self._build_session(s)
        except BaseException:
            self.market.close()  # a live feed's threads must not outlive a failed start
            raise

    def _build_market(self, s: Settings) -> None:
        self.symbols = list(self.market.symbols)
        self.n_ven = len(s.venues)
        self.tick = s.market.tick_size
        # a wall clock is anchored again when the engine starts running (``_start``): start-up phases
        # before that (probes, the pre-session backtest, a console's start-up screen) are not market time
        self.clock: SimClock = WallClock() if s.session.clock == "wall" else SimClock()
        self.normalizer = Normalizer(len(self.symbols), self.n_ven, s.normalizer)

    def _build_venues(self, s: Settings, seed: int) -> None:
        self.venues = [
            SimVenue(
                spec,
                LatencyModel(spec.latency, Draws(rng_for(seed, f"venue.{spec.name}.latency"))),
                Draws(rng_for(seed, f"venue.{spec.name}.fills")),
                self.tick,
                s.market.fade_tau_us,
                s.market.snipe_per_tick,
                impact_per_sqrt_share(s.market),
                synthetic=self.market.generated,
                feed_delayed=bool(getattr(self.market, "feed_delayed", self.market.generated)),
            )
            for spec in s.venues
        ]
        for venue in self.venues:
            books = l3_books(self.market, venue.name)
            if books is not None:
                venue.attach_l3(books)
        self._draws = [d for v in self.venues for d in (v.draws, v.latency.draws)]
        self.priors_us = [v.latency.prior_round_trip_us() for v in self.venues]
        e = s.engine
        self.monitor = LatencyMonitor(
            [v.name for v in self.venues], e.latency_window, e.latency_bucket_s, e.latency_buckets, self.priors_us
        )

    def _build_router(self, s: Settings, seed: int) -> None:
        spec = PolicySpec(
            tuple(v.name for v in self.venues),
            np.array([v.spec.taker_fee for v in self.venues]),
            np.array(self.priors_us),
            tick=s.market.tick_size,
            inference=s.session.inference,
            parent_qty=float(s.strategy.order_qty),
            learning="thread" if s.session.clock == "wall" else "inline",
            fine_tune=s.session.online_learning,
            explore=s.session.online_explore,
            dark=tuple(v.dark for v in self.venues),
            miss_penalty_ticks=s.market.miss_penalty_ticks,
        )
        self.router = RouterRunner(
            s.session.router, spec, Draws(rng_for(seed, "router")), seed, background=s.session.clock == "wall"
        )
        self._draws.append(self.router.draws)

    def _build_journal(self, run_dir: Path | None) -> None:
        self._made_run_dir = run_dir is not None and not run_dir.exists()
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(run_dir / "journal.sqlite" if run_dir is not None else None)

    def _build_trading(self, s: Settings) -> None:
        """Portfolio, risk, strategy, order flow, the trading desk, the command queue and the pipeline."""
        self.portfolio = Portfolio(self.symbols)
        self.risk = RiskManager(s.risk, s.risk_caps)
        self.strategy: ImbalanceStrategy | MarketMaker = (
            MarketMaker(len(self.symbols), s.strategy, self.tick)
            if s.strategy.name == "market-maker"
            else ImbalanceStrategy(len(self.symbols), s.strategy)
        )
        self.flow = OrderFlow(
            symbols=self.symbols, venues=self.venues, quotes=self.normalizer.last_tick, market=self.market,
            strategy=self.strategy, risk=self.risk, portfolio=self.portfolio, router=self.router,
            monitor=self.monitor, journal=self.journal, tick=self.tick,
            slippage_ticks=s.strategy.limit_slippage_ticks, miss_penalty_ticks=s.market.miss_penalty_ticks,
            trades_kept=s.engine.trades_kept, poll_feed=self.poll_feed,
            on_breaker=lambda t_ns: self.desk.on_breaker(t_ns), after_report=lambda t_ns: self.desk.check_flat(t_ns),
            note=self.note, post_rule=s.session.post_router,
        )  # fmt: skip
        self.alerts = Alerts(s.alerts, self.journal, self.note)  # checked between batches, never per tick
        self.desk = TradingDesk(
            risk=self.risk, strategy=self.strategy, portfolio=self.portfolio, flow=self.flow, journal=self.journal,
            note=self.note, switch_router=self._switch_router, stop=self._stop, ack_alerts=self.alerts.acknowledge,
        )  # fmt: skip
        self.wake = threading.Event()
        self.commands = CommandQueue(self.desk, self.journal, self.note, self.wake)
        self.progress = Progress()
        self.pipeline = Pipeline(
            normalizer=self.normalizer, strategy=self.strategy, flow=self.flow, portfolio=self.portfolio,
            risk=self.risk, commands=self.commands, on_breaker=self.desk.on_breaker, n_ven=self.n_ven,
            progress=self.progress,
        )  # fmt: skip

    def _build_session(self, s: Settings) -> None:
        # a recorded source that ends earlier ends the session: its end is the session's length
        data_end = getattr(self.market, "end_ns", None)
        self.duration_ns = min(int(s.session.duration_s * 1e9), data_end or 1 << 62)
        grid_ns = s.market.grid_us * 1000
        self.batch_ns = max(grid_ns, int(s.market.batch_ms * 1e6) // grid_ns * grid_ns)
        self.stop_requested = False
        self.finished = False
        self.trades_seen = 0
        self.feed_state = self.market.feed_state
        self.session_end_ns = 0
        self.wall_started = 0.0
        self.wall_elapsed = 0.0
        self.rate = RateMeter()  # ticks per wall second, over about the last second
        self.notes: deque[tuple[int, int, str]] = deque(maxlen=200)
        self.warnings: list[str] = []
        self.note_seq = 0
        self.pnl_history: deque[float] = deque(maxlen=600)
        self.snapshot: Snapshot | None = None
        self.summary: dict[str, Any] | None = None
        self.on_batch: list[Observer] = []
        self.on_status: list[Observer] = []
        self._next_status_ns = int(s.engine.status_interval_s * 1e9)
        self._next_pnl_sample_ns = 0
        self._snapshot_every = 1.0 / s.engine.snapshot_hz
        self._last_snapshot_wall = 0.0

    # -- what the pipeline advances ----------------------------------------------------------------
    @property
    def now_ns(self) -> int:
        """Engine time: the last routed tick, or the end of the last batch."""
        return self.progress.now_ns

    @property
    def ticks(self) -> int:
        return self.progress.ticks

    @property
    def accepting(self) -> bool:
        """False once the session's time is up: in-flight orders are answered, no new ones go out."""
        return self.progress.accepting

    # -- operator commands (any thread) -------------------------------------------------------
    def submit(self, command: Command) -> None:
        self.commands.submit(command)

    def note(self, ts_ns: int, text: str) -> None:
        self.note_seq += 1
        self.notes.append((self.note_seq, ts_ns, text))

    def _switch_router(self, t_ns: int, name: str) -> str | None:
        if name not in ROUTER_NAMES:
            return f"unknown router {name!r}: expected one of {', '.join(ROUTER_NAMES)}"
        note = self.router.request(name, self._measured())
        if note:
            self.note(t_ns, note)
        self._router_warnings(t_ns)
        return None

    def _stop(self) -> None:
        self.stop_requested = True

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        self._start()
        t = 0
        try:
            market = self.market
            skip = self.skip_idle and not self.clock.is_wall and getattr(market, "next_ns", None) is not None
            while t < self.duration_ns and not self.stop_requested and not market.exhausted:
                if skip and self._idle:  # only after an empty batch: on busy data the test costs more than it saves
                    t = self._skip_idle(t)
                t = self._step(t, min(t + self.batch_ns, self.duration_ns))
            self.session_end_ns = t
            self.progress.accepting = False
            self.flow.cancel_all(t, "SESSION_END")  # resting orders end with the session (DAY)
            limit = t + self._wind_down_ns()
            while self.flow.working and t < limit:
                # up to the next venue event, so the wind-down ends at the last answer whatever the batch
                t = self._step(t, min(t + self.batch_ns, int(min(self.flow.next_event_ns, limit)) + 1))
            if self.flow.working:
                self.flow.expire_all(t)
        finally:
            self._finish()

    def _skip_idle(self, t: int) -> int:
        """Simulated clock, recorded data: the batches before the next thing that can happen (the data's
        next event, a venue's answer, an order's expiry, a due adverse-selection mark, the status line)
        would be empty, so time jumps over them on the batch grid; what those batches would have done
        (the P&L sparkline's samples) is done here. The session's results are the same (a test)."""
        flow = self.flow
        nxt = min(self.market.next_ns, flow.next_event_ns, flow.next_print_ns, flow.next_ttl_ns,  # type: ignore[attr-defined]
                  self._next_status_ns, self.duration_ns)  # fmt: skip
        if flow.adverse_pending:
            nxt = min(nxt, flow.adverse_pending[0][0])
        batches = (int(nxt) - t) // self.batch_ns - 1  # batches that end before the next event
        if batches <= 0 or self.commands.pending or self.monitor.bucket_ns < self.batch_ns:
            return t
        t_new = t + batches * self.batch_ns
        while self._next_pnl_sample_ns <= t_new:  # one sample per bucket crossed, as the batches would take
            self._next_pnl_sample_ns += self.monitor.bucket_ns
            self.pnl_history.append(self.portfolio.total)
        self.progress.now_ns = t_new
        self.clock.advance_to(t_new)
        self.skipped_batches += batches
        return t_new

    def _wind_down_ns(self) -> int:
        """Long enough for the slowest answer the venue models can give: a timeout or a worst spike."""
        worst = max(v.latency.slowest_answer_us() for v in self.venues)
        return max(WIND_DOWN_MIN_NS, int(worst * 1000))

    def _step(self, t0: int, t1: int) -> int:
        clock = self.clock
        while not clock.wait_until(t1, self.wake):
            self.wake.clear()
            self.commands.apply_due(self.now_ns)
            if self.stop_requested and self.accepting:
                return t0
        self.wake.clear()
        batch = self.market.next_batch(t1)
        self._idle = not (len(batch) or batch.trades)
        self.trades_seen += batch.trades
        self.router.between_batches()
        self.flow.load_prints(batch.prints)
        self.pipeline.process(batch)
        self.flow.apply_prints(t1 - 1)
        self.flow.drain(t1 - 1)
        self.flow.settle_adverse(t1)
        self.progress.now_ns = t1
        clock.advance_to(t1)
        self._end_of_batch(t1)
        return t1

    def _end_of_batch(self, t_ns: int) -> None:
        full, self.full_collection_requested = self.full_collection_requested, False
        collect_between_batches(full)
        for draws in self._draws:
            draws.top_up()
        if self.router.poll(self._measured()):
            self.journal.event(t_ns, "ROUTER", self.router.name, detail={"loaded": "background"})
            self.note(t_ns, f"{self.router.name} loaded: now routing")
            self._router_warnings(t_ns)
        self.poll_feed(t_ns)
        if t_ns >= self.alerts.next_ns:  # on session time, as the sparkline's samples: the same alerts on any clock
            self.alerts.check(self, t_ns)
        # the circuit breaker and flatten-then-halt are not checked here: they act on every mark and
        # fill as it happens (pipeline.py, order_flow.py), so a batch's length never delays or moves them
        self.journal.commit()
        if t_ns >= self._next_pnl_sample_ns:  # the sparkline samples on engine time: same picture on any clock
            self._next_pnl_sample_ns += self.monitor.bucket_ns
            self.pnl_history.append(self.portfolio.total)
        wall = time.perf_counter()
        self.wall_elapsed = wall - self.wall_started
        self.rate.update(wall, self.ticks)
        if wall - self._last_snapshot_wall >= self._snapshot_every:
            self.publish()
        for observer in self.on_batch:
            observer(self)
        if t_ns >= self._next_status_ns:
            self._next_status_ns += int(self.settings.engine.status_interval_s * 1e9)
            if self.on_status:  # a status line reads the snapshot: as of now, not of the last publish
                self.publish()
            for observer in self.on_status:
                observer(self)

    def _measured(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return tuple(self.monitor.ewma_us), tuple(self.monitor.last_us)

    def _router_warnings(self, t_ns: int) -> None:
        """A learned router that fell back (bad checkpoint) is journaled and shown, once."""
        while self.router.warnings:
            text = self.router.warnings.pop(0)
            self.journal.event(t_ns, "ROUTER_FALLBACK", self.router.name, detail={"warning": text})
            self.note(t_ns, text)
            self.warnings.append(text)

    def poll_feed(self, t_ns: int) -> None:
        """Bring the strategy's feed pause up to date with the source's feed state."""
        feed = self.market.feed_state
        if feed != self.feed_state:
            self.on_feed(t_ns, feed)

    def on_feed(self, t_ns: int, feed: str) -> None:
        """A live feed went stale or down: stop opening risk until it is live again."""
        self.journal.event(t_ns, "FEED", feed, detail={"from": self.feed_state, "source": self.market.label})
        self.feed_state = feed
        paused = feed in ("stale", "down")
        if paused != self.strategy.feed_paused:
            self.strategy.feed_paused = paused
            self.note(t_ns, f"feed {feed}: trading {'paused' if paused else 'resumed'}")

    def publish(self) -> None:
        self._last_snapshot_wall = time.perf_counter()
        snap = build_snapshot(self)
        self.snapshot = replace(snap, alerts=self.alerts.views) if self.alerts.views else snap

    def _start(self) -> None:
        # everything built so far (settings, venues, a learned router's JAX and Flax objects) lives for
        # the whole session: out of the collector's sight, a full collection no longer walks it in the
        # middle of a decision
        gc.collect()
        gc.freeze()
        # and collections wait for the end of a batch, on this thread: started by an allocation in a
        # decision, they were among the slowest decisions (measured: 0.1-0.7 ms, in 0.5-1.5% of them);
        # a console's thread collecting its own garbage held the GIL for tens of ms mid-decision
        self._gc_owned = gc.isenabled()
        gc.disable()
        s = self.settings
        self.journal.meta(
            {
                "version": __version__,
                "seed": s.session.seed,
                "session": asdict(s.session),
                "venues": [v.name for v in self.venues],
                "data": self.market.label,
                "started_wall": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        self.journal.event(0, "SESSION", "start", detail={"router": self.router.name, "clock": s.session.clock})
        self._router_warnings(0)
        if self.market.feed_state != "sim":  # a live feed that is already stale must pause from the start
            self.feed_state = "sim"
            self.on_feed(0, self.market.feed_state)
        if isinstance(self.clock, WallClock):
            self.clock = WallClock()  # session time zero is now, when trading starts
        self.wall_started = time.perf_counter()
        self.rate.reset(self.wall_started, self.ticks)

    def _finish(self) -> None:
        """End the session: journal the end, write summary.json, close the journal. Every step is tried
        even when an earlier one failed (a full disk); the first failure is raised after."""
        if self.finished:
            return
        self.finished = True
        self.session_end_ns = self.session_end_ns or self.now_ns
        self.wall_elapsed = time.perf_counter() - self.wall_started
        self.journal.event(self.now_ns, "SESSION", "end", detail={"working": len(self.flow.working)})
        self.router.shut_down()
        gc.unfreeze()  # what _start froze can be collected again once this engine is gone
        if self._gc_owned:
            gc.enable()
        self.publish()
        errors: list[OSError] = []
        for step in (self.market.close, self.journal.commit):  # the summary counts every journaled row
            try:
                step()
            except OSError as exc:
                errors.append(exc)
        try:
            self.summary = build_summary(self, self.snapshot)
            if self.run_dir is not None:
                write_summary(self.summary, self.run_dir)
        except OSError as exc:
            errors.append(exc)
        try:
            self.journal.close()
        except OSError as exc:
            errors.append(exc)
        if errors:
            raise errors[0]

    def abandon(self) -> None:
        """The session never started (interrupted before it): release the source and remove the empty
        journal, so the same run directory can be used again."""
        self.finished = True
        try:
            self.market.close()
        finally:
            self.journal.discard()
            if self.run_dir is not None and self._made_run_dir:
                with contextlib.suppress(OSError):
                    self.run_dir.rmdir()  # only when still empty
