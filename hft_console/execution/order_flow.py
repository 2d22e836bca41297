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

from hft_console.domain import EngineState, Fill, Liquidity, Order, OrderStatus, Quote, Side
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.quoting import QuotingFlow
from hft_console.execution.resting_flow import (
    ARRIVE,
    CANCEL_ARRIVE,
    INF,
    POST_ARRIVE,
    REPLACE_ARRIVE,
    REPORT,
    VENUE_REPORT,
    JournalSink,
)
from hft_console.execution.risk import RiskManager
from hft_console.market.source import MarketSource
from hft_console.routing.policy import Observation, Transition
from hft_console.routing.runner import RouterRunner
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.strategies.market_maker import MarketMaker
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import Execution, SimVenue

TimeHook = Callable[[int], None]  # called with the engine time (ns) of what happened


class OrderFlow(QuotingFlow):
    def __init__(
        self,
        *,
        symbols: list[str],
        venues: list[SimVenue],
        quotes: list[Quote | None],
        market: MarketSource,
        strategy: ImbalanceStrategy | MarketMaker,
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
        post_rule: str = "best-rebate",
    ) -> None:
        """``quotes``: the normaliser's live quote per stream (symbol x venues + venue), read when an
        order is routed and when it arrives. ``poll_feed(t)`` brings the strategy's feed pause up to
        date before an order is routed; ``on_breaker(t)`` runs when a fill trips the loss limit,
        ``after_report(t)`` after every answer (flatten-then-halt), ``note(t, text)`` for the operator.
        ``post_rule``: where resting orders go (routing/posting.py)."""
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
        self.working: dict[int, Order] = {}  # every order not in a final state, by id
        self.stood_down: set[int] = set()  # symbols whose wish was denied once in the current halt
        self.next_order_id = 1
        self.next_parent_id = 1
        self.orders = self.fills = self.rejects = self.cancels = self.denials = 0
        self.done_by_status: dict[str, int] = {}
        self.trades: deque[Fill] = deque(maxlen=trades_kept)
        self.trade_seq = 0
        self.decision_ns: list[int] = []
        self.fees = tuple(v.spec.taker_fee for v in venues)
        self.n_ven = len(venues)
        self.dark = [v.dark for v in venues]
        self.any_dark = any(self.dark)
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
        self.init_resting(post_rule)

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
            elif kind == REPORT:
                self._report(payload)  # type: ignore[arg-type]
            elif kind == VENUE_REPORT:
                self.on_venue_report(payload)  # type: ignore[arg-type]
            elif kind == POST_ARRIVE:
                self.on_post_arrive(payload, ts)  # type: ignore[arg-type]
            elif kind == CANCEL_ARRIVE:
                self.on_cancel_arrive(payload, ts)  # type: ignore[arg-type]
            elif kind == REPLACE_ARRIVE:
                self.on_replace_arrive(payload, ts)  # type: ignore[arg-type]
        self.next_event_ns = heap[0][0] if heap else float("inf")

    def working_notional(self) -> float:
        mark = self.portfolio.mark
        return sum((b + s) * m for b, s, m in zip(self.working_buy, self.working_sell, mark, strict=True))

    def route(self, sym: int, t_ns: int, delta: int, tick_wall_ns: int, limit: float | None = None) -> None:
        """Split a parent order into child orders, one venue at a time, as the router chooses. A dark
        venue shows nothing: it is offered at the lit best price with no size, eligible for every take
        (it fills at the midpoint when it has hidden liquidity; the router learns how often). ``limit``:
        the operator's limit price (default: the best price plus the configured slippage)."""
        n_ven = self.n_ven
        side = 1 if delta > 0 else -1
        quotes = self.quotes[sym * n_ven : (sym + 1) * n_ven]
        mid = self.portfolio.mark[sym]
        dark = self.dark
        if side > 0:
            lit = tuple(INF if dark[v] or q is None else q[2] for v, q in enumerate(quotes))
            size = tuple(q[4] if q else 0 for q in quotes)
            near = tuple(0 if dark[v] or q is None else q[3] for v, q in enumerate(quotes))
            best = min(lit)
        else:
            lit = tuple(-INF if dark[v] or q is None else q[1] for v, q in enumerate(quotes))
            size = tuple(q[3] if q else 0 for q in quotes)
            near = tuple(0 if dark[v] or q is None else q[4] for v, q in enumerate(quotes))
            best = max(lit)
        price = tuple(best if dark[v] else p for v, p in enumerate(lit)) if self.any_dark else lit
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
        if limit is None:
            limit = round(best + side * self.slippage, 9)
        mask = [(dark[v] and mid > 0) or (size[v] > 0 and side * (price[v] - limit) <= 1e-9) for v in range(n_ven)]
        latency = tuple(self.monitor.ewma_us)
        last_rt = tuple(self.monitor.last_us)
        parent = self.next_parent_id
        self.next_parent_id += 1
        remaining = abs(delta)
        max_qty = self.risk.limits.max_order_qty
        while remaining > 0 and True in mask:
            router = self.router
            obs = Observation(
                side, remaining, price, size, latency, self.fees, tuple(mask), mid, router.decisions, last_rt, near
            )
            v, fraction, post = router.choose(obs)
            if not mask[v]:
                raise RuntimeError(f"router {router.name} chose venue {v}, which was not eligible")
            mask[v] = False
            share = remaining if fraction >= 1.0 else max(1, round(remaining * fraction))
            if post and not dark[v]:
                # rest at our side's touch of that venue (its bid for a buy), cancelled after the time to live
                qty = min(share, max_qty)
                quote = quotes[v]
                assert quote is not None  # an eligible lit venue has a quote
                touch = quote[1] if side > 0 else quote[2]
                routed = (v, parent, obs.decision)
                posted = self.post(sym, t_ns, Side(side), qty, touch, tick_wall_ns, routed=routed)
                if posted is None:
                    break
                self.cancel_after_ttl(posted, t_ns)
            else:
                qty = min(share, max_qty) if dark[v] else min(share, size[v], max_qty)
                if not self._send(sym, t_ns, Side(side), qty, limit, v, parent, mid, tick_wall_ns, obs.decision):
                    break
            remaining -= qty

    def send_operator(self, sym: int, t_ns: int, side: Side, qty: int, limit: float, v: int) -> bool:
        """An operator's immediate-or-cancel order to venue ``v`` ("operator" on the order); False when risk
        denies it (journaled as every denial)."""
        parent = self.next_parent_id
        self.next_parent_id += 1
        wall0 = time.perf_counter_ns()
        return self._send(sym, t_ns, side, qty, limit, v, parent, self.portfolio.mark[sym], wall0, by="operator")

    def _send(
        self,
        sym: int, t_ns: int, side: Side, qty: int, limit: float, v: int, parent: int, mid: float, wall0: int,
        decision: int = -1, by: str | None = None,
    ) -> bool:  # fmt: skip
        if not self.risk_ok(sym, t_ns, side, qty, limit, mid):
            return False
        venue = self.venues[v]
        order = Order(
            self.next_order_id, parent, self.symbols[sym], side, qty, limit, venue.name, by or self.router.name, t_ns,
            mid, decision=decision,
        )  # fmt: skip
        self.next_order_id += 1
        arrive = venue.send(order, t_ns)
        self.orders += 1
        if not self.operator_sending:  # tick-to-order latency is the strategy's, not an operator's typing
            self.decision_ns.append(time.perf_counter_ns() - wall0)
        self.open_order(sym, order)
        if arrive is None:
            timeout = venue.timeout(order, t_ns)
            self._push(timeout.report_ns, REPORT, timeout)
        else:
            order.arrive_ns = arrive
            self._push(arrive, ARRIVE, order)
        return True

    def expire_all(self, t_ns: int) -> int:
        """Close what is still working when the session must end: status EXPIRED, journaled.
        Only reached when a venue answers slower than the wind-down allows."""
        expired = list(self.working.values())
        for order in expired:
            self.close_order(order, OrderStatus.EXPIRED, t_ns, "SESSION_END")
            self.journal.event(
                t_ns, "ORDER_EXPIRED", "SESSION_END", symbol=order.symbol, venue=order.venue, order_id=order.order_id
            )
            venue = self.venue_by_name[order.venue]
            venue.book.remove(order.order_id)
        self.working.clear()
        self.heap.clear()
        self.next_event_ns = INF
        return len(expired)

    def _arrive(self, order: Order, t_ns: int) -> None:
        v = self.venue_index[order.venue]
        venue = self.venues[v]
        sym = self.symbol_index[order.symbol]
        quote = self.quotes[sym * self.n_ven + v]
        if venue.is_down(t_ns - venue.delay_ns):
            execution = venue.timeout(order, t_ns)  # went down while the order was on its way
        else:
            fair = self.market.fundamental_at(sym, t_ns - venue.delay_ns)
            if fair != fair:  # the source does not know the fair price (real data): the mid seen so far
                fair = self.portfolio.mark[sym]
            execution = venue.execute(order, t_ns, sym, quote, fair, self.portfolio.mark[sym])
        self._push(execution.report_ns, REPORT, execution)

    def _report(self, ex: Execution) -> None:
        """A take's one answer: accepted and filled (the rest cancelled), or rejected."""
        order = ex.order
        sym = self.symbol_index[order.symbol]
        v = self.venue_index[order.venue]
        self.monitor.record(v, order.ts_ns, ex.report_ns, timed_out=ex.reason == "VENUE_DOWN")
        t = ex.report_ns
        filled = cost = fees = 0.0
        if ex.status == "REJECTED":
            self.close_order(order, OrderStatus.REJECTED, t, ex.reason)
        else:
            self.transition(order, OrderStatus.ACCEPTED, t)
            for qty, price in ex.fills:
                fee = ex.fee * qty / sum(q for q, _ in ex.fills)
                self.book_fill(order, sym, qty, price, fee, t, ex.venue_ns, Liquidity.TAKER)
                cost += int(order.side) * (price - order.decision_mid) * qty
                fees += fee
            filled = order.filled
            if order.filled < order.qty:
                self.close_order(order, OrderStatus.CANCELED, t, ex.reason)
        if ex.status == "REJECTED":
            self.rejects += 1
            self.journal.event(
                ex.report_ns, "VENUE_REJECT", ex.reason, symbol=order.symbol, venue=order.venue, order_id=order.order_id
            )
            self.note(ex.report_ns, f"{order.venue} rejected order {order.order_id}: {ex.reason}")
        elif ex.status == "CANCELED":
            self.cancels += 1
        mid = order.decision_mid
        self.qty_sent[v] += order.qty
        self.qty_filled[v] += int(filled)
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
        if order.router != "operator":  # an operator's own venue choice teaches no router
            self.router.learn(
                order.router,
                Transition(
                    v, order.qty, int(filled), cost_bps, rt_us, -cost_bps, order.decision, ex.status != "REJECTED"
                ),  # a timeout (VENUE_DOWN) or a reject: the venue did not answer
            )
        if filled and self.risk.breaker_hit(self.portfolio.total):
            self.on_breaker(ex.report_ns)
        self.after_report(ex.report_ns)
