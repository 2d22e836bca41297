"""From a strategy's wish to booked fills: routing into child orders, pre-trade risk, the wire to
the venues and back, and booking. Venue arrivals and execution reports wait in one time-ordered
heap keyed by (engine ns, sequence), so ties resolve the same way on every run."""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import TYPE_CHECKING

from hft_console.domain import EngineState, Fill, Order, Side
from hft_console.routing.policy import Observation, Transition
from hft_console.venues.simulator import Execution

if TYPE_CHECKING:
    from hft_console.engine.engine import Engine

ARRIVE, REPORT = 0, 1
Quote = tuple[int, float, float, int, int]
INF = float("inf")


class OrderFlow:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        n_sym = len(engine.symbols)
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
        self.trades: deque[Fill] = deque(maxlen=engine.settings.engine.trades_kept)
        self.trade_seq = 0
        self.decision_ns: list[int] = []
        self.fees = tuple(v.spec.taker_fee for v in engine.venues)
        self.n_ven = len(engine.venues)
        self.slippage = engine.settings.strategy.limit_slippage_ticks * engine.tick
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
        mark = self.e.portfolio.mark
        return sum((b + s) * m for b, s, m in zip(self.working_buy, self.working_sell, mark, strict=True))

    def route(self, sym: int, t_ns: int, delta: int, tick_wall_ns: int) -> None:
        """Split a parent order into child orders, one venue at a time, as the router chooses."""
        e = self.e
        n_ven = self.n_ven
        side = 1 if delta > 0 else -1
        quotes = e.normalizer.last_tick[sym * n_ven : (sym + 1) * n_ven]
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
        feed = e.market.feed_state
        if feed != e.feed_state:  # a live feed that went stale since the last batch: no new risk on it
            e.on_feed(t_ns, feed)
        if e.strategy.feed_paused and not e.strategy.flatten:
            return
        if e.risk.state is EngineState.HALTED:
            # halted: the first wish per symbol is denied and journaled, then the strategy stands down
            if sym in self.stood_down:
                return
            self.stood_down.add(sym)
        learning = time.perf_counter_ns()
        e.router.learn_due()
        tick_wall_ns += time.perf_counter_ns() - learning  # an inline update is not decision latency
        limit = round(best + side * self.slippage, 9)
        mask = [size[v] > 0 and side * (price[v] - limit) <= 1e-9 for v in range(n_ven)]
        mid = e.portfolio.mark[sym]
        latency = tuple(e.monitor.ewma_us)
        last_rt = tuple(e.monitor.last_us)
        parent = self.next_parent_id
        self.next_parent_id += 1
        remaining = abs(delta)
        while remaining > 0 and True in mask:
            router = e.router
            obs = Observation(
                side, remaining, price, size, latency, self.fees, tuple(mask), mid, router.decisions, last_rt
            )
            v, fraction = router.choose(obs)
            if not mask[v]:
                raise RuntimeError(f"router {e.router.name} chose venue {v}, which was not eligible")
            mask[v] = False
            share = remaining if fraction >= 1.0 else max(1, round(remaining * fraction))
            qty = min(share, size[v], e.risk.limits.max_order_qty)
            if not self._send(sym, t_ns, Side(side), qty, limit, v, parent, mid, tick_wall_ns, obs.decision):
                break
            remaining -= qty

    def _send(
        self,
        sym: int, t_ns: int, side: Side, qty: int, limit: float, v: int, parent: int, mid: float, wall0: int,
        decision: int = -1,
    ) -> bool:  # fmt: skip
        e = self.e
        p = e.portfolio
        reason = e.risk.check(
            t_ns, int(side), qty, limit, p.position[sym], self.working_buy[sym], self.working_sell[sym], mid,
            p.gross_notional + self.working_notional(),
        )  # fmt: skip
        symbol = e.symbols[sym]
        if reason is not None:
            self.denials += 1
            e.journal.event(
                t_ns, "RISK_DENIED", reason, symbol=symbol, detail={"side": side.label, "qty": qty, "limit": limit}
            )
            e.note(t_ns, f"risk denied {side.label} {qty} {symbol}: {reason}")
            return False
        venue = e.venues[v]
        order = Order(
            self.next_order_id, parent, symbol, side, qty, limit, venue.name, e.router.name, t_ns, mid,
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
        e.journal.order(order)
        return True

    def cancel_in_flight(self, t_ns: int) -> int:
        """Send a cancel for every order still on its way; it wins only if it arrives first."""
        cancelled = 0
        for order in self.in_flight.values():
            if order.arrive_ns > t_ns and order.order_id not in self.cancel_at:
                venue = self.e.venue_by_name[order.venue]
                self.cancel_at[order.order_id] = t_ns + venue.latency.one_way_ns(t_ns)
                cancelled += 1
        return cancelled

    def expire_all(self, t_ns: int) -> int:
        """Close what is still in flight when the session must end: status EXPIRED, journaled.
        Only reached when a venue answers slower than the wind-down allows."""
        expired = list(self.in_flight.values())
        for order in expired:
            sym = self.e.symbol_index[order.symbol]
            if order.side > 0:
                self.working_buy[sym] -= order.qty
            else:
                self.working_sell[sym] -= order.qty
            order.status = "EXPIRED"
            self.e.journal.order_done(order, t_ns, "SESSION_END")
            self.e.journal.event(
                t_ns, "ORDER_EXPIRED", "SESSION_END", symbol=order.symbol, venue=order.venue, order_id=order.order_id
            )
            self.done_by_status["EXPIRED"] = self.done_by_status.get("EXPIRED", 0) + 1
        self.in_flight.clear()
        self.cancel_at.clear()
        self.heap.clear()
        self.next_event_ns = INF
        return len(expired)

    def _arrive(self, order: Order, t_ns: int) -> None:
        e = self.e
        v = e.venue_index[order.venue]
        venue = e.venues[v]
        sym = e.symbol_index[order.symbol]
        cancel_ns = self.cancel_at.pop(order.order_id, None)
        quote: Quote | None = e.normalizer.last_tick[sym * len(e.venues) + v]
        if cancel_ns is not None and cancel_ns <= t_ns:
            execution = Execution(order, t_ns, t_ns + venue.latency.one_way_ns(t_ns), "CANCELLED", "HALT_CANCEL")
        elif venue.latency.is_down(t_ns):
            execution = venue.timeout(order, t_ns)  # went down while the order was on its way
        elif quote is None:
            execution = Execution(order, t_ns, t_ns + venue.latency.one_way_ns(t_ns), "CANCELLED", "NO_QUOTE")
        else:
            fair = e.market.fundamental_at(sym, t_ns)
            if fair != fair:  # the source does not know the fair price (real data): the mid seen so far
                fair = e.portfolio.mark[sym]
            execution = venue.execute(order, t_ns, sym, quote, fair)
        self._push(execution.report_ns, REPORT, execution)

    def _report(self, ex: Execution) -> None:
        e = self.e
        order = ex.order
        sym = e.symbol_index[order.symbol]
        v = e.venue_index[order.venue]
        self.in_flight.pop(order.order_id, None)
        self.cancel_at.pop(order.order_id, None)
        if order.side > 0:
            self.working_buy[sym] -= order.qty
        else:
            self.working_sell[sym] -= order.qty
        order.status = ex.status
        e.monitor.record(v, order.ts_ns, ex.report_ns, timed_out=ex.reason == "VENUE_DOWN")
        self.done_by_status[ex.status] = self.done_by_status.get(ex.status, 0) + 1
        filled = sum(q for q, _ in ex.fills)
        order.filled = filled
        cost = fees = 0.0
        portfolio = e.portfolio
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
            e.journal.fill(fill)
        e.journal.order_done(order, ex.report_ns, ex.reason)
        if ex.status == "REJECTED":
            self.rejects += 1
            e.journal.event(
                ex.report_ns, "VENUE_REJECT", ex.reason, symbol=order.symbol, venue=order.venue, order_id=order.order_id
            )
            e.note(ex.report_ns, f"{order.venue} rejected order {order.order_id}: {ex.reason}")
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
        missed = (order.qty - filled) * e.settings.market.miss_penalty_ticks * e.tick
        self.notional_sent[v] += order.qty * mid
        self.cost_missed[v] += missed
        cost_bps = (cost + fees + missed) / (order.qty * mid) * 1e4 if mid > 0 else 0.0
        e.router.learn(order.router, Transition(v, order.qty, filled, cost_bps, rt_us, -cost_bps, order.decision))
        if filled and e.risk.breaker_hit(portfolio.total):
            e.on_breaker(ex.report_ns)
        e.check_flat(ex.report_ns)
