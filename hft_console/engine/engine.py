"""The pipeline: market source -> normaliser -> book -> strategy -> router -> risk -> venues ->
portfolio, on either clock. One thread drives it; operator commands arrive through a thread-safe
queue and are applied between events; observers (printer, console) read published snapshots."""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from hft_console import __version__
from hft_console.clock import SimClock, WallClock
from hft_console.domain import Command, EngineState
from hft_console.engine.journal import Journal
from hft_console.engine.pipeline import VECTOR_MIN_TICKS, process
from hft_console.engine.snapshot import Snapshot, build_snapshot
from hft_console.execution.order_flow import OrderFlow
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager
from hft_console.market.normalizer import Normalizer
from hft_console.market.open import open_source
from hft_console.market.source import MarketSource
from hft_console.market.synthetic import TickBatch
from hft_console.money import money
from hft_console.rng import Draws, rng_for
from hft_console.routing.policy import PolicySpec
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.routing.runner import RouterRunner
from hft_console.settings import Settings
from hft_console.stats import RateMeter
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.venues.latency import LatencyModel
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import SimVenue, impact_per_sqrt_share

Observer = Callable[["Engine"], None]
WIND_DOWN_MIN_NS = 2_000_000_000  # the market keeps running after the session while orders are in flight


class Engine:
    def __init__(self, settings: Settings, run_dir: Path | None, market: MarketSource | None = None) -> None:
        """``run_dir`` None: nothing on disk (the journal lives in memory; backtest scenarios).
        ``market`` None: open the configured source (may raise DataError)."""
        self.settings = s = settings
        self.run_dir = run_dir
        seed = s.session.seed
        self.market: MarketSource = market if market is not None else open_source(s, seed)
        try:
            self._build(s, run_dir, seed)
        except BaseException:
            self.market.close()  # a live feed's threads must not outlive a failed start
            raise

    def _build(self, s: Settings, run_dir: Path | None, seed: int) -> None:
        self.symbols = list(self.market.symbols)
        self.symbol_index = {sym: i for i, sym in enumerate(self.symbols)}
        specs = s.venue_specs()
        self.n_ven = len(specs)
        self.sym_of_stream = [k // self.n_ven for k in range(len(self.symbols) * self.n_ven)]
        self.tick = s.market.tick_size
        # a wall clock is anchored again when the engine starts running (``_start``): start-up phases
        # before that (probes, the pre-session backtest, a console's start-up screen) are not market time
        self.clock: SimClock = WallClock() if s.session.clock == "wall" else SimClock()
        self.normalizer = Normalizer(len(self.symbols), self.n_ven, s.normalizer)
        self.venues = [
            SimVenue(
                spec,
                LatencyModel(spec.latency, Draws(rng_for(seed, f"venue.{spec.name}.latency"))),
                Draws(rng_for(seed, f"venue.{spec.name}.fills")),
                self.tick,
                s.market.fade_tau_us,
                s.market.snipe_per_tick,
                impact_per_sqrt_share(s.market),
            )
            for spec in specs
        ]
        self._draws = [d for v in self.venues for d in (v.draws, v.latency.draws)]
        self.venue_index = {v.name: i for i, v in enumerate(self.venues)}
        self.venue_by_name = {v.name: v for v in self.venues}
        priors = [2 * v.latency.expected_one_way_us() for v in self.venues]
        e = s.engine
        self.monitor = LatencyMonitor(
            [v.name for v in self.venues], e.latency_window, e.latency_bucket_s, e.latency_buckets, priors
        )
        self.portfolio = Portfolio(self.symbols)
        self.risk = RiskManager(s.risk, s.risk_caps)
        self.strategy = ImbalanceStrategy(len(self.symbols), s.strategy)
        spec = PolicySpec(
            tuple(v.name for v in self.venues),
            np.array([v.spec.taker_fee for v in self.venues]),
            np.array(priors),
            tick=s.market.tick_size,
            inference=s.session.inference,
            parent_qty=float(s.strategy.order_qty),
            learning="thread" if s.session.clock == "wall" else "inline",
            fine_tune=s.session.online_learning,
            explore=s.session.online_explore,
        )
        self.router = RouterRunner(
            s.session.router, spec, Draws(rng_for(seed, "router")), seed, background=s.session.clock == "wall"
        )
        self._draws.append(self.router.draws)
        self._made_run_dir = run_dir is not None and not run_dir.exists()
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(run_dir / "journal.sqlite" if run_dir is not None else None)
        self.flow = OrderFlow(self)
        # a recorded source that ends earlier ends the session: its end is the session's length
        data_end = getattr(self.market, "end_ns", None)
        self.duration_ns = min(int(s.session.duration_s * 1e9), data_end or 1 << 62)
        grid_ns = s.market.grid_us * 1000
        self.batch_ns = max(grid_ns, int(s.market.batch_ms * 1e6) // grid_ns * grid_ns)
        self.accepting = True
        self.stop_requested = False
        self.finished = False
        self.ticks = 0
        self.vector_min_ticks = VECTOR_MIN_TICKS  # batches this long take the array path (see batch.py)
        self.trades_seen = 0
        self.feed_state = self.market.feed_state
        self.now_ns = 0
        self.session_end_ns = 0
        self.wall_started = 0.0
        self.wall_elapsed = 0.0
        self.rate = RateMeter()  # ticks per wall second, over about the last second
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._cmd_pending = False
        self.command_apply_ns: list[int] = []
        self.wake = threading.Event()
        self.notes: deque[tuple[int, int, str]] = deque(maxlen=200)
        self.warnings: list[str] = []
        self.note_seq = 0
        self.pnl_history: deque[float] = deque(maxlen=600)
        self.snapshot: Snapshot | None = None
        self.summary: dict[str, Any] | None = None
        self.on_batch: list[Observer] = []
        self.on_status: list[Observer] = []
        self._next_status_ns = int(e.status_interval_s * 1e9)
        self._next_pnl_sample_ns = 0
        self._snapshot_every = 1.0 / e.snapshot_hz
        self._last_snapshot_wall = 0.0

    # -- operator commands (any thread) -------------------------------------------------------
    def submit(self, command: Command) -> None:
        self.commands.put(command)
        self._cmd_pending = True
        self.wake.set()

    def note(self, ts_ns: int, text: str) -> None:
        self.note_seq += 1
        self.notes.append((self.note_seq, ts_ns, text))

    def _apply_commands(self, t_ns: int) -> None:
        self._cmd_pending = False
        while True:
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                break
            error = self._apply(cmd, t_ns)
            self.command_apply_ns.append(time.perf_counter_ns() - cmd.submitted_ns)
            self.journal.event(
                t_ns, "COMMAND", "refused" if error else "accepted",
                detail={"command": cmd.kind, "args": cmd.args, "source": cmd.source, "error": error},
            )  # fmt: skip
            what = " ".join([cmd.kind, *(f"{k}={v}" for k, v in cmd.args.items())])
            self.note(t_ns, f"{what} refused: {error}" if error else what)
        if self.risk.breaker_hit(self.portfolio.total):  # a lowered max_loss applies at once
            self.on_breaker(t_ns)
        self.journal.commit()

    def _set_state(self, t_ns: int, state: EngineState, why: str) -> None:
        if self.risk.state is not state:
            self.journal.event(t_ns, "STATE", state.value, detail={"from": self.risk.state.value, "why": why})
            self.risk.state = state
            self.flow.stood_down.clear()

    def _apply(self, cmd: Command, t_ns: int) -> str | None:
        kind, args = cmd.kind, cmd.args
        if kind == "halt":
            self._set_state(t_ns, EngineState.HALTED, "operator halt")
            self.strategy.flatten = False
            self.flow.cancel_in_flight(t_ns)
        elif kind == "flatten":
            self._set_state(t_ns, EngineState.REDUCING, "operator flatten")
            self.strategy.flatten = True
            self.check_flat(t_ns)
        elif kind == "reduce":
            self._set_state(t_ns, EngineState.REDUCING, "operator reduce")
        elif kind == "resume":
            if self.portfolio.total < -self.risk.limits.max_loss:
                return f"total P&L {money(self.portfolio.total)} is beyond max_loss; raise the limit first"
            self.strategy.flatten = False
            self._set_state(t_ns, EngineState.ACTIVE, "operator resume")
        elif kind == "set_limit":
            return self.risk.set_limit(str(args.get("name")), args.get("value"))
        elif kind == "set_router":
            name = str(args.get("name"))
            if name not in ROUTER_NAMES:
                return f"unknown router {name!r}: expected one of {', '.join(ROUTER_NAMES)}"
            note = self.router.request(name, self._measured())
            if note:
                self.note(t_ns, note)
            self._router_warnings(t_ns)
        elif kind in ("pause", "unpause"):
            self.strategy.paused = kind == "pause"
        elif kind == "stop":
            self.stop_requested = True
        else:
            return f"unknown command {kind!r}"
        return None

    def on_breaker(self, t_ns: int) -> None:
        self.strategy.flatten = False
        self.journal.event(
            t_ns, "CIRCUIT_BREAKER", "MAX_LOSS",
            detail={"pnl_total": round(self.portfolio.total, 2), "max_loss": self.risk.limits.max_loss},
        )  # fmt: skip
        self.journal.event(t_ns, "STATE", EngineState.HALTED.value, detail={"why": "circuit breaker"})
        self.flow.cancel_in_flight(t_ns)
        loss = money(-self.risk.limits.max_loss)
        self.note(t_ns, f"CIRCUIT BREAKER: P&L {money(self.portfolio.total)} below {loss}")

    def check_flat(self, t_ns: int) -> None:
        """Flatten-then-halt: halt the moment the book is flat with nothing in flight (after the fill
        that made it so), whatever the batch length."""
        if self.strategy.flatten and not self.flow.in_flight and not any(self.portfolio.position):
            self.strategy.flatten = False
            self._set_state(t_ns, EngineState.HALTED, "flattened")
            self.note(t_ns, "flat: trading halted")

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        self._start()
        t = 0
        try:
            market = self.market
            while t < self.duration_ns and not self.stop_requested and not market.exhausted:
                t = self._step(t, min(t + self.batch_ns, self.duration_ns))
            self.session_end_ns = t
            self.accepting = False
            limit = t + self._wind_down_ns()
            while self.flow.in_flight and t < limit:
                # up to the next venue event, so the wind-down ends at the last answer whatever the batch
                t = self._step(t, min(t + self.batch_ns, int(min(self.flow.next_event_ns, limit)) + 1))
            if self.flow.in_flight:
                self.flow.expire_all(t)
        finally:
            self._finish()

    def _wind_down_ns(self) -> int:
        """Long enough for the slowest answer the venue models can give: a timeout or a worst spike."""
        worst = max(
            max(
                v.spec.latency.outage_timeout_us,
                2 * (v.spec.latency.median_us * 20 * v.spec.latency.spike_mult_max * v.spec.latency.congested_mult
                     + v.spec.latency.speed_bump_us),
            )
            for v in self.venues
        )  # fmt: skip
        return max(WIND_DOWN_MIN_NS, int(worst * 1000))

    def _step(self, t0: int, t1: int) -> int:
        clock = self.clock
        while not clock.wait_until(t1, self.wake):
            self.wake.clear()
            self._apply_commands(self.now_ns)
            if self.stop_requested and self.accepting:
                return t0
        self.wake.clear()
        batch = self.market.next_batch(t1)
        self.trades_seen += batch.trades
        self.router.warm()
        self._process(batch)
        self.flow.drain(t1 - 1)
        self.now_ns = t1
        clock.advance_to(t1)
        self._end_of_batch(t1)
        return t1

    def _process(self, batch: TickBatch) -> None:
        process(self, batch)

    def _end_of_batch(self, t_ns: int) -> None:
        for draws in self._draws:
            draws.top_up()
        if self.router.poll(self._measured()):
            self.journal.event(t_ns, "ROUTER", self.router.name, detail={"loaded": "background"})
            self.note(t_ns, f"{self.router.name} loaded: now routing")
            self._router_warnings(t_ns)
        feed = self.market.feed_state
        if feed != self.feed_state:
            self.on_feed(t_ns, feed)
        # the circuit breaker and flatten-then-halt are not checked here: they act on every mark and
        # fill as it happens (batch.py, order_flow.py), so a batch's length never delays or moves them
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
        self.snapshot = build_snapshot(self)

    def _start(self) -> None:
        # everything built so far (settings, venues, a learned router's JAX and Flax objects) lives for
        # the whole session: out of the collector's sight, a full collection no longer walks it, which
        # cost single decisions up to ~2 ms
        gc.collect()
        gc.freeze()
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
        self.journal.event(self.now_ns, "SESSION", "end", detail={"in_flight": len(self.flow.in_flight)})
        self.router.shut_down()
        gc.unfreeze()  # what _start froze can be collected again once this engine is gone
        self.publish()
        from hft_console.engine.summary import build_summary, write_summary

        errors: list[OSError] = []
        for step in (self.market.close, self.journal.commit):  # the summary counts every journaled row
            try:
                step()
            except OSError as exc:
                errors.append(exc)
        try:
            if self.run_dir is not None:
                write_summary(self)
            else:
                self.summary = build_summary(self)
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
