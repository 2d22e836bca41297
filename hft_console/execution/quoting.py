"""What a resting strategy asks of the order flow: the market maker's two-sided quotes (``requote``)
and the imbalance strategy's passive joins (``join``, cancelled after ``passive_ttl_ms``). Both wait
rather than ask to be denied: while a message of the order's is in flight, and while the order-rate
limit has no room."""

from __future__ import annotations

from hft_console.domain import EngineState, OrderType, Side
from hft_console.execution.resting_flow import INF, PENDING, RestingFlow, S


class QuotingFlow(RestingFlow):
    """``RestingFlow`` plus the strategies' ways of resting; ``OrderFlow`` is one."""

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
            due = t_ns + self.ttl_ns
            self.joined[posted.order_id] = due
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
