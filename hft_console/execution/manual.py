"""The operator's hand on one symbol: halt it, flatten it, resume it, and send an order of their own.

A held symbol (halted or flattening) takes no order from the strategy (``RestingFlow.risk_ok`` denies
it as SYMBOL_HALTED, journaled once per hold), and its resting orders are cancelled. Flatten takes the
position off with marketable orders through the router, again after every answer while nothing of
ours is working in it, then halts the symbol once it is flat. The operator's own orders go through the
same pre-trade risk checks as the strategy's (a halted desk refuses them: resume first); each one is
journaled as a MANUAL_ORDER event naming the child orders it made, beside the command's own row.

Orders the operator names a venue for carry "operator" in the journal's ``router`` column; routed
ones carry the router that chose their venues (it learns from them as from any order).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from hft_console.domain import EngineState, OrderType, Side
from hft_console.execution.order_flow import OrderFlow

ORDER_KINDS = ("market", "limit", "post")  # IOC at the touch, IOC at a limit, resting at a limit (DAY)
ROUTER = "router"
HALTED, FLATTENING = "HALTED", "FLATTENING"
FLATTEN_TRIES = 5  # marketable attempts in a row that take nothing before a flatten gives up (symbol halted)


@dataclass(frozen=True, slots=True)
class ManualOrder:
    """A checked order ticket. ``venue``: a venue index, or -1 for the router (a posting rule for ``post``)."""

    sym: int
    side: Side
    qty: int
    kind: str
    limit: float | None
    venue: int


def parse_order(args: Mapping[str, object], symbols: list[str], venues: list[str], tick: float) -> ManualOrder | str:
    """The ticket from a command's arguments (symbol, side, qty, type, limit, venue), or why it is refused:
    an unknown symbol or venue, a side other than buy/sell, a quantity that is not a whole number above 0,
    a type other than market/limit/post, a missing, non-positive or off-tick limit where one is needed."""
    symbol = str(args.get("symbol", "")).upper()
    if symbol not in symbols:
        return f"symbol {symbol or '(none)'!r}: expected one of {', '.join(symbols)}"
    side_text = str(args.get("side", "")).lower()
    if side_text not in ("buy", "sell"):
        return f"side {args.get('side')!r}: expected buy or sell"
    raw_qty = args.get("qty")
    try:
        qty = int(str(raw_qty).replace(",", "").replace("_", ""))
    except ValueError:
        return f"qty {raw_qty!r}: expected a whole number of shares above 0"
    if qty <= 0:
        return f"qty {raw_qty!r}: expected a whole number of shares above 0"
    kind = str(args.get("type", "market")).lower()
    if kind not in ORDER_KINDS:
        return f"type {args.get('type')!r}: expected one of {', '.join(ORDER_KINDS)}"
    limit: float | None = None
    raw_limit = args.get("limit")
    if kind != "market" or raw_limit not in (None, ""):
        try:
            limit = float(str(raw_limit))
        except ValueError:
            return f"limit {raw_limit!r}: expected a price above 0 for a {kind} order"
        if not math.isfinite(limit) or limit <= 0:
            return f"limit {raw_limit!r}: expected a price above 0 for a {kind} order"
        if abs(limit / tick - round(limit / tick)) > 1e-6:
            return f"limit {raw_limit!r}: not on the {tick:g} tick"
        limit = round(round(limit / tick) * tick, 9)
    venue_text = str(args.get("venue", ROUTER) or ROUTER)
    by_name = {v.upper(): i for i, v in enumerate(venues)}
    if venue_text.lower() == ROUTER:
        venue = -1
    elif venue_text.upper() in by_name:
        venue = by_name[venue_text.upper()]
    else:
        return f"venue {venue_text!r}: expected {ROUTER} or one of {', '.join(venues)}"
    return ManualOrder(symbols.index(symbol), Side.BUY if side_text == "buy" else Side.SELL, qty, kind, limit, venue)


class OperatorDesk:
    """Per-symbol commands on the engine thread. ``state(sym)`` is HALTED, FLATTENING or "" (trading)."""

    def __init__(self, flow: OrderFlow, note: Callable[[int, str], None]) -> None:
        self.flow, self.note = flow, note
        self.tries: dict[int, tuple[int, int]] = {}  # flattening symbol -> (position at the last try, tries)

    def symbol(self, args: Mapping[str, object]) -> int | str:
        symbols = self.flow.symbols
        name = str(args.get("symbol", "")).upper()
        return (
            symbols.index(name)
            if name in symbols
            else f"symbol {name or '(none)'!r}: expected one of " + ", ".join(symbols)
        )

    def _set(self, t_ns: int, sym: int, state: str, why: str) -> None:
        flow = self.flow
        before = flow.held.get(sym, EngineState.ACTIVE.value)
        if state:
            flow.held[sym] = state
        else:
            flow.held.pop(sym, None)
            flow.held_noted.discard(sym)
            self.tries.pop(sym, None)
        detail: dict[str, object] = {"from": before, "why": why}
        flow.journal.event(
            t_ns, "SYMBOL_STATE", state or EngineState.ACTIVE.value, symbol=flow.symbols[sym], detail=detail
        )

    def _cancel_resting(self, t_ns: int, sym: int, reason: str) -> None:
        name = self.flow.symbols[sym]
        for order in list(self.flow.working.values()):
            if order.symbol == name and order.resting:
                self.flow.cancel_order(order, t_ns, reason)

    def halt(self, t_ns: int, args: Mapping[str, object]) -> str | None:
        sym = self.symbol(args)
        if isinstance(sym, str):
            return sym
        self._set(t_ns, sym, HALTED, "operator halt")
        self._cancel_resting(t_ns, sym, "SYMBOL_HALT")
        return None

    def resume(self, t_ns: int, args: Mapping[str, object]) -> str | None:
        sym = self.symbol(args)
        if isinstance(sym, str):
            return sym
        if sym not in self.flow.held:
            return f"{self.flow.symbols[sym]} is not halted"
        self._set(t_ns, sym, "", "operator resume")
        return None

    def flatten(self, t_ns: int, args: Mapping[str, object]) -> str | None:
        sym = self.symbol(args)
        if isinstance(sym, str):
            return sym
        refused = self._desk_refuses()
        if refused:
            return refused
        self._set(t_ns, sym, FLATTENING, "operator flatten")
        self._cancel_resting(t_ns, sym, "SYMBOL_FLATTEN")
        self.check(t_ns)
        return None

    def _desk_refuses(self) -> str | None:
        flow = self.flow
        if flow.risk.state is EngineState.HALTED:
            return "trading is halted: resume first"
        if flow.strategy.feed_paused:
            return "the feed is stale or down: no new orders on it"
        return None

    def check(self, t_ns: int) -> None:
        """After every answer: a flattening symbol with nothing of ours working takes its position off
        again, or, flat, is halted; ``FLATTEN_TRIES`` tries in a row that take nothing halt it as it is."""
        flow = self.flow
        for sym, state in list(flow.held.items()):
            if state != FLATTENING or flow.working_buy[sym] or flow.working_sell[sym]:
                continue
            position = flow.portfolio.position[sym]
            name = flow.symbols[sym]
            if position == 0:
                self._set(t_ns, sym, HALTED, "flattened")
                self.note(t_ns, f"{name} flat: halted")
                continue
            last, tries = self.tries.get(sym, (0, 0))
            tries = tries + 1 if last == position else 1
            if tries > FLATTEN_TRIES or self._desk_refuses():
                self._set(t_ns, sym, HALTED, "flatten stopped")
                self.note(t_ns, f"{name} flatten stopped: {position:+d} left after {tries - 1} tries; {name} halted")
                continue
            self.tries[sym] = (position, tries)
            self._send(partial(flow.route, sym, t_ns, -position, time.perf_counter_ns()))

    def _send(self, send: Callable[[], object]) -> tuple[int, int]:
        """Run ``send`` as the operator's (a held symbol lets it through); the order ids it made."""
        flow = self.flow
        first = flow.next_order_id
        flow.operator_sending = True
        try:
            send()
        finally:
            flow.operator_sending = False
        return first, flow.next_order_id

    def order(self, t_ns: int, args: Mapping[str, object]) -> str | None:
        """Send the operator's order ticket; None when at least one order went out, else why not."""
        flow = self.flow
        ticket = parse_order(args, flow.symbols, [v.name for v in flow.venues], flow.tick)
        if isinstance(ticket, str):
            return ticket
        refused = self._desk_refuses()
        if refused:
            return refused
        sym, side, qty, limit, v = ticket.sym, ticket.side, ticket.qty, ticket.limit, ticket.venue
        cap = flow.risk.limits.max_order_qty
        if qty > cap:  # a fat finger: the router would split it into many children, each under the limit
            return f"qty {qty} is above max_order_qty {cap:g}: one ticket is at most one order's size"
        denials = flow.denials
        if ticket.kind == "post":
            assert limit is not None
            wall = time.perf_counter_ns()
            first, after = self._send(
                lambda: flow.post(sym, t_ns, side, qty, limit, wall, order_type=OrderType.LIMIT, operator_venue=v)
            )
        elif v < 0:
            first, after = self._send(lambda: flow.route(sym, t_ns, int(side) * qty, time.perf_counter_ns(), limit))
        else:
            price = limit if limit is not None else self._touch(sym, side, v)
            if price is None:
                return f"no quote at {flow.venues[v].name} in {flow.symbols[sym]} to take"
            first, after = self._send(lambda: flow.send_operator(sym, t_ns, side, qty, price, v))
        if after == first:
            return "risk denied it (see its line)" if flow.denials > denials else "no venue can take it at that price"
        flow.journal.event(
            t_ns, "MANUAL_ORDER", ticket.kind.upper(), symbol=flow.symbols[sym],
            detail={"side": side.label, "qty": qty, "limit": limit, "venue": args.get("venue", ROUTER),
                    "order_ids": list(range(first, after))},
        )  # fmt: skip
        return None

    def _touch(self, sym: int, side: Side, v: int) -> float | None:
        """The far touch at venue ``v`` (its ask for a buy) plus the configured slippage, as the strategy
        takes; a dark venue is offered the consolidated far touch."""
        flow = self.flow
        n = flow.n_ven
        quotes = flow.quotes[sym * n : (sym + 1) * n]
        if flow.dark[v]:
            lit = [q for i, q in enumerate(quotes) if q is not None and not flow.dark[i]]
            if not lit:
                return None
            touch = min(q[2] for q in lit) if side > 0 else max(q[1] for q in lit)
        else:
            quote = quotes[v]
            if quote is None:
                return None
            touch = quote[2] if side > 0 else quote[1]
        return round(touch + int(side) * flow.slippage, 9)
