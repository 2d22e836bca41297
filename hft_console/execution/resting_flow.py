"""Order life on the desk's side: the state machine as each answer arrives, the journal's order events,
and resting orders at the venues (acceptance, cancels and replaces landing, maker fills, others'
prints). ``QuotingFlow`` (quoting.py) sends posts, cancels and replaces; ``OrderFlow`` (order_flow.py)
adds takes and routing on top; all share the time-ordered event heap.

Every state change goes through ``transition`` (domain.ORDER_TRANSITIONS; an illegal one raises) and
writes an ``order_events`` row. Working shares per symbol (``working_buy``/``working_sell``) are the
unfilled size of every working order, resting ones included: the risk checks count them as if they
all filled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from hft_console.domain import Fill, Liquidity, Order, OrderStatus, Quote, Side
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager
from hft_console.market.synthetic import TradePrints
from hft_console.routing.policy import Transition
from hft_console.routing.runner import RouterRunner
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.strategies.market_maker import MarketMaker
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import (
    ACCEPTED,
    CANCEL_REJECTED,
    CANCELED,
    FILL,
    REJECTED,
    REPLACE_REJECTED,
    REPLACED,
    Report,
    SimVenue,
)

ARRIVE, REPORT, VENUE_REPORT, POST_ARRIVE, CANCEL_ARRIVE, REPLACE_ARRIVE = range(6)
INF = float("inf")
ADVERSE_HORIZON_NS = 1_000_000_000  # adverse selection: the mid move one second after a maker fill
S = OrderStatus
PENDING = frozenset({S.PENDING_NEW, S.PENDING_CANCEL, S.PENDING_REPLACE})


class JournalSink(Protocol):
    """The journal rows order flow writes (engine/journal.py ``Journal`` is one)."""

    def order(self, o: Order) -> None: ...

    def order_done(self, o: Order, done_ns: int, reason: str) -> None: ...

    def order_event(
        self, order_id: int, ts_ns: int, state: str, qty: int, price: float, queue_ahead: int, reason: str
    ) -> None: ...

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


class RestingFlow:
    """The order-life half of ``OrderFlow``; its methods read the state ``OrderFlow.__init__`` sets
    (declared here)."""

    symbols: list[str]
    venues: list[SimVenue]
    quotes: list[Quote | None]
    n_ven: int
    journal: JournalSink
    risk: RiskManager
    portfolio: Portfolio
    monitor: LatencyMonitor
    note: Callable[[int, str], None]
    on_breaker: Callable[[int], None]
    after_report: Callable[[int], None]
    working: dict[int, Order]
    working_buy: list[int]
    working_sell: list[int]
    symbol_index: dict[str, int]
    venue_index: dict[str, int]
    venue_by_name: dict[str, SimVenue]
    router: RouterRunner
    tick: float
    miss_penalty_ticks: float
    done_by_status: dict[str, int]
    trades: deque[Fill]
    decision_ns: list[int]
    next_event_ns: float
    trade_seq: int
    fills: int
    denials: int
    orders: int
    rejects: int
    cancels: int
    next_order_id: int
    next_parent_id: int
    stood_down: set[int]
    strategy: ImbalanceStrategy | MarketMaker

    def _push(self, ts: int, kind: int, payload: object) -> None:
        raise NotImplementedError

    def drain(self, t_ns: int) -> None:
        raise NotImplementedError

    def working_notional(self) -> float:
        raise NotImplementedError

    def init_resting(self, post_rule: str) -> None:
        n_streams = len(self.symbols) * self.n_ven
        self.held: dict[int, str] = {}  # symbol -> HALTED or FLATTENING, by the operator (execution/manual.py)
        self.held_noted: set[int] = set()  # of those, the ones whose first strategy wish was journaled
        self.operator_sending = False  # an operator's order is being sent: a held symbol lets it through
        self.post_rule = post_rule
        self.inv_tick = self.venues[0].inv_tick if self.venues else 100.0
        self.resting_n = [0] * n_streams  # our orders resting at each (symbol, venue): the pipeline's cue
        self.quote_orders: dict[tuple[int, int], int] = {}  # (symbol, side) -> the order quoting it
        self.unsettled: set[int] = set()  # symbols whose quotes wait on an answer or on the order-rate limit
        self.retry_ns = 0  # not before this engine time (the order-rate limit has room again)
        self.joined: dict[int, int] = {}  # joined orders (``join``) -> when they are cancelled if still working
        self.routed_posts: dict[int, float] = {}  # children the router posted -> their fills' cost so far, $
        self.next_ttl_ns: float = INF
        self.ttl_ns = int(self.strategy.cfg.passive_ttl_ms * 1e6)
        self.join_peg = self.strategy.cfg.join == "peg"
        self.pending_replace: dict[int, tuple[float, int]] = {}
        self.cancel_reason: dict[int, str] = {}
        self.orders_by_type: dict[str, int] = {}
        self.fees_taker = self.rebates_maker = 0.0
        self.passive_orders = self.passive_fills = self.passive_filled_orders = 0
        self.queue_at_entry_sum = self.queue_at_entry_n = 0
        self.time_to_fill_ns_sum = 0
        self.adverse_pending: deque[tuple[int, int, int, float, int]] = deque()  # due, sym, side, mid, qty
        self.adverse_bps_qty = 0.0
        self.adverse_qty = 0
        self.prints_ts: list[int] = []
        self.prints_at = 0
        self.next_print_ns: float = INF
        self.prints: tuple[list[int], list[int], list[float], list[int], list[int]] = ([], [], [], [], [])

    # -- the state machine and the books -----------------------------------------------------------
    def transition(
        self, order: Order, state: OrderStatus, t_ns: int, reason: str = "",
        qty: int | None = None, price: float | None = None,
    ) -> None:  # fmt: skip
        order.to(state)
        self.journal.order_event(
            order.order_id, t_ns, state.value, order.qty if qty is None else qty,
            order.limit if price is None else price, order.queue_ahead, reason,
        )  # fmt: skip

    def risk_ok(self, sym: int, t_ns: int, side: Side, qty: int, price: float, mid: float) -> bool:
        # the operator's desk-wide flatten (K) is theirs too: it takes a held symbol's position off as well
        if sym in self.held and not self.operator_sending and not self.strategy.flatten:
            return self._held_back(sym, t_ns, side, qty, price)
        p = self.portfolio
        reason = self.risk.check(
            t_ns, int(side), qty, price, p.position[sym], self.working_buy[sym], self.working_sell[sym], mid,
            p.gross_notional + self.working_notional(),
        )  # fmt: skip
        if reason is None:
            return True
        symbol = self.symbols[sym]
        self.denials += 1
        self.journal.event(
            t_ns, "RISK_DENIED", reason, symbol=symbol, detail={"side": side.label, "qty": qty, "limit": price}
        )
        self.note(t_ns, f"risk denied {side.label} {qty} {symbol}: {reason}")
        return False

    def _held_back(self, sym: int, t_ns: int, side: Side, qty: int, price: float) -> bool:
        """A symbol the operator halted or is flattening takes only the operator's orders; the strategy's
        first wish in it is denied and journaled (SYMBOL_HALTED), later ones quietly, as under a halt."""
        if sym not in self.held_noted:
            self.held_noted.add(sym)
            self.denials += 1
            detail = {"side": side.label, "qty": qty, "limit": price}
            self.journal.event(t_ns, "RISK_DENIED", "SYMBOL_HALTED", symbol=self.symbols[sym], detail=detail)
        return False

    def open_order(self, sym: int, order: Order) -> None:
        if order.side > 0:
            self.working_buy[sym] += order.qty
        else:
            self.working_sell[sym] += order.qty
        self.working[order.order_id] = order
        kind = order.order_type.value
        self.orders_by_type[kind] = self.orders_by_type.get(kind, 0) + 1
        self.journal.order(order)
        self.journal.order_event(order.order_id, order.ts_ns, S.PENDING_NEW.value, order.qty, order.limit, 0, "")

    def close_order(
        self, order: Order, state: OrderStatus, t_ns: int, reason: str, fill: tuple[int, float] | None = None
    ) -> None:
        """A final state: the unfilled rest stops counting as working. ``fill``: the (qty, price) of the
        fill that completed the order (its event row logs the fill's, the done row no reason)."""
        if fill is None:
            self.transition(order, state, t_ns, reason)
        else:
            self.transition(order, state, t_ns, reason, *fill)
        leaves = order.qty - order.filled
        sym = self.symbol_index[order.symbol]
        if order.side > 0:
            self.working_buy[sym] -= leaves
        else:
            self.working_sell[sym] -= leaves
        self.working.pop(order.order_id, None)
        self.pending_replace.pop(order.order_id, None)
        self.cancel_reason.pop(order.order_id, None)
        key = (sym, int(order.side))
        if self.quote_orders.get(key) == order.order_id:
            del self.quote_orders[key]
        self.done_by_status[state.value] = self.done_by_status.get(state.value, 0) + 1
        self.journal.order_done(order, t_ns, "" if fill else reason)
        if order.order_id in self.routed_posts:
            self.routed_post_done(order, sym, t_ns)

    def routed_post_done(self, order: Order, sym: int, t_ns: int) -> None:
        """A child the router chose to post is done: what it cost against the decision's mid, as the
        environment scores a post (``learn/env_post.py``): its fills' shortfall and fees (a rebate
        negative), and for each unfilled share how far the mid has moved away since plus the miss
        penalty (it must be re-sent); the router learns it."""
        cost = self.routed_posts.pop(order.order_id)
        mid0, side = order.decision_mid, int(order.side)
        leaves = order.qty - order.filled
        cost += leaves * (side * (self.portfolio.mark[sym] - mid0) + self.miss_penalty_ticks * self.tick)
        cost_bps = cost / (order.qty * mid0) * 1e4 if mid0 > 0 else 0.0
        answered = order.accepted_ns if order.accepted_ns > 0 else t_ns  # the ack, else the refusal
        rt_us = (answered - order.ts_ns) / 1000
        heard = order.accepted_ns > 0  # refused (a dark pool takes no posts) or never acknowledged: no answer
        transition = Transition(
            self.venue_index[order.venue], order.qty, order.filled, cost_bps, rt_us, -cost_bps, order.decision, heard
        )
        self.router.learn(order.router, transition)

    def book_fill(
        self, order: Order, sym: int, qty: int, price: float, fee: float, t_ns: int, venue_ns: int,
        liquidity: Liquidity,
    ) -> None:  # fmt: skip
        """Book ``qty`` shares of ``order`` at ``price`` (fee $, negative a rebate), learned at ``t_ns``."""
        portfolio = self.portfolio
        booking = portfolio.apply_fill(sym, int(order.side), qty, price, fee)
        order.filled += qty
        if order.side > 0:
            self.working_buy[sym] -= qty
        else:
            self.working_sell[sym] -= qty
        self.trade_seq += 1
        self.fills += 1
        fill = Fill(
            self.trade_seq, order.order_id, t_ns, venue_ns, order.symbol, order.side, qty, price, fee, order.venue,
            order.router, booking.trade_pnl, portfolio.total, booking.realized, liquidity,
        )  # fmt: skip
        self.trades.append(fill)
        self.journal.fill(fill)
        if liquidity is Liquidity.MAKER:
            self.rebates_maker -= fee
            self.passive_fills += 1
            self.adverse_pending.append((t_ns + ADVERSE_HORIZON_NS, sym, int(order.side), portfolio.mark[sym], qty))
        else:
            self.fees_taker += fee
        if order.order_id in self.routed_posts:
            self.routed_posts[order.order_id] += int(order.side) * (price - order.decision_mid) * qty + fee
        done = order.filled >= order.qty
        if order.status in (S.PENDING_CANCEL, S.PENDING_REPLACE) and not done:
            self.transition(order, order.status, t_ns, "FILL", qty, price)
        elif done:
            if order.resting:
                self.passive_filled_orders += 1
                self.time_to_fill_ns_sum += t_ns - order.ts_ns
            self.close_order(order, S.FILLED, t_ns, "FILL", (qty, price))
        else:
            self.transition(order, S.PARTIALLY_FILLED, t_ns, "FILL", qty, price)

    def settle_adverse(self, t_ns: int) -> None:
        """Maker fills a second old: how far the mid moved against us since (bps, size-weighted)."""
        pending, mark = self.adverse_pending, self.portfolio.mark
        while pending and pending[0][0] <= t_ns:
            _, sym, side, mid0, qty = pending.popleft()
            if mid0 > 0 and mark[sym] > 0:
                self.adverse_bps_qty += side * (mid0 - mark[sym]) / mid0 * 1e4 * qty
                self.adverse_qty += qty

    # -- resting orders: post, cancel, replace -----------------------------------------------------
    # -- at the venue ------------------------------------------------------------------------------
    def _sync_stream(self, sym: int, v: int) -> None:
        self.resting_n[sym * self.n_ven + v] = self.venues[v].book.count(sym)

    def _send_reports(self, reports: list[Report]) -> None:
        for r in reports:
            self._push(r.report_ns, VENUE_REPORT, r)

    def on_post_arrive(self, order: Order, t_ns: int) -> None:
        v = self.venue_index[order.venue]
        venue, sym = self.venues[v], self.symbol_index[order.symbol]
        if venue.is_down(t_ns - venue.delay_ns):
            timeout = venue.timeout(order, t_ns)
            self._send_reports([Report(order, REJECTED, timeout.venue_ns, timeout.report_ns, reason="VENUE_DOWN")])
            return
        self._send_reports(venue.rest(order, t_ns, sym, self.quotes[sym * self.n_ven + v]))
        self._sync_stream(sym, v)

    def on_cancel_arrive(self, order: Order, t_ns: int) -> None:
        v = self.venue_index[order.venue]
        self._send_reports(self.venues[v].settle(self.symbol_index[order.symbol], t_ns))
        self._send_reports([self.venues[v].cancel(order, t_ns)])
        self._sync_stream(self.symbol_index[order.symbol], v)

    def on_replace_arrive(self, order: Order, t_ns: int) -> None:
        v = self.venue_index[order.venue]
        sym = self.symbol_index[order.symbol]
        price, qty = self.pending_replace.get(order.order_id, (order.limit, order.qty))
        self._send_reports(self.venues[v].settle(sym, t_ns))
        self._send_reports([self.venues[v].replace(order, t_ns, price, qty, self.quotes[sym * self.n_ven + v])])
        self._sync_stream(sym, v)

    def on_venue_quote(self, stream: int, t_ns: int) -> None:
        """The quote of a stream where we rest just changed (the venue's book as of ``t_ns``)."""
        quote = self.quotes[stream]
        if quote is None:
            return
        sym, v = divmod(stream, self.n_ven)
        self._send_reports(self.venues[v].on_quote(sym, quote, t_ns))
        self._sync_stream(sym, v)

    def load_prints(self, prints: TradePrints | None) -> None:
        """Others' trades of the next batch, applied as time reaches them. Skipped while nothing of ours
        rests and nothing may rest during the batch (the strategy never posts, nor does the router): a
        taker's session pays nothing for them, and an order posted mid-batch meets the batch's prints."""
        rests = self.strategy.rests or self.router.may_post or any(self.resting_n)
        if prints is None or not len(prints) or not rests:
            self.prints, self.prints_at, self.next_print_ns = ([], [], [], [], []), 0, INF
            return
        p = prints
        self.prints = (p.ts.tolist(), p.stream.tolist(), p.price.tolist(), p.size.tolist(), p.side.tolist())
        self.prints_at = 0
        self.next_print_ns = self.prints[0][0]

    def apply_prints(self, t_ns: int) -> None:
        """Apply every loaded print stamped at or before ``t_ns`` to the orders resting where it printed."""
        ts, stream, price, size, side = self.prints
        i, n, n_ven, resting_n = self.prints_at, len(ts), self.n_ven, self.resting_n
        while i < n and ts[i] <= t_ns:
            k = stream[i]
            if resting_n[k]:
                sym, v = divmod(k, n_ven)
                if ts[i] >= self.next_event_ns:
                    self.drain(ts[i])
                self._send_reports(self.venues[v].on_print(sym, side[i], price[i], size[i], ts[i], self.quotes[k]))
                self._sync_stream(sym, v)
            i += 1
        self.prints_at = i
        self.next_print_ns = ts[i] if i < n else INF

    # -- answers -----------------------------------------------------------------------------------
    def _standing(self, order: Order) -> OrderStatus:
        """What a refused cancel or replace leaves ``order`` in (FIX OrderCancelReject: the order's own
        status, not a reject of it): still awaiting its own answer when none came yet (a post lost to a
        venue outage is answered only by our timeout, a REJECTED); PENDING_CANCEL while a cancel sent
        after the refused replace travels; else working, as acknowledged and filled so far."""
        if order.accepted_ns == 0:
            return S.PENDING_NEW
        if order.status is S.PENDING_REPLACE and order.order_id in self.cancel_reason:
            return S.PENDING_CANCEL
        return S.PARTIALLY_FILLED if order.filled else S.ACCEPTED

    def on_venue_report(self, rep: Report) -> None:
        order, t = rep.order, rep.report_ns
        sym = self.symbol_index[order.symbol]
        v = self.venue_index[order.venue]
        kind = rep.kind
        if kind in (ACCEPTED, REJECTED):
            self.monitor.record(v, order.ts_ns, t, timed_out=rep.reason == "VENUE_DOWN")
        if kind == FILL:
            order.queue_ahead = rep.queue_ahead
            liquidity = Liquidity.MAKER if rep.reason == "MAKER" else Liquidity.TAKER
            self.book_fill(order, sym, rep.qty, rep.price, rep.fee, t, rep.venue_ns, liquidity)
            if self.risk.breaker_hit(self.portfolio.total):
                self.on_breaker(t)
        elif kind == ACCEPTED:
            order.accepted_ns = t
            order.queue_ahead, order.level_total = rep.queue_ahead, rep.level_total
            if order.queue_at_entry < 0:
                order.queue_at_entry = rep.queue_ahead
                self.queue_at_entry_sum += rep.queue_ahead
                self.queue_at_entry_n += 1
            if order.status is S.PENDING_NEW:
                self.transition(order, S.ACCEPTED, t)
            else:  # a cancel is on its way: the order stays pending, the acceptance is journaled
                self.transition(order, order.status, t, "VENUE_ACCEPTED")
        elif kind == REJECTED:
            self.rejects += 1
            self.close_order(order, S.REJECTED, t, rep.reason)
            self.journal.event(
                t, "VENUE_REJECT", rep.reason, symbol=order.symbol, venue=order.venue, order_id=order.order_id
            )
            self.note(t, f"{order.venue} rejected order {order.order_id}: {rep.reason}")
        elif kind == CANCELED:
            self.cancels += 1
            self.close_order(order, S.CANCELED, t, self.cancel_reason.get(order.order_id, "CANCELED"))
        elif kind == REPLACED:
            old_leaves = order.qty - order.filled
            order.limit, order.qty = rep.price, rep.qty
            order.queue_ahead, order.level_total = rep.queue_ahead, rep.level_total
            delta = (order.qty - order.filled) - old_leaves
            if order.side > 0:
                self.working_buy[sym] += delta
            else:
                self.working_sell[sym] += delta
            self.pending_replace.pop(order.order_id, None)
            if order.status is S.PENDING_REPLACE:
                self.transition(order, S.REPLACED, t)
                if order.order_id in self.cancel_reason:  # a cancel sent after the replace still travels
                    self.transition(order, S.PENDING_CANCEL, t, self.cancel_reason[order.order_id])
        elif kind in (CANCEL_REJECTED, REPLACE_REJECTED):
            self.pending_replace.pop(order.order_id, None)
            if kind == CANCEL_REJECTED:
                self.cancel_reason.pop(order.order_id, None)
            pending = S.PENDING_CANCEL if kind == CANCEL_REJECTED else S.PENDING_REPLACE
            if order.status is pending:  # the request is refused, not the order: it stands as it was
                self.transition(order, self._standing(order), t, rep.reason)
            else:  # it filled (or another message settled it) before this one got there: the fill stands
                self.journal.order_event(order.order_id, t, order.status.value, 0, order.limit, 0, rep.reason)
        self.unsettled.add(sym)  # a quoting strategy looks again at this symbol's quotes on its next tick
        self.after_report(t)
