"""The engine's published state: an immutable picture the console and the printer read at their own
pace. Building one costs a few hundred microseconds, so the engine does it at ``snapshot_hz``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hft_console.domain import Fill
from hft_console.stats import percentiles
from hft_console.venues.latency import REGIME_NAMES
from hft_console.venues.monitor import Cell

if TYPE_CHECKING:
    from hft_console.engine.engine import Engine


@dataclass(frozen=True, slots=True)
class VenueView:
    name: str
    status: str  # up | down
    regime: str  # calm | congested
    p50_us: float | None
    p95_us: float | None
    p99_us: float | None
    expected_us: float  # what routers expect to wait now (EWMA, timeouts included)
    calm_rt_us: float  # the latency model's calm round trip: the heatmap's yardstick
    orders: int
    fills: int
    rejects: int
    timeouts: int
    taker_fee: float


@dataclass(frozen=True, slots=True)
class LimitView:
    name: str
    used: float
    limit: float
    unit: str

    @property
    def usage(self) -> float:
        return self.used / self.limit if self.limit else 0.0


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    position: int
    avg_cost: float
    mark: float
    realized: float
    unrealized: float


@dataclass(frozen=True, slots=True)
class ArmView:
    venue: str
    pulls: int
    mean_reward: float | None
    recent_share: float
    belief: str = ""  # what a bandit believes of the arm: its UCB bound or posterior mean ± sd


@dataclass(frozen=True, slots=True)
class Snapshot:
    wall_ns: int
    engine_ns: int
    duration_s: float
    mode: str
    clock: str
    data_source: str
    feed: str  # sim | live | stale | down
    state: str
    paused: bool
    ticks: int
    ticks_rejected: int
    ticks_per_s: float
    orders: int
    fills: int
    rejects: int
    risk_denials: int
    breaches: int
    pnl_total: float
    pnl_realized: float
    pnl_unrealized: float
    fees: float
    wins: int
    losses: int
    win_rate: float
    positions: tuple[PositionView, ...]
    trades: tuple[Fill, ...]
    trade_seq: int
    venues: tuple[VenueView, ...]
    heatmap_start_ns: tuple[int, ...]
    heatmap: tuple[tuple[Cell | None, ...], ...]  # (p50 µs, p95 µs, round trips, timeouts)
    router: str
    router_decisions: int
    arms: tuple[ArmView, ...]
    inference_us: dict[str, float | None]
    online_updates: int | None  # a learned router's online learning updates so far (None: not learning)
    limits: tuple[LimitView, ...]
    pnl_history: tuple[float, ...]
    notes: tuple[tuple[int, int, str], ...]
    finished: bool
    bucket_s: float

    @property
    def elapsed_s(self) -> float:
        return self.engine_ns / 1e9


def _beliefs(stats: dict[str, list[float]] | None, n: int) -> list[str]:
    def num(x: float) -> str:
        return "—" if x != x or abs(x) == float("inf") else f"{x:+.2f}"

    if not stats:
        return [""] * n
    if "forecast_us" in stats:  # a learned router: its latency forecaster's next round trip per venue
        return [f"{x:,.0f}µs" for x in stats["forecast_us"]]
    if "bound" in stats:
        return [num(b) for b in stats["bound"]]
    if "posterior_mean" in stats:
        return [
            f"{num(m)}±{s:.2f}" if s == s and s != float("inf") else num(m)
            for m, s in zip(stats["posterior_mean"], stats["posterior_sd"], strict=True)
        ]
    return [""] * n


def build_snapshot(e: Engine) -> Snapshot:
    p, flow, risk, now = e.portfolio, e.flow, e.risk, e.now_ns
    venues = []
    for i, v in enumerate(e.venues):
        pct = e.monitor.window_percentiles(i)
        venues.append(
            VenueView(
                v.name,
                "down" if v.latency.is_down(now) else "up",
                REGIME_NAMES[v.latency.regime],
                pct["p50"],
                pct["p95"],
                pct["p99"],
                e.monitor.ewma_us[i],
                2 * v.latency.expected_one_way_us(),
                v.orders,
                v.fills,
                v.rejects,
                e.monitor.timeouts[i],
                v.spec.taker_fee,
            )
        )
    starts, rows = e.monitor.heatmap(now)
    stats = e.router.stats[e.router.name]
    shares = stats.recent_share(e.n_ven)
    means = stats.mean_reward()
    beliefs = _beliefs(e.router.policy.arm_stats(e.router.state), e.n_ven)
    arms = tuple(ArmView(v.name, stats.pulls[i], means[i], shares[i], beliefs[i]) for i, v in enumerate(e.venues))
    lim = risk.limits
    # the gauges measure what the risk check measures: the worst case with orders in flight
    limits = [
        LimitView(
            f"position {sym}",
            max(abs(p.position[i] + flow.working_buy[i]), abs(p.position[i] - flow.working_sell[i])),
            lim.max_position,
            "sh",
        )
        for i, sym in enumerate(e.symbols)
    ]
    limits += [
        LimitView("notional", p.gross_notional + flow.working_notional(), lim.max_notional, "$"),
        LimitView("order rate", risk.orders_last_second(now), lim.max_orders_per_s, "/s"),
        LimitView("loss", max(0.0, -p.total), lim.max_loss, "$"),
    ]
    positions = tuple(
        PositionView(sym, p.position[i], p.avg_cost[i], p.mark[i], p.realized_by_symbol[i], p.unrealized_for(i))
        for i, sym in enumerate(e.symbols)
    )
    recent_inference = e.router.inference_ns[-1000:]
    return Snapshot(
        wall_ns=time.time_ns(),
        engine_ns=now,
        duration_s=e.duration_ns / 1e9,
        mode=e.settings.session.mode,
        clock=e.settings.session.clock,
        data_source=e.market.label,
        feed=e.feed_state,
        state=risk.state.value,
        paused=e.strategy.paused,
        ticks=e.ticks,
        ticks_rejected=e.normalizer.rejected_total,
        ticks_per_s=e.rate.rate,  # the current rate (last second), not the session's average
        orders=flow.orders,
        fills=flow.fills,
        rejects=flow.rejects,
        risk_denials=flow.denials,
        breaches=risk.breaches,
        pnl_total=p.total,
        pnl_realized=p.realized,
        pnl_unrealized=p.unrealized,
        fees=p.fees,
        wins=p.wins,
        losses=p.losses,
        win_rate=p.win_rate,
        positions=positions,
        trades=tuple(flow.trades),
        trade_seq=flow.trade_seq,
        venues=tuple(venues),
        heatmap_start_ns=tuple(starts),
        heatmap=tuple(tuple(r) for r in rows),
        router=e.router.name,
        router_decisions=stats.decisions,
        arms=arms,
        inference_us=percentiles(recent_inference, 1e-3),
        online_updates=online["updates"] if (online := e.router.online_stats()) and online["fine_tune"] else None,
        limits=tuple(limits),
        pnl_history=tuple(e.pnl_history),
        notes=tuple(e.notes),
        finished=e.finished,
        bucket_s=e.settings.engine.latency_bucket_s,
    )
