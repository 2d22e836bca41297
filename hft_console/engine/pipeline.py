"""One batch of ticks through normaliser, book, strategy and router: tick by tick, or with the
array work up front. Both give the same orders, fills and journal (a test holds them to it); the
array form wins on long batches (backtests, replay), the per-tick form on the short batches of a
live session, where numpy's fixed cost per call would dominate and add to every decision's latency.

The array form:

Nothing in the market half of the pipeline depends on our orders: which ticks the normaliser
accepts, the NBBO after each, and the strategy's signal and target follow from the feed alone. So
they are computed for the whole batch on arrays first. Then a short loop walks the batch in time
order and stops only where something can happen: a venue event falling due (arrivals and reports
are handled before the tick at or after their time, exactly as a per-tick loop would) or a book
tick where the strategy's target differs from the position plus orders in flight and its cooldown
has passed. Before each stop the quotes, marks and state the order path reads are brought to that
tick, so orders, fills and journal come out as a per-tick loop would make them.

A strategy that rests orders (the market maker, a passive join) always takes the per-tick path: each
quote update where we rest moves our queue estimates and may fill us, and so may each trade print.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hft_console.domain import EngineState, Quote
from hft_console.engine.commands import CommandQueue
from hft_console.execution.order_flow import OrderFlow
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager
from hft_console.market.book import BatchBook, batch_nbbo
from hft_console.market.normalizer import OK, Normalizer
from hft_console.market.synthetic import TickBatch
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.strategies.market_maker import MarketMaker

VECTOR_MIN_TICKS = 1024  # below this, the per-tick form is faster here (benchmarks/pipeline.py)


@dataclass(slots=True)
class Progress:
    """Where the session stands: written by the pipeline as it goes, read by the engine and observers.
    ``accepting`` turns False when the session's time is up (no new orders in the wind-down)."""

    now_ns: int = 0  # engine time of the last routed tick or batch end
    ticks: int = 0  # ticks received, rejected ones included
    accepting: bool = True


class Pipeline:
    """What a batch of ticks passes through, wired once by the engine. ``on_breaker(t_ns)`` runs when a
    mark trips the loss limit. ``vector_min_ticks``: batches this long take the array path."""

    def __init__(
        self,
        *,
        normalizer: Normalizer,
        strategy: ImbalanceStrategy | MarketMaker,
        flow: OrderFlow,
        portfolio: Portfolio,
        risk: RiskManager,
        commands: CommandQueue,
        on_breaker: Callable[[int], None],
        n_ven: int,
        progress: Progress,
    ) -> None:
        self.normalizer, self.strategy, self.flow = normalizer, strategy, flow
        self.portfolio, self.risk, self.commands, self.on_breaker = portfolio, risk, commands, on_breaker
        self.n_ven = n_ven
        self.n_sym = len(portfolio.position)
        self.sym_of_stream = [k // n_ven for k in range(self.n_sym * n_ven)]
        self.progress = progress
        self.vector_min_ticks = VECTOR_MIN_TICKS

    def process(self, batch: TickBatch) -> None:
        flow = self.flow
        # anything that may rest during the batch needs every tick: quotes move its queue, it expires
        if len(batch) >= self.vector_min_ticks and not (self.strategy.rests or flow.router.may_post or flow.joined):
            process_batch(self, batch)
        else:
            process_ticks(self, batch)


def _due_index(ts: np.ndarray, reach: np.ndarray, due: float, i: int) -> int:
    """The first tick at or after ``i`` stamped at or after ``due`` (n when none)."""
    n = ts.size
    if due == float("inf"):
        return n
    first = int(np.searchsorted(reach, due, side="left"))
    if first >= i:
        return first
    later = np.flatnonzero(ts[i:] >= due)  # an earlier tick was stamped later than those after it
    return i + int(later[0]) if later.size else n


class BatchView:
    """Brings the live quotes (``normalizer.last_tick``) and marks to any tick of the batch."""

    def __init__(
        self, p: Pipeline, batch: TickBatch, accepted: np.ndarray, book: BatchBook, before: list[Quote | None]
    ) -> None:
        self.quotes, self.marks = p.normalizer.last_tick, p.portfolio.mark
        self.batch = batch
        self.before = before
        n_streams = len(before)
        st = batch.stream[accepted]
        order = np.argsort(st, kind="stable")
        counts = np.bincount(st, minlength=n_streams)
        split = np.split(accepted[order], np.cumsum(counts)[:-1])
        self.stream_pos: list[list[int]] = [p.tolist() for p in split]
        valid = np.flatnonzero(book.valid)
        vsym = book.sym[valid]
        n_sym = p.n_sym
        order = np.argsort(vsym, kind="stable")
        counts = np.bincount(vsym, minlength=n_sym)
        self.mark_pos: list[list[int]] = [
            p.tolist() for p in np.split(book.index[valid][order], np.cumsum(counts)[:-1])
        ]
        self.mark_row: list[list[int]] = [p.tolist() for p in np.split(valid[order], np.cumsum(counts)[:-1])]
        self.mid = (book.bid + book.ask) * 0.5
        self.synced = -2

    def sync(self, i: int) -> None:
        """Quotes and marks as they stand after batch tick ``i`` (-1: before the batch)."""
        if i == self.synced:
            return
        self.synced = i
        b = self.batch
        live = self.quotes
        for k, pos in enumerate(self.stream_pos):
            if not pos:
                continue
            j = bisect_right(pos, i) - 1
            if j < 0:
                live[k] = self.before[k]
            else:
                p = pos[j]
                live[k] = (int(b.ts[p]), float(b.bid[p]), float(b.ask[p]), int(b.bid_size[p]), int(b.ask_size[p]))
        marks = self.marks
        for s, pos in enumerate(self.mark_pos):
            if pos:
                j = bisect_right(pos, i) - 1
                if j >= 0:
                    marks[s] = float(self.mid[self.mark_row[s][j]])


class BreakerWatch:
    """The circuit breaker on every mark of a batch, as the per-tick loop checks it after each book
    tick: total P&L at each book tick for the positions held now (constant between the loop's stops,
    where fills land), and the first tick where it falls below -max_loss."""

    def __init__(self, portfolio: Portfolio, risk: RiskManager, book: BatchBook, view: BatchView) -> None:
        self.portfolio, self.risk, self.view = portfolio, risk, view
        valid = np.flatnonzero(book.valid)
        self.tick = book.index[valid]  # batch tick of each book row that moves a mark
        n_sym = len(portfolio.position)
        vsym = book.sym[valid]
        mid = view.mid[valid]
        rows = np.arange(valid.size)
        self.marks = np.empty((n_sym, valid.size))
        for s in range(n_sym):
            last = np.maximum.accumulate(np.where(vsym == s, rows, -1))
            self.marks[s] = np.where(last >= 0, mid[np.maximum(last, 0)], portfolio.mark[s])
        # each symbol's lowest and highest mark in the batch: a cheap bound that rules a trip out
        self.low = self.marks.min(axis=1).tolist() if valid.size else list(portfolio.mark)
        self.high = self.marks.max(axis=1).tolist() if valid.size else list(portfolio.mark)

    def first_trip(self, i0: int, i1: int) -> int:
        """The first batch tick in [i0, i1] whose mark takes total P&L below -max_loss (-1: none)."""
        p, risk = self.portfolio, self.risk
        if i1 < i0 or risk.state is EngineState.HALTED or not any(p.position):
            return -1
        floor = -risk.limits.max_loss
        worst = p.realized - p.fees
        for s, pos in enumerate(p.position):
            if pos:
                worst += (self.low[s] if pos > 0 else self.high[s]) * pos - p.avg_cost[s] * pos
        if worst >= near_floor(floor) and min(self.low) > 0:
            return -1  # even the worst marks of the batch keep the loss inside the limit
        lo, hi = np.searchsorted(self.tick, [i0, i1 + 1])
        if lo >= hi:
            return -1
        total = np.full(hi - lo, p.realized - p.fees)
        for s, pos in enumerate(p.position):
            if pos:
                m = self.marks[s, lo:hi]
                total += np.where(m != 0, (m - p.avg_cost[s]) * pos, 0.0)
        for r in np.flatnonzero(total < near_floor(floor)).tolist():
            k = int(self.tick[lo + r])
            self.view.sync(k)
            if p.total < floor:
                return k
        return -1


def near_floor(floor: float) -> float:
    """Totals below this are within rounding of the loss floor (or below it): candidates for the
    breaker, which the portfolio's own ``total`` then confirms, so both paths trip on the same tick."""
    return floor + 1e-6 * (1.0 - floor)


def process_ticks(pl: Pipeline, batch: TickBatch) -> None:
    """The batch tick by tick: each tick checked, the NBBO and mark updated, the breaker watched, the
    strategy asked, venue events and operator commands handled before the tick they precede."""
    ts_l, st_l, bid_l, ask_l = batch.ts.tolist(), batch.stream.tolist(), batch.bid.tolist(), batch.ask.tolist()
    bs_l, as_l = batch.bid_size.tolist(), batch.ask_size.tolist()
    check = pl.normalizer.check
    quotes = pl.normalizer.last_tick
    flow = pl.flow
    sym_of = pl.sym_of_stream
    n_ven = pl.n_ven
    portfolio, risk = pl.portfolio, pl.risk
    commands, progress, on_breaker = pl.commands, pl.progress, pl.on_breaker
    marks = portfolio.mark
    position, avg_cost = portfolio.position, portfolio.avg_cost
    # unrealised P&L per symbol, kept up to date tick by tick, rebuilt after a fill (``version``)
    version, base, u_sum, unreal = -1, 0.0, 0.0, [0.0] * len(position)
    HALTED = EngineState.HALTED
    working_buy, working_sell = flow.working_buy, flow.working_sell
    strategy = pl.strategy
    quoting = isinstance(strategy, MarketMaker)
    joins = strategy.rests and not quoting
    on_book = strategy.on_book
    resting_n, unsettled = flow.resting_n, flow.unsettled
    perf = time.perf_counter_ns
    inf = float("inf")
    progress.ticks += len(ts_l)
    for i in range(len(ts_l)):
        t = ts_l[i]
        if t >= flow.next_print_ns:
            flow.apply_prints(t)
        if t >= flow.next_event_ns:
            flow.drain(t)
        if commands.pending:
            commands.apply_due(t)
        wall0 = perf()
        k = st_l[i]
        if check(t, k, bid_l[i], ask_l[i], bs_l[i], as_l[i]) >= 0:
            continue
        if resting_n[k]:  # the venue's book moved where we rest: queue estimates, fills through our price
            flow.on_venue_quote(k, t)
        s = sym_of[k]
        # the NBBO over the symbol's venues: the scalar twin of market/book.py ``batch_nbbo`` (held equal
        # by tests/unit/test_batch_equivalence.py), written out here to keep a function call off every tick
        bb, bbs, ba, bas = 0.0, 0, inf, 0
        for q in quotes[s * n_ven : s * n_ven + n_ven]:
            if q is None:
                continue
            x = q[1]
            if x > bb:
                bb, bbs = x, q[3]
            elif x == bb:
                bbs += q[3]
            x = q[2]
            if x < ba:
                ba, bas = x, q[4]
            elif x == ba:
                bas += q[4]
        if bbs == 0 or bas == 0:
            continue
        mid = marks[s] = (bb + ba) * 0.5
        pos = position[s]
        if pos:  # the loss limit on the current mark: a running sum filters, the portfolio's own total decides
            if portfolio.version != version:
                version, base = portfolio.version, portfolio.realized - portfolio.fees
                unreal = [(m - a) * p if p and m else 0.0 for p, m, a in zip(position, marks, avg_cost, strict=True)]
                u_sum = sum(unreal)
            else:
                u = (mid - avg_cost[s]) * pos
                u_sum += u - unreal[s]
                unreal[s] = u
            near = base + u_sum < near_floor(-risk.limits.max_loss)
            if near and risk.state is not HALTED and risk.breaker_hit(portfolio.total):
                on_breaker(t)
        if quoting:
            changed = on_book(s, t, bb, bbs, ba, bas, position[s])
            if (changed or strategy.flatten or (s in unsettled and t >= flow.retry_ns)) and progress.accepting:
                quote_tick(pl, strategy, s, t, wall0)  # type: ignore[arg-type]
            continue
        delta = on_book(s, t, bb, bbs, ba, bas, position[s] + working_buy[s] - working_sell[s])
        if t >= flow.next_ttl_ns:  # a join's or a router's post reached its time to live
            flow.expire_joins(t)
        if delta and progress.accepting:
            if joins and not strategy.flatten:
                flow.join(s, t, delta, bb, ba, wall0)
            else:
                flow.route(s, t, delta, wall0)
            progress.now_ns = t


def quote_tick(pl: Pipeline, mm: MarketMaker, s: int, t: int, wall0: int) -> None:
    """The market maker after a book tick that changed its wanted quotes (or with a requote waiting, or
    flattening): requote, and under flatten take the position off once nothing of ours is working."""
    flow = pl.flow
    flow.requote(s, t, mm.wanted[s], wall0)
    pl.progress.now_ns = t
    delta = mm.take(pl.portfolio.position[s], flow.working_buy[s] + flow.working_sell[s])
    if delta:
        flow.route(s, t, delta, wall0)


def process_batch(pl: Pipeline, batch: TickBatch) -> None:
    """The batch with the market half done on arrays first (see the module docstring)."""
    n = len(batch)
    if n == 0:
        return
    started = time.perf_counter_ns()
    progress = pl.progress
    progress.ticks += n
    norm = pl.normalizer
    before = list(norm.last_tick)
    ts, stream = batch.ts, batch.stream
    verdict = norm.check_batch(ts, stream, batch.bid, batch.ask, batch.bid_size, batch.ask_size)
    accepted = np.flatnonzero(verdict == OK)
    book = batch_nbbo(accepted, ts, stream, batch.bid, batch.ask, batch.bid_size, batch.ask_size, before, pl.n_ven)
    view = BatchView(pl, batch, accepted, book, before)
    strategy = pl.strategy
    assert isinstance(strategy, ImbalanceStrategy)  # a quoting strategy takes the per-tick path (``process``)
    valid = book.valid
    rows = np.flatnonzero(valid)
    target = strategy.signal_batch(book.sym[rows], book.ts[rows], book.bid_size[rows], book.ask_size[rows])
    # book ticks the strategy may trade on: a consolidated market that is neither locked nor crossed
    open_book = book.bid[rows] < book.ask[rows]
    c_rows = rows[open_book]
    c_index = book.index[c_rows]
    c_sym = book.sym[c_rows]
    c_ts = book.ts[c_rows]
    c_target = target[open_book]
    reach = np.maximum.accumulate(ts)  # a venue event is due before the first tick stamped at or after it
    breaker = BreakerWatch(pl.portfolio, pl.risk, book, view)
    # the array work, shared out over the ticks: part of every decision's latency
    share_ns = (time.perf_counter_ns() - started) // n
    flow, commands = pl.flow, pl.commands
    position, working_buy, working_sell = pl.portfolio.position, flow.working_buy, flow.working_sell
    next_ok = strategy.next_ok_ns
    cooldown = strategy.cooldown_ns
    i = 0
    while i < n:
        if commands.pending:
            commands.apply_due(int(ts[i]))
        i_ev = _due_index(ts, reach, flow.next_event_ns, i)
        j, p = n, int(np.searchsorted(c_index, i, side="left"))
        if progress.accepting and strategy.trading and p < c_index.size:
            want = np.zeros(c_index.size - p, dtype=np.int64) if strategy.flatten else c_target[p:]
            syms = c_sym[p:]
            exposure = np.array(position) + np.array(working_buy) - np.array(working_sell)
            ready = (want != exposure[syms]) & (c_ts[p:] >= np.array(next_ok)[syms])
            hit = int(np.argmax(ready)) if ready.any() else -1
            if hit >= 0:
                j = int(c_index[p + hit])
        tripped = breaker.first_trip(i, i_ev - 1 if i_ev <= j else j)
        if tripped >= 0:  # the loss limit crossed on a mark before the next event or order: trip there
            view.sync(tripped)
            if pl.risk.breaker_hit(pl.portfolio.total):
                pl.on_breaker(int(ts[tripped]))
            i = tripped  # the strategy still sees this tick, now halted, as the per-tick loop does
            continue
        if i_ev < n and i_ev <= j:
            view.sync(i_ev - 1)
            flow.drain(int(ts[i_ev]))
            i = i_ev
            continue
        if j >= n:
            break
        wall0 = time.perf_counter_ns() - share_ns
        view.sync(j)
        s, t = int(c_sym[p + hit]), int(c_ts[p + hit])
        delta = (0 if strategy.flatten else int(c_target[p + hit])) - (position[s] + working_buy[s] - working_sell[s])
        next_ok[s] = t + cooldown
        flow.route(s, t, delta, wall0)
        progress.now_ns = t
        i = j + 1
    view.sync(n - 1)
