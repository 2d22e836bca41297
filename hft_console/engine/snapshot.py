"""The engine's published state: an immutable picture the console, the headless printer and
summary.json read at their own pace. The engine rebuilds it at ``snapshot_hz``, before every status
line and once at the end. Builders read the session through ``SessionView`` (the Engine is one),
never the Engine class itself."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from hft_console.domain import Fill, Order, Quote, Side
from hft_console.engine.alerts import Alerts, AlertView
from hft_console.engine.commands import CommandQueue
from hft_console.engine.journal import Journal
from hft_console.execution.order_flow import OrderFlow
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager
from hft_console.market.normalizer import Normalizer
from hft_console.market.source import MarketSource
from hft_console.routing.runner import RouterRunner
from hft_console.settings import Settings
from hft_console.stats import RateMeter, percentiles
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.strategies.market_maker import MarketMaker
from hft_console.venues.latency import REGIME_NAMES
from hft_console.venues.monitor import Cell, LatencyMonitor
from hft_console.venues.simulator import SimVenue

Note = tuple[int, int, str]  # (sequence number, engine ns, text)


class SessionView(Protocol):
    """What a running or finished session shows its observers (engine/engine.py ``Engine`` is one)."""

    settings: Settings
    market: MarketSource
    symbols: list[str]
    n_ven: int
    venues: list[SimVenue]
    normalizer: Normalizer
    monitor: LatencyMonitor
    router: RouterRunner
    strategy: ImbalanceStrategy | MarketMaker
    portfolio: Portfolio
    risk: RiskManager
    flow: OrderFlow
    commands: CommandQueue
    journal: Journal
    rate: RateMeter  # ticks per wall second, recent
    duration_ns: int
    session_end_ns: int
    wall_elapsed: float  # s
    trades_seen: int
    feed_state: str
    finished: bool
    warnings: list[str]
    notes: deque[Note]
    note_seq: int
    pnl_history: deque[float]
    alerts: Alerts

    @property
    def now_ns(self) -> int: ...

    @property
    def ticks(self) -> int: ...


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
class WorkingOrderView:
    """One child order not yet in a final state (in-flight IOCs included), as the blotter shows it."""

    order_id: int
    venue: str
    symbol: str
    side: str  # BUY | SELL (``Side.label``)
    order_type: str  # an OrderType value
    price: float  # $: its limit (a MID_PEG's cap)
    qty: int  # shares: its current size (a replace changes it)
    filled: int  # shares filled so far
    state: str  # an OrderStatus value
    queue_ahead: int  # shares ahead of it at its price, as of the venue's last report (0: not resting)
    level_total: int  # shares displayed at its price then (-1: behind the touch, where the feed shows none)
    age_ms: float  # engine ms since it left us

    @property
    def leaves(self) -> int:
        """Shares still open (FIX LeavesQty: size less filled)."""
        return max(0, self.qty - self.filled)


@dataclass(frozen=True, slots=True)
class RestingView:
    """Resting exposure, all symbols: the unfilled shares of working orders that are not IOC. The position
    and notional gauges already count them (worst case); this says how much of that is resting."""

    orders: int
    buy: int  # shares
    sell: int  # shares
    notional: float  # $: (buy + sell) shares at each symbol's mark, as the notional limit counts them


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
    ticks_per_s: float  # the current rate (about the last second)
    mean_ticks_per_s: float  # over the whole session so far: ticks / wall_s
    wall_s: float
    orders: int
    fills: int
    rejects: int
    risk_denials: int
    breaches: int
    pnl_total: float
    pnl_realized: float
    pnl_unrealized: float
    fees: float  # net: taker fees paid less maker rebates earned
    fees_taker: float
    rebates_maker: float
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
    notes: tuple[Note, ...]
    finished: bool
    bucket_s: float
    working: tuple[WorkingOrderView, ...]  # the first WORKING_SHOWN in blotter order (``working_views``)
    working_more: int  # working orders beyond those
    resting: RestingView
    #: every (symbol, venue) stream's latest quote (ts ns, bid, ask, bid size, ask size) or None, by
    #: ``symbol_index * len(venues) + venue_index``: the market view (key v)
    quotes: tuple[Quote | None, ...] = ()
    #: per symbol, what the operator holds it in: "" (trading), "HALTED" or "FLATTENING" (execution/manual.py)
    held: tuple[str, ...] = ()
    #: the last alerts fired (engine/alerts.py), oldest first; the engine adds them after building (``Engine.publish``)
    alerts: tuple[AlertView, ...] = ()

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


def venue_views(e: SessionView) -> tuple[VenueView, ...]:
    now, mon = e.now_ns, e.monitor
    views = []
    for i, v in enumerate(e.venues):
        pct = mon.window_percentiles(i)
        views.append(
            VenueView(
                v.name,
                "down" if v.latency.is_down(now) else "up",
                REGIME_NAMES[v.latency.regime],
                pct["p50"],
                pct["p95"],
                pct["p99"],
                mon.ewma_us[i],
                v.latency.prior_round_trip_us(),
                v.orders,
                v.fills,
                v.rejects,
                mon.timeouts[i],
                v.spec.taker_fee,
            )
        )
    return tuple(views)


def arm_views(e: SessionView) -> tuple[ArmView, ...]:
    """The active router's arms: pulls, mean reward, recent share and what it believes of each."""
    stats = e.router.stats[e.router.name]
    shares = stats.recent_share(e.n_ven)
    means = stats.mean_reward()
    beliefs = _beliefs(e.router.policy.arm_stats(e.router.state), e.n_ven)
    return tuple(ArmView(v.name, stats.pulls[i], means[i], shares[i], beliefs[i]) for i, v in enumerate(e.venues))


def limit_views(e: SessionView) -> tuple[LimitView, ...]:
    """The risk gauges. They measure what the risk check measures: the worst case with orders in flight."""
    p, flow, risk = e.portfolio, e.flow, e.risk
    lim = risk.limits
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
        LimitView("order rate", risk.orders_last_second(e.now_ns), lim.max_orders_per_s, "/s"),
        LimitView("loss", max(0.0, -p.total), lim.max_loss, "$"),
    ]
    return tuple(limits)


WORKING_SHOWN = 200  # working orders a snapshot lists; the rest are only counted (the journal has them all)


def blotter_key(o: Order) -> tuple[str, int, float, int]:
    """The blotter's order, fixed so rows never jump: symbol, buys before sells, best price first on each
    side (a ladder), then order id (time of entry)."""
    buy = o.side is Side.BUY
    return o.symbol, 0 if buy else 1, -o.limit if buy else o.limit, o.order_id


def working_views(
    orders: Collection[Order], now_ns: int, cap: int = WORKING_SHOWN
) -> tuple[tuple[WorkingOrderView, ...], int]:
    """The first ``cap`` of ``orders`` in ``blotter_key`` order as views, and how many more there are.
    ``now_ns``: the session's engine time, which ages are measured against."""
    views = tuple(working_view(o, now_ns) for o in sorted(orders, key=blotter_key)[:cap])
    return views, len(orders) - len(views)


def working_view(o: Order, now_ns: int) -> WorkingOrderView:
    return WorkingOrderView(
        o.order_id, o.venue, o.symbol, o.side.label, o.order_type.value, o.limit, o.qty, o.filled,
        o.status.value, o.queue_ahead, o.level_total, max(0, now_ns - o.ts_ns) / 1e6,
    )  # fmt: skip


def resting_view(orders: Collection[Order], marks: Mapping[str, float]) -> RestingView:
    """Resting exposure of ``orders`` (the working ones): non-IOC orders' unfilled shares, and their $
    notional at ``marks`` (symbol: mid; an order's own limit where a symbol has no mark yet)."""
    n = buy = sell = 0
    notional = 0.0
    for o in orders:
        if not o.resting:
            continue
        leaves = max(0, o.qty - o.filled)
        n += 1
        if o.side is Side.BUY:
            buy += leaves
        else:
            sell += leaves
        notional += leaves * (marks.get(o.symbol) or o.limit)
    return RestingView(n, buy, sell, notional)


def position_views(e: SessionView) -> tuple[PositionView, ...]:
    p = e.portfolio
    return tuple(
        PositionView(sym, p.position[i], p.avg_cost[i], p.mark[i], p.realized_by_symbol[i], p.unrealized_for(i))
        for i, sym in enumerate(e.symbols)
    )


def build_snapshot(e: SessionView) -> Snapshot:
    p, flow, risk, router = e.portfolio, e.flow, e.risk, e.router
    venues = venue_views(e)
    starts, rows = e.monitor.heatmap(e.now_ns)
    arms = arm_views(e)
    limits = limit_views(e)
    working, working_more = working_views(flow.working.values(), e.now_ns)
    resting = resting_view(flow.working.values(), dict(zip(e.symbols, p.mark, strict=True)))
    recent_inference = router.inference_ns[-1000:]
    online = router.online_stats()
    return Snapshot(
        wall_ns=time.time_ns(),
        engine_ns=e.now_ns,
        duration_s=e.duration_ns / 1e9,
        mode=e.settings.session.mode,
        clock=e.settings.session.clock,
        data_source=e.market.label,
        feed=e.feed_state,
        state=risk.state.value,
        paused=e.strategy.paused,
        ticks=e.ticks,
        ticks_rejected=e.normalizer.rejected_total,
        ticks_per_s=e.rate.rate,
        mean_ticks_per_s=e.ticks / e.wall_elapsed if e.wall_elapsed > 0 else 0.0,
        wall_s=e.wall_elapsed,
        orders=flow.orders,
        fills=flow.fills,
        rejects=flow.rejects,
        risk_denials=flow.denials,
        breaches=risk.breaches,
        pnl_total=p.total,
        pnl_realized=p.realized,
        pnl_unrealized=p.unrealized,
        fees=p.fees,
        fees_taker=flow.fees_taker,
        rebates_maker=flow.rebates_maker,
        wins=p.wins,
        losses=p.losses,
        win_rate=p.win_rate,
        positions=position_views(e),
        trades=tuple(flow.trades),
        trade_seq=flow.trade_seq,
        venues=venues,
        heatmap_start_ns=tuple(starts),
        heatmap=tuple(tuple(r) for r in rows),
        router=router.name,
        router_decisions=router.stats[router.name].decisions,
        arms=arms,
        inference_us=percentiles(recent_inference, 1e-3),
        online_updates=online["updates"] if online and online["fine_tune"] else None,
        limits=limits,
        pnl_history=tuple(e.pnl_history),
        notes=tuple(e.notes),
        finished=e.finished,
        bucket_s=e.settings.engine.latency_bucket_s,
        working=working,
        working_more=working_more,
        resting=resting,
        quotes=tuple(e.normalizer.last_tick),
        held=tuple(flow.held.get(i, "") for i in range(len(flow.symbols))),
    )


class Tape:
    """A reader's place in the session's trades and notes, for one that must see every trade (the
    headless tape) rather than the latest ``Snapshot.trades``."""

    def __init__(self) -> None:
        self.trade_seq = 0
        self.note_seq = 0

    def new_trades(self, e: SessionView) -> tuple[list[Fill], int]:
        """The fills since the last call that are still kept, and how many more were dropped unseen
        (the flow keeps the last ``trades_kept``; the journal has them all)."""
        flow = e.flow
        new = flow.trade_seq - self.trade_seq
        if not new:
            return [], 0
        trades = list(flow.trades)[-min(new, len(flow.trades)) :]
        self.trade_seq = flow.trade_seq
        return trades, new - len(trades)

    def new_notes(self, e: SessionView) -> list[Note]:
        """The operator notes since the last call (the session keeps the last 200)."""
        notes = [n for n in e.notes if n[0] > self.note_seq]
        self.note_seq = e.note_seq
        return notes
