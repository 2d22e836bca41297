"""What a fixed, signal-free POST_ONLY policy gets in the engine's own execution model: the figures a
parity test holds the JAX routing environment to (issue 15).

``engine_post_outcomes`` runs a whole ``Engine`` session (synthetic quotes and trade prints, delivered
feed-delayed; the normaliser; the per-tick pipeline; ``RestingFlow.post``, ``expire_joins`` and
``cancel_order``; ``SimVenue.rest``/``on_quote``/``on_print``/``cancel`` with per-message latency) with
its strategy replaced by ``PostOnlyPolicy``. The policy only decides *when, which symbol, which side
and which venue*; the engine does the rest exactly as for ``join = "post"``: the order is priced at
our side's consolidated touch as the engine sees it, sent by ``post``, cancelled by the TTL machinery
(on the first book tick at or after decision + ttl), and cancels race fills in flight. The venue is
forced onto the engine's ``post`` by swapping ``post_venue`` (the posting rule) for the policy's
choice during the run: nothing else of the order path is re-implemented.

Engine behaviour this inherits as is: ``RestingFlow.load_prints`` skips a batch's trade prints when
nothing of ours rests at the start of the batch and the strategy does not quote, so an order posted
into such a batch (``batch_ms``, 20 ms by default) cannot fill from prints until the next batch. Pass
``all_prints=True`` to load every batch's prints (the strategy then claims ``quoting``) and measure
what that costs.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np

from hft_console.domain import Liquidity, Order, OrderStatus, Side
from hft_console.engine.engine import Engine
from hft_console.execution import quoting
from hft_console.execution.resting_flow import ADVERSE_HORIZON_NS
from hft_console.rng import rng_for
from hft_console.settings import Settings
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.venues.simulator import FILL, Report
from tests.conftest import make_settings

GAP_MS = (30.0, 80.0)  # market time between two decisions, uniform
POSTING = ("best-rebate", "shortest-queue")
FIELDS = (
    "venue", "side", "qty", "filled", "queue_ahead", "time_to_fill_ms", "mid0", "mid_end", "fill_px",
    "maker_fee", "adverse_bps", "cost_bps", "print_filled", "race_filled", "rejected", "sym", "t_ms", "fair0",
)  # fmt: skip


@dataclasses.dataclass(slots=True)
class Row:
    """One posted order as the policy saw and recorded it."""

    order: Order
    venue: int
    side: int
    sym: int
    t_ns: int
    mid0: float
    fair0: float  # the hidden fundamental at the decision: a sanity figure, never used to decide
    maker_fee: float
    mid_end: float = math.nan
    fills: list[tuple[int, int, float]] = dataclasses.field(default_factory=list)  # (report ns, shares, price)
    adverse: list[tuple[int, float]] = dataclasses.field(default_factory=list)  # (shares, bps)
    print_filled: int = 0
    race_filled: int = 0


class PostOnlyPolicy(ImbalanceStrategy):
    """Every 30-80 ms of market time (seeded), one POST_ONLY child of ``order_qty`` for a random symbol
    and side at our side's consolidated touch, on the lit venue ``venue_rule`` picks among those showing
    that price; skipped while an order of ours works on that symbol-side, and while the consolidated book
    is one-sided, locked or crossed (the engine's strategy never trades into one: ~15% of decisions on
    the synthetic market, whose venues quote the fair price independently). ``on_book`` always returns 0:
    the decisions are sent from here through the engine's ``post``."""

    def __init__(self, engine: Engine, seed: int, n_orders: int, venue_rule: str, ttl_ms: float) -> None:
        s = engine.settings
        super().__init__(len(engine.symbols), s.strategy)
        self.rests = True  # the per-tick pipeline, and ``expire_joins`` on every book tick
        self.engine, self.flow = engine, engine.flow
        self.rng = rng_for(seed, "tests.engine_posts")
        self.n_orders, self.ttl_ns = n_orders, int(ttl_ms * 1e6)
        self.specs = s.venues
        self.lit = [v for v, spec in enumerate(s.venues) if spec.kind != "dark"]
        names = [spec.name for spec in s.venues]
        if venue_rule not in POSTING and venue_rule not in names:
            raise ValueError(f"venue_rule {venue_rule!r}: expected a venue name or one of {POSTING}")
        if venue_rule in names and s.venues[names.index(venue_rule)].kind == "dark":
            raise ValueError(f"venue_rule {venue_rule!r} is a dark venue: nothing rests there")
        self.rule = venue_rule
        self.fixed = names.index(venue_rule) if venue_rule in names else -1
        self.inv_tick = 1.0 / s.market.tick_size
        self.next_ns = 0
        self.choice = -1  # the venue ``post`` must use for the order being sent
        self.rows: list[Row] = []
        self.by_id: dict[int, Row] = {}
        self.busy: dict[tuple[int, int], Order] = {}
        self.due_end: deque[Row] = deque()  # mid_end still to read, in decision order
        self.due_adverse: deque[tuple[int, int, float, int, Row]] = deque()  # due, sym, mid at fill, qty, row
        self.skipped = {"busy": 0, "no_book": 0, "no_venue": 0, "denied": 0}

    def on_book(self, sym: int, t_ns: int, bid: float, bid_size: int, ask: float, ask_size: int, exposure: int) -> int:
        self.settle(t_ns)
        if t_ns >= self.next_ns and len(self.rows) < self.n_orders and self.engine.accepting:
            self.decide(t_ns)
        if len(self.rows) >= self.n_orders and not self.due_end and not self.due_adverse and not self.busy:
            self.engine.stop_requested = True  # the engine stops at the end of this batch
        return 0

    def settle(self, t_ns: int) -> None:
        """Read the mids that fell due: the consolidated mid the engine sees (its mark) at the first
        book tick at or after decision + ttl, and 1 s after each fill."""
        mark = self.engine.portfolio.mark
        while self.due_end and self.due_end[0].t_ns + self.ttl_ns <= t_ns:
            row = self.due_end.popleft()
            row.mid_end = mark[row.sym]
        while self.due_adverse and self.due_adverse[0][0] <= t_ns:
            _, sym, mid, qty, row = self.due_adverse.popleft()
            row.adverse.append((qty, row.side * (mid - mark[sym]) / mid * 1e4))
        for key, order in list(self.busy.items()):
            if order.done:
                del self.busy[key]

    def decide(self, t_ns: int) -> None:
        rng = self.rng
        sym = int(rng.integers(len(self.engine.symbols)))
        side = 1 if rng.random() < 0.5 else -1
        self.next_ns = t_ns + int(rng.uniform(*GAP_MS) * 1e6)
        if (sym, side) in self.busy:
            self.skipped["busy"] += 1
            return
        n = len(self.specs)
        quotes = self.flow.quotes[sym * n : (sym + 1) * n]
        bb, ba = 0.0, math.inf  # the NBBO over the symbol's venues, as the pipeline computes it
        for q in quotes:
            if q is not None:
                bb, ba = max(bb, q[1]), min(ba, q[2])
        if bb <= 0 or ba == math.inf or bb >= ba:
            self.skipped["no_book"] += 1
            return
        price = bb if side > 0 else ba
        ticks = round(price * self.inv_tick)
        at_touch = []
        for v in self.lit:
            q = quotes[v]
            if q is None or self.flow.venues[v].latency.is_down_as_drawn(t_ns):
                continue  # ``post`` never sends to a venue known to be down
            if round((q[1] if side > 0 else q[2]) * self.inv_tick) == ticks:
                at_touch.append((v, q[3] if side > 0 else q[4]))
        v = self.pick(at_touch)
        if v < 0:
            self.skipped["no_venue"] += 1
            return
        self.choice = v
        order = self.flow.post(sym, t_ns, Side(side), self.cfg.order_qty, price, time.perf_counter_ns())
        self.choice = -1
        if order is None:
            self.skipped["denied"] += 1
            return
        due = t_ns + self.ttl_ns
        self.flow.joined[order.order_id] = due  # the engine's TTL cancel (``expire_joins``, reason TTL)
        self.flow.next_ttl_ns = min(self.flow.next_ttl_ns, due)
        fair = self.engine.market.fundamental_at(sym, t_ns)
        row = Row(order, v, side, sym, t_ns, (bb + ba) / 2, fair, -self.specs[v].maker_rebate)
        self.rows.append(row)
        self.by_id[order.order_id] = row
        self.busy[(sym, side)] = order
        self.due_end.append(row)

    def pick(self, at_touch: list[tuple[int, int]]) -> int:
        """The venue index for ``venue_rule`` among (venue, displayed size) at our price; -1 for none."""
        if self.fixed >= 0:
            return self.fixed if any(v == self.fixed for v, _ in at_touch) else -1
        if not at_touch:
            return -1
        if self.rule == "best-rebate":  # most negative maker fee, ties to the larger displayed size
            return min(at_touch, key=lambda x: (-self.specs[x[0]].maker_rebate, -x[1]))[0]
        return min(at_touch, key=lambda x: (x[1], -self.specs[x[0]].maker_rebate))[0]

    def post_venue(self, *args: Any, **kwargs: Any) -> int:
        """Stands in for ``routing.posting.post_venue`` in ``RestingFlow.post`` during the run."""
        return self.choice

    def spy(self) -> None:
        """Watch the engine's fills (``book_fill``) and where each came from (the venues' ``on_quote``,
        ``on_print``): wrappers that record and pass everything through unchanged."""
        flow = self.flow
        book_fill = flow.book_fill

        def booked(order: Order, sym: int, qty: int, price: float, fee: float, t_ns: int, venue_ns: int,
                   liquidity: Liquidity) -> None:  # fmt: skip
            mark = self.engine.portfolio.mark[sym]  # the mid the engine sees when it learns of the fill
            book_fill(order, sym, qty, price, fee, t_ns, venue_ns, liquidity)
            row = self.by_id.get(order.order_id)
            if row is not None:
                row.fills.append((t_ns, qty, price))
                if mark > 0:
                    self.due_adverse.append((t_ns + ADVERSE_HORIZON_NS, sym, mark, qty, row))

        flow.book_fill = booked  # type: ignore[method-assign]
        for venue in flow.venues:
            venue.on_print = self.watch(venue.on_print, True)  # type: ignore[method-assign]
            venue.on_quote = self.watch(venue.on_quote, False)  # type: ignore[method-assign]

    def watch(self, method: Callable[..., list[Report]], prints: bool) -> Callable[..., list[Report]]:
        def watched(*args: Any, **kwargs: Any) -> list[Report]:
            out = method(*args, **kwargs)
            for rep in out:
                row = self.by_id.get(rep.order.order_id)
                if rep.kind == FILL and row is not None:
                    row.print_filled += rep.qty if prints else 0
                    # a fill at the venue while our cancel is on its way: the cancel lost the race
                    row.race_filled += rep.qty if rep.order.status is OrderStatus.PENDING_CANCEL else 0
            return out

        return watched


def session_settings(settings: Settings, seed: int, n_orders: int) -> Settings:
    """``settings`` on the simulated clock, seeded, long enough for ``n_orders`` (the policy stops the
    session once every order is done and measured)."""
    duration = min(7 * 86400.0, 30.0 + n_orders * 0.6)
    session = dataclasses.replace(settings.session, seed=seed, clock="sim", duration_s=duration)
    return dataclasses.replace(settings, session=session)


def run_policy(
    settings: Settings, seed: int, n_orders: int, venue_rule: str, ttl_ms: float, *, all_prints: bool = False
) -> PostOnlyPolicy:
    """One engine session under ``PostOnlyPolicy``; the policy, with its rows, skip counts and the
    engine (for its own counters), once the session is over."""
    engine = Engine(session_settings(settings, seed, n_orders), None)
    policy = PostOnlyPolicy(engine, seed, n_orders, venue_rule, ttl_ms)
    if all_prints:
        policy.quoting = True  # only ``load_prints`` reads it (see the module docstring)
    engine.strategy = engine.flow.strategy = engine.pipeline.strategy = engine.desk.strategy = policy
    policy.spy()
    with mock.patch.object(quoting, "post_venue", policy.post_venue):
        engine.run()
    return policy


def engine_post_outcomes(
    settings: Settings, seed: int, n_orders: int, venue_rule: str, ttl_ms: float, *, all_prints: bool = False
) -> dict[str, np.ndarray]:
    """Run one engine session under ``PostOnlyPolicy`` and return per-order float64 arrays (equal
    length, ``n_orders`` unless the session ran out of time): ``venue`` (index into settings.venues),
    ``side`` (+1/-1), ``qty``, ``filled``, ``queue_ahead`` (at entry, shares; NaN if never accepted),
    ``time_to_fill_ms`` (decision to the report of the last fill; NaN: none), ``mid0``/``mid_end`` (the
    consolidated mid the engine sees at the decision / at the first book tick at or after decision + ttl),
    ``fill_px`` (VWAP; NaN: none), ``maker_fee`` ($/share, negative a rebate), ``adverse_bps``
    (share-weighted side x (mid at fill - mid 1 s later) / mid at fill x 1e4, mids as the engine sees
    them when it learns of the fill; NaN: none), ``cost_bps`` (shortfall vs mid0, misses at their
    mid_end move + ``miss_penalty_ticks``), and for sanity ``print_filled``/``race_filled`` (shares
    filled by trade prints / at the venue after our cancel left), ``rejected`` (1: refused by the
    venue), ``sym``, ``t_ms`` (decision time), ``fair0`` (hidden fundamental at the decision, never used
    to decide). ``price``: 0-d, the mean mid0. ValueError for an unknown or dark ``venue_rule``."""
    policy = run_policy(settings, seed, n_orders, venue_rule, ttl_ms, all_prints=all_prints)
    return outcomes(policy.rows, settings)


def outcomes(rows: list[Row], settings: Settings) -> dict[str, np.ndarray]:
    """The per-order arrays of ``engine_post_outcomes`` from the policy's rows."""
    tick, penalty = settings.market.tick_size, settings.market.miss_penalty_ticks
    out: dict[str, list[float]] = {k: [] for k in FIELDS}
    for r in rows:
        o = r.order
        filled = sum(q for _, q, _ in r.fills)
        px = sum(q * p for _, q, p in r.fills) / filled if filled else math.nan
        miss = r.side * (r.mid_end - r.mid0) + penalty * tick
        cost = filled * (r.side * (px - r.mid0) + r.maker_fee) if filled else 0.0
        adverse_q = sum(q for q, _ in r.adverse)
        values = {
            "venue": r.venue, "side": r.side, "qty": o.qty, "filled": filled,
            "queue_ahead": o.queue_at_entry if o.queue_at_entry >= 0 else math.nan,
            "time_to_fill_ms": (r.fills[-1][0] - o.ts_ns) / 1e6 if filled else math.nan,
            "mid0": r.mid0, "mid_end": r.mid_end, "fill_px": px, "maker_fee": r.maker_fee,
            "adverse_bps": sum(q * b for q, b in r.adverse) / adverse_q if adverse_q else math.nan,
            "cost_bps": (cost + (o.qty - filled) * miss) / o.qty / r.mid0 * 1e4,
            "print_filled": r.print_filled, "race_filled": r.race_filled,
            "rejected": float(o.status is OrderStatus.REJECTED), "sym": r.sym, "t_ms": r.t_ns / 1e6, "fair0": r.fair0,
        }  # fmt: skip
        for k in FIELDS:
            out[k].append(float(values[k]))
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
    arrays["price"] = np.asarray(np.mean(arrays["mid0"]) if rows else math.nan, dtype=np.float64)
    return arrays


def summarize(o: dict[str, np.ndarray], tick: float) -> str:
    """One table line: n, fill rate (shares), mean time to fill (ms), mean queue ahead at entry (shares),
    mean cost (bps), mean adverse selection over orders with fills (bps), and the unfilled orders' mean
    side x (mid_end - mid0) in ticks (> 0: the price ran away from us)."""
    n = o["qty"].size
    if n == 0:
        return f"{0:5d}"
    some = o["filled"] > 0
    unfilled = o["filled"] == 0
    moved = (o["mid_end"] - o["mid0"]) * o["side"] / tick
    return (
        f"{n:5d} {o['filled'].sum() / o['qty'].sum():6.3f} {np.nanmean(o['time_to_fill_ms']):7.1f} "
        f"{np.nanmean(o['queue_ahead']):7.0f} {np.mean(o['cost_bps']):7.3f} "
        f"{np.nanmean(o['adverse_bps'][some]) if some.any() else math.nan:7.3f} "
        f"{np.nanmean(moved[unfilled]) if unfilled.any() else math.nan:7.3f}"
    )


def main(argv: list[str]) -> None:
    """Print the calibration table: per rule (each lit venue, best-rebate, shortest-queue), ttl 200 ms,
    seeds 1-3 x ``n`` orders (argv[0], default 600), per venue and overall, plus sanity figures."""
    n = int(argv[0]) if argv else 600
    all_prints = "--all-prints" in argv
    s = make_settings(session__mode="production")
    names = [v.name for v in s.venues]
    tick = s.market.tick_size
    rules = [v.name for v in s.venues if v.kind != "dark"] + list(POSTING)
    print(f"symbols {s.session.symbols}, ttl 200 ms, seeds 1-3 x {n} orders, all_prints={all_prints}")
    print(f"{'rule':15s} {'venue':7s} {'n':>5s} {'fill':>6s} {'ttf_ms':>7s} {'queue':>7s} {'cost':>7s} "
          f"{'adverse':>7s} {'miss_mv':>7s}")  # fmt: skip
    started = time.process_time()
    for rule in rules:
        runs = [run_policy(s, seed, n, rule, 200.0, all_prints=all_prints) for seed in (1, 2, 3)]
        parts = [outcomes(p.rows, s) for p in runs]
        o = {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}
        venues = np.unique(o["venue"]).astype(int).tolist()
        if len(venues) > 1:
            for v in venues:
                sel = o["venue"] == v
                print(f"{rule:15s} {names[v]:7s} {summarize({k: a[sel] for k, a in o.items()}, tick)}")
        print(f"{rule:15s} {'all':7s} {summarize(o, tick)}")
        filled = max(o["filled"].sum(), 1.0)
        skipped = {k: sum(p.skipped[k] for p in runs) for k in runs[0].skipped}
        flows = [p.flow for p in runs]
        engine_adverse = sum(f.adverse_bps_qty for f in flows) / max(sum(f.adverse_qty for f in flows), 1)
        mine = o["adverse_bps"] * o["filled"]
        print(
            f"{'':15s} sanity: from prints {o['print_filled'].sum() / filled:.2f}, after cancel sent "
            f"{o['race_filled'].sum() / filled:.3f}, rejected {o['rejected'].mean():.3f}, partial "
            f"{np.mean((o['filled'] > 0) & (o['filled'] < o['qty'])):.3f}, |mid0 - fair| "
            f"{np.mean(np.abs(o['mid0'] - o['fair0'])) / tick:.2f} ticks, adverse (engine's own) "
            f"{engine_adverse:.3f} vs {np.nansum(mine) / filled:.3f}, maker fills booked "
            f"{sum(f.passive_fills for f in flows)} vs seen {sum(len(r.fills) for p in runs for r in p.rows)}, "
            f"skipped {skipped}"
        )
    print(f"cpu {time.process_time() - started:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
