"""What a resting strategy asks of the order flow: posts, cancels and replaces (and the kill switch's
cancel of everything), the market maker's two-sided quotes (``requote``) and the imbalance strategy's
passive joins (``join``, cancelled after ``passive_ttl_ms``). Quotes and joins wait rather than ask
to be denied: while a message of the order's is in flight, and while the order-rate limit has no
room."""

from __future__ import annotations

import time

from hft_console.domain import EngineState, Order, OrderType, Side, TimeInForce
from hft_console.execution.resting_flow import (
    CANCEL_ARRIVE,
    INF,
    PENDING,
    POST_ARRIVE,
    REPLACE_ARRIVE,
    VENUE_REPORT,
    RestingFlow,
    S,
)
from hft_console.routing.posting import post_venue
from hft_console.venues.simulator import REJECTED, Report


class QuotingFlow(RestingFlow):
    """``RestingFlow`` plus the strategies' ways of resting; ``OrderFlow`` is one."""

    def post(
        self, sym: int, t_ns: int, side: Side, qty: int, price: float, wall0: int,
        order_type: OrderType = OrderType.POST_ONLY, routed: tuple[int, int, int] | None = None,
        operator_venue: int = -1,
    ) -> Order | None:  # fmt: skip
        """Send a resting order to the venue the posting rule picks; None when none can take it or risk
        denies it. ``routed``: (venue, parent, decision) of a child the router chose to post — that venue,
        the router's name on the order, and the router learns what it cost when it is done.
        ``operator_venue``: the venue the operator named for a manual order ("operator" on the order)."""
        n = self.n_ven
        if operator_venue >= 0:
            v, parent, decision, by = operator_venue, self.next_parent_id, -1, "operator"
        elif routed is None:
            quotes = self.quotes[sym * n : (sym + 1) * n]
            up = [not v.latency.is_down_as_drawn(t_ns) for v in self.venues]
            specs = [x.spec for x in self.venues]
            v = post_venue(
                self.post_rule, int(side), price, quotes, specs, up, self.inv_tick, order_type is OrderType.MID_PEG
            )
            parent, decision, by = self.next_parent_id, -1, self.post_rule
        else:
            (v, parent, decision), by = routed, self.router.name
        mid = self.portfolio.mark[sym]
        if v < 0 or not self.risk_ok(sym, t_ns, side, qty, price, mid):
            return None
        venue = self.venues[v]
        order = Order(
            self.next_order_id, parent, self.symbols[sym], side, qty, price, venue.name, by, t_ns, mid,
            order_type=order_type, tif=TimeInForce.DAY, decision=decision,
        )  # fmt: skip
        self.next_order_id += 1
        if routed is None:
            self.next_parent_id += 1
        else:
            self.routed_posts[order.order_id] = 0.0
        self.orders += 1
        self.passive_orders += 1
        arrive = venue.send(order, t_ns)
        if not self.operator_sending:  # tick-to-order latency is the strategy's, not an operator's typing
            self.decision_ns.append(time.perf_counter_ns() - wall0)
        self.open_order(sym, order)
        if arrive is None:
            timeout = venue.timeout(order, t_ns)
            self._push(
                timeout.report_ns, VENUE_REPORT, Report(order, REJECTED, t_ns, timeout.report_ns, reason="VENUE_DOWN")
            )
        else:
            order.arrive_ns = arrive
            self._push(arrive, POST_ARRIVE, order)
        return order

    def cancel_order(self, order: Order, t_ns: int, reason: str) -> bool:
        """Send a cancel (counted in the message rate, never denied); False when one is on its way or the
        order is done."""
        if order.done or order.status is S.PENDING_CANCEL or order.order_id in self.cancel_reason:
            return False
        self.risk.sent.append(t_ns)
        self.cancel_reason[order.order_id] = reason
        if order.status is not S.PENDING_REPLACE:
            self.transition(order, S.PENDING_CANCEL, t_ns, reason)
        venue = self.venue_by_name[order.venue]
        self._push(venue.inbound(t_ns, venue.cancel_median_us), CANCEL_ARRIVE, order)
        return True

    def replace_order(self, order: Order, t_ns: int, price: float, qty: int) -> bool:
        """Send a replace to ``price`` and ``qty`` shares in all; False when the order is not settled or
        risk denies it (rate, price deviation, and a larger size against the position limits)."""
        if order.status in PENDING or order.done:
            return False
        sym = self.symbol_index[order.symbol]
        grow = max(0, qty - order.qty)
        if not self.risk_ok(sym, t_ns, order.side, max(grow, 1), price, self.portfolio.mark[sym]):
            return False
        self.pending_replace[order.order_id] = (price, qty)
        self.transition(order, S.PENDING_REPLACE, t_ns, "", qty, price)
        venue = self.venue_by_name[order.venue]
        self._push(venue.inbound(t_ns, venue.replace_median_us), REPLACE_ARRIVE, order)
        return True

    def cancel_all(self, t_ns: int, reason: str) -> int:
        """The kill switch: a cancel for every resting order on every venue. Takes on their way cannot be
        called back (the venue answers them first); their fills are booked as they come."""
        return sum(self.cancel_order(o, t_ns, reason) for o in list(self.working.values()) if o.resting)

    def requote(self, sym: int, t_ns: int, wanted: tuple[int, int, int, int], wall0: int) -> None:
        """Bring our resting quotes in ``sym`` to ``wanted`` (bid ticks, bid shares, ask ticks, ask shares):
        post where none works, replace one at another price, cancel one no longer wanted. A side whose
        order has a message on its way waits (``unsettled``) and is retried on the next tick, and so does
        the whole symbol while the order-rate limit has no room for two more messages: a quoting strategy
        waits for the limit rather than asking to be denied."""
        if self.risk.state is EngineState.HALTED:
            if sym in self.stood_down:
                return
            self.stood_down.add(sym)
        self.unsettled.discard(sym)
        risk = self.risk
        if risk.limits.max_orders_per_s - risk.orders_last_second(t_ns) < 2:
            # no room in the order-rate limit for both sides: ask nothing until the oldest message leaves it
            self.unsettled.add(sym)
            self.retry_ns = risk.sent[0] + 1_000_000_000 if risk.sent else t_ns
            return
        for side, ticks, qty in ((1, wanted[0], wanted[1]), (-1, wanted[2], wanted[3])):
            oid = self.quote_orders.get((sym, side))
            order = self.working.get(oid) if oid is not None else None
            if order is None:
                if qty > 0:
                    posted = self.post(sym, t_ns, Side(side), qty, ticks / self.inv_tick, wall0)
                    if posted is not None:
                        self.quote_orders[(sym, side)] = posted.order_id
                continue
            if order.status in PENDING:
                continue  # its answer puts the symbol back in ``unsettled``
            elif qty == 0:
                self.cancel_order(order, t_ns, "REQUOTE")
            elif round(order.limit * self.inv_tick) != ticks:
                self.replace_order(order, t_ns, ticks / self.inv_tick, order.filled + qty)

    def join(self, sym: int, t_ns: int, delta: int, bid: float, ask: float, wall0: int) -> None:
        """Join the book for ``delta`` shares (signed): cancel what of ours rests on the other side of the
        symbol, post the rest at our side's NBBO price (or, with ``join = "peg"``, a midpoint peg capped
        at the far side's), and cancel it after ``passive_ttl_ms``."""
        side = 1 if delta > 0 else -1
        if self.risk.state is EngineState.HALTED:
            if sym in self.stood_down:
                return
            self.stood_down.add(sym)
        # what of ours rests on the other side counts in the exposure the strategy asked against: once
        # cancelled, only the rest of ``delta`` is still wanted
        need, symbol = abs(delta), self.symbols[sym]
        others = [o for o in self.working.values() if o.resting and int(o.side) == -side and o.symbol == symbol]
        for order in others:
            if self.cancel_order(order, t_ns, "TARGET_CHANGED") or order.status is S.PENDING_CANCEL:
                need -= order.qty - order.filled
        if need <= 0:
            return
        if self.join_peg:
            posted = self.post(sym, t_ns, Side(side), need, ask if side > 0 else bid, wall0, OrderType.MID_PEG)
        else:
            posted = self.post(sym, t_ns, Side(side), need, bid if side > 0 else ask, wall0)
        if posted is not None:
            self.cancel_after_ttl(posted, t_ns)

    def cancel_after_ttl(self, order: Order, t_ns: int) -> None:
        """Cancel ``order`` ``passive_ttl_ms`` after ``t_ns`` if it still works then (``expire_joins``)."""
        due = t_ns + self.ttl_ns
        self.joined[order.order_id] = due
        self.next_ttl_ns = min(self.next_ttl_ns, due)

    def expire_joins(self, t_ns: int) -> None:
        """Cancel joined orders older than ``passive_ttl_ms`` (reason ``TTL``)."""
        nxt = INF
        for oid, due in list(self.joined.items()):
            order = self.working.get(oid)
            if order is None:
                del self.joined[oid]
            elif due <= t_ns:
                if self.cancel_order(order, t_ns, "TTL") or order.status is S.PENDING_CANCEL:
                    del self.joined[oid]
                else:
                    nxt = min(nxt, t_ns + 1)  # a replace or the acceptance is on its way: next tick
            else:
                nxt = min(nxt, due)
        self.next_ttl_ns = nxt
