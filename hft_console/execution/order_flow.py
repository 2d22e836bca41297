"""From a strategy's wish to booked fills: routing into child orders, pre-trade risk, the wire to
the venues and back, and booking. Venue arrivals and execution reports wait in one time-ordered
heap keyed by (engine ns, sequence), so ties resolve the same way on every run.

``OrderFlow`` is handed what it works with (venues, risk, portfolio, router, latency monitor, the
live quotes, a journal) and tells the engine about a tripped breaker, a finished report and an
operator note through callbacks: it knows nothing above ``execution``."""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from hft_console.domain import EngineState, Fill, Order, OrderStatus, Quote, Side
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager
from hft_console.market.source import MarketSource
from hft_console.routing.policy import Observation, Transition
from hft_console.routing.runner import RouterRunner
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import Execution, SimVenue

ARRIVE, REPORT = 0, 1
INF = float("inf")
TimeHook = Callable[[int], None]  # called with the engine time (ns) of what happened


class JournalSink(Protocol):
    """The journal rows order flow writes (engine/journal.py ``Journal`` is one)."""

    def order(self, o: Order) -> None: ...

    def order_done(self, o: Order, done_ns: int, reason: str) -> None: ...

    def fill(self, f: Fill) -> None: ...

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
    ) -> None: ...


class OrderFlow:
    def __init__(
        self,
        *,
        symbols: list[str],
        venues: list[SimVenue],
        quotes: list[Quote | None],
        market: MarketSource,
        strategy: ImbalanceStrategy,
        risk: RiskManager,
        portfolio: Portfolio,
        router: RouterRunner,
        monitor: LatencyMonitor,
        journal: JournalSink,
        tick: float,
        slippage_ticks: float,
        miss_penalty_ticks: float,
        trades_kept: int,
        poll_feed: TimeHook,
        on_breaker: TimeHook,
        after_report: TimeHook,
        note: Callable[[int, str], None],
    ) -> None:
        """``quotes``: the normaliser's live quote per stream (symbol x venues + venue), read when an
        order is routed and when it arrives. ``poll_feed(t)`` brings the strategy's feed pause up to
        date before an order is routed; ``on_breaker(t)`` runs when a fill trips the loss limit,
        ``after_report(t)`` after every answer (flatten-then-halt), ``note(t, text)`` for the operator."""
        self.symbols, self.venues, self.quotes, self.market = symbols, venues, quotes, market
        self.strategy, self.risk, self.portfolio, self.router = strategy, risk, portfolio, router
        self.monitor, self.journal = monitor, journal
        self.poll_feed, self.on_breaker, self.after_report, self.note = poll_feed, on_breaker, after_report, note
        self.symbol_index = {sym: i for i, sym in enumerate(symbols)}
        self.venue_index = {v.name: i for i, v in enumerate(venues)}
        self.venue_by_name = {v.name: v for v in venues}
        self.tick = tick
        self.miss_penalty_ticks = miss_penalty_ticks
        n_sym = len(symbols)
        self.heap: list[tuple[int, int, int, object]] = []
        self.seq = 0
        self.next_event_ns = float("inf")
        self.working_buy = [0] * n_sym
        self.working_sell = [0] * n_sym
        self.in_flight: dict[int, Order] = {}
        self.stood_down: set[int] = set()  # symbols whose wish was denied once in the current halt
        self.cancel_at: dict[int, int] = {}
        self.next_order_id = 1
        self.next_parent_id = 1
        self.orders = self.fills = self.rejects = self.cancels = self.denials = 0
        self.done_by_status: dict[str, int] = {}
        self.trades: deque[Fill] = deque(maxlen=trades_kept)
        self.trade_seq = 0
        self.decision_ns: list[int] = []
        self.fees = tuple(v.spec.taker_fee for v in venues)
        self.n_ven = len(venues)
        self.slippage = slippage_ticks * tick
        self.events = 0  # venue events handled: arrivals and reports
        n = self.n_ven
        # per venue, for the backtest report: shares sent/filled, $ cost against the decision mid
        # (price only, and fees), and the filled notional at the decision mid it is measured against
        self.qty_sent, self.qty_filled = [0] * n, [0] * n
        self.cost_price, self.cost_fees, self.notional_filled = [0.0] * n, [0.0] * n, [0.0] * n
        self.round_trip_us = [0.0] * n
        self.answered = [0] * n  # reports received (timeouts included): what round_trip_us sums over
        # the unfilled part, so a low fill rate is not a low cost: the sent notional at the decision mid and
        # the unfilled shares priced as the routers learn them (miss_penalty_ticks a share, as `evaluate` does)
        self.notional_sent, self.cost_missed = [0.0] * n, [0.0] * n

    def _push(self, ts: int, kind: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (ts, self.seq, kind, payload))
        self.next_event_ns = self.heap[0][0]

    def drain(self, t_ns: int) -> None:
        """Handle every venue arrival and report due at or before ``t_ns``."""
        heap = self.heap
        while heap and heap[0][0] <= t_ns:
            ts, _, kind, payload = heapq.heappop(heap)
            self.events += 1
            if kind == ARRIVE:
                self._arrive(payload, ts)  # type: ignore[arg-type]
            else:
                self._report(payload)  # type: ignore[arg-type]
        self.next_event_ns = heap[0][0] if heap else float("inf")

    def working_notional(self) -> float:
        mark = self.portfolio.mark
        return sum((b + s) * m for b, s, m in zip(self.working_buy, self.working_sell, mark, strict=True))

    def route(self, sym: int, t_ns: int, delta: int, tick_wall_ns: int) -> None:
        """Split a parent order into child orders, one venue at a time, as the router chooses."""
        n_ven = self.n_ven
        side = 1 if delta > 0 else -1
        quotes = self.quotes[sym * n_ven : (sym + 1) * n_ven]
        if side > 0:
            price = tuple(q[2] if q else INF for q in quotes)
            size = tuple(q[4] if q else 0 for q in quotes)
            best = min(price)
        else:
            price = tuple(q[1] if q else -INF for q in quotes)
            size = tuple(q[3] if q else 0 for q in quotes)
            best = max(price)
        if best in (INF, -INF):
            return
        self.poll_feed(t_ns)  # a live feed that went stale since the last batch: no new risk on it
        if self.strategy.feed_paused and not self.strategy.flatten:
            return
        if self.risk.state is EngineState.HALTED:
            # halted: the first wish per symbol is denied and journaled, then the strategy stands down
            if sym in self.stood_down:
                return
            self.stood_down.add(sym)
        learning = time.perf_counter_ns()
        self.router.learn_due()
        tick_wall_ns += time.perf_counter_ns() - learning  # an inline update is not decision latency
        limit = round(best + side * self.slippage, 9)
        mask = [size[v] > 0 and side * (price[v] - limit) <= 1e-9 for v in range(n_ven)]
        mid = self.portfolio.mark[sym]
        latency = tuple(self.monitor.ewma_us)
        last_rt = tuple(self.monitor.last_us)
        parent = self.next_parent_id
        self.next_parent_id += 1
        remaining = abs(delta)
        while remaining > 0 and True in mask:
            router = self.router
            obs = Observation(
                side, remaining, price, size, latency, self.fees, tuple(mask), mid, router.decisions, last_rt
            )
            v, fraction = router.choose(obs)
            if not mask[v]:
                raise RuntimeError(f"router {router.name} chose venue {v}, which was not eligible")
            mask[v] = False
            share = remaining if fraction >= 1.0 else max(1, round(remaining * fraction))
            qty = min(share, size[v], self.risk.limits.max_order_qty)
            if not self._send(sym, t_ns, Side(side), qty, limit, v, parent, mid, tick_wall_ns, obs.decision):
                break
            remaining -= qty

    def _send(
        self,
        sym: int, t_ns: int, side: Side, qty: int, limit: float, v: int, parent: int, mid: float, wall0: int,
        decision: int = -1,
    ) -> bool:  # fmt: skip
        p = self.portfolio
        reason = self.risk.check(
            t_ns, int(side), qty, limit, p.position[sym], self.working_buy[sym], self.working_sell[sym], mid,
            p.gross_notional + self.working_notional(),
        )  # fmt: skip
        symbol = self.symbols[sym]
        if reason is not None:
            self.denials += 1
            self.journal.event(
                t_ns, "RISK_DENIED", reason, symbol=symbol, detail={"side": side.label, "qty": qty, "limit": limit}
            )
            self.note(t_ns, f"risk denied {side.label} {qty} {symbol}: {reason}")
            return False
        venue = self.venues[v]
        order = Order(
            self.next_order_id, parent, symbol, side, qty, limit, venue.name, self.router.name, t_ns, mid,
            decision=decision,
        )  # fmt: skip
        self.next_order_id += 1
        arrive = venue.send(order, t_ns)
        self.orders += 1
        self.decision_ns.append(time.perf_counter_ns() - wall0)
        if side > 0:
            self.working_buy[sym] += qty
        else:
            self.working_sell[sym] += qty
        self.in_flight[order.order_id] = order
        if arrive is None:
            timeout = venue.timeout(order, t_ns)
            self._push(timeout.report_ns, REPORT, timeout)
        else:
            order.arrive_ns = arrive
            self._push(arrive, ARRIVE, order)
        self.journal.order(order)
        return True

    def cancel_in_flight(self, t_ns: int) -> int:
        """Send a cancel for every order still on its way; it wins only if it arrives first."""
        cancelled = 0
        for order in self.in_flight.values():
            if order.arrive_ns > t_ns and order.order_id not in self.cancel_at:
                self.cancel_at[order.order_id] = self.venue_by_name[order.venue].arrival_ns(t_ns)
                cancelled += 1
        return cancelled

    def expire_all(self, t_ns: int) -> int:
        """Close what is still in flight when the session must end: status EXPIRED, journaled.
        Only reached when a venue answers slower than the wind-down allows."""
        expired = list(self.in_flight.values())
        for order in expired:
            sym = self.symbol_index[order.symbol]
            if order.side > 0:
                self.working_buy[sym] -= order.qty
            else:
                self.working_sell[sym] -= order.qty
            order.finish(OrderStatus.EXPIRED)
            self.journal.order_done(order, t_ns, "SESSION_END")
            self.journal.event(
                t_ns, "ORDER_EXPIRED", "SESSION_END", symbol=order.symbol, venue=order.venue, order_id=order.order_id
            )
            self.done_by_status["EXPIRED"] = self.done_by_status.get("EXPIRED", 0) + 1
        self.in_flight.clear()
        self.cancel_at.clear()
        self.heap.clear()
        self.next_event_ns = INF
        return len(expired)

    def _arrive(self, order: Order, t_ns: int) -> None:
        v = self.venue_index[order.venue]
        venue = self.venues[v]
        sym = self.symbol_index[order.symbol]
        cancel_ns = self.cancel_at.pop(order.order_id, None)
        quote = self.quotes[sym * self.n_ven + v]
        if cancel_ns is not None and cancel_ns <= t_ns:
            execution = Execution(order, t_ns, venue.arrival_ns(t_ns), "CANCELLED", "HALT_CANCEL")
        elif venue.is_down(t_ns):
            execution = venue.timeout(order, t_ns)  # went down while the order was on its way
        elif quote is None:
            execution = Execution(order, t_ns, venue.arrival_ns(t_ns), "CANCELLED", "NO_QUOTE")
        else:
            fair = self.market.fundamental_at(sym, t_ns)
            if fair != fair:  # the source does not know the fair price (real data): the mid seen so far
                fair = self.portfolio.mark[sym]
            execution = venue.execute(order, t_ns, sym, quote, fair)
        self._push(execution.report_ns, REPORT, execution)

    def _report(self, ex: Execution) -> None:
        order = ex.order
        sym = self.symbol_index[order.symbol]
        v = self.venue_index[order.venue]
        self.in_flight.pop(order.order_id, None)
        self.cancel_at.pop(order.order_id, None)
        if order.side > 0:
            self.working_buy[sym] -= order.qty
        else:
            self.working_sell[sym] -= order.qty
        order.finish(OrderStatus(ex.status))
        self.monitor.record(v, order.ts_ns, ex.report_ns, timed_out=ex.reason == "VENUE_DOWN")
        self.done_by_status[ex.status] = self.done_by_status.get(ex.status, 0) + 1
        filled = sum(q for q, _ in ex.fills)
        order.filled = filled
        cost = fees = 0.0
        portfolio = self.portfolio
        for qty, price in ex.fills:
            fee = ex.fee * qty / filled
            booking = portfolio.apply_fill(sym, int(order.side), qty, price, fee)
            cost += int(order.side) * (price - order.decision_mid) * qty
            fees += fee
            self.trade_seq += 1
            self.fills += 1
            fill = Fill(
                self.trade_seq, order.order_id, ex.report_ns, ex.venue_ns, order.symbol, order.side, qty, price, fee,
                order.venue, order.router, booking.trade_pnl, portfolio.total, booking.realized,
            )  # fmt: skip
            self.trades.append(fill)
            self.journal.fill(fill)
        self.journal.order_done(order, ex.report_ns, ex.reason)
        if ex.status == "REJECTED":
            self.rejects += 1
            self.journal.event(
                ex.report_ns, "VENUE_REJECT", ex.reason, symbol=order.symbol, venue=order.venue, order_id=order.order_id
            )
            self.note(ex.report_ns, f"{order.venue} rejected order {order.order_id}: {ex.reason}")
        elif ex.status == "CANCELLED":
            self.cancels += 1
        mid = order.decision_mid
        self.qty_sent[v] += order.qty
        self.qty_filled[v] += filled
        self.cost_price[v] += cost
        self.cost_fees[v] += fees
        self.notional_filled[v] += filled * mid
        rt_us = (ex.report_ns - order.ts_ns) / 1000
        self.round_trip_us[v] += rt_us
        self.answered[v] += 1
        missed = (order.qty - filled) * self.miss_penalty_ticks * self.tick
        self.notional_sent[v] += order.qty * mid
        self.cost_missed[v] += missed
        cost_bps = (cost + fees + missed) / (order.qty * mid) * 1e4 if mid > 0 else 0.0
        self.router.learn(order.router, Transition(v, order.qty, filled, cost_bps, rt_us, -cost_bps, order.decision))
        if filled and self.risk.breaker_hit(portfolio.total):
            self.on_breaker(ex.report_ns)
        self.after_report(ex.report_ns)
