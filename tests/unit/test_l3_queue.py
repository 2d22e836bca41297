"""Our orders in the real FIFO queue of LOBSTER data: a scenario worked out by hand, takes, halts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hft_console.domain import Order, OrderType, Side, TimeInForce
from hft_console.market.lobster import LobsterMarket
from hft_console.rng import Draws, rng_for
from hft_console.venues.l3 import L3RestingBook
from hft_console.venues.queue import QueueModel
from hft_console.venues.simulator import SimVenue
from tests.lobster_files import Msg, write_lobster
from tests.unit.test_venues import VENUE, model

T0 = 34_200.0  # every file's first message is at T0 + 1: session time zero is that whole second


def s(t: float) -> int:
    """Session ns of the message time ``t`` (seconds after midnight)."""
    return round((t - T0 - 1) * 1e9)


def book_for(tmp_path: Path, msgs: list[Msg]) -> LobsterMarket:
    path = write_lobster(tmp_path, msgs, levels=3)
    market = LobsterMarket([(path, "NASDAQ")], None, ["NYSE", "NASDAQ"], {}, 0.01)
    market.next_batch(10**16)
    assert market.data_stats["book_mismatches"] == 0
    return market


def bid(qty: int, limit: float, oid: int = 1) -> Order:
    return Order(oid, oid, "TEST", Side.BUY, qty, limit, "NASDAQ", "manual", 0, 100.0,
                 order_type=OrderType.LIMIT, tif=TimeInForce.DAY)  # fmt: skip


HAND: list[Msg] = [
    (T0 + 1, 1, 1, 100, 1_000_000, 1),  # A: bid 100.00 x 100
    (T0 + 2, 1, 2, 200, 1_000_000, 1),  # B: bid 100.00 x 200
    (T0 + 2.5, 1, 3, 500, 1_000_500, -1),  # C: ask 100.05 x 500
    (T0 + 2.6, 1, 6, 100, 999_900, 1),  # F: bid 99.99 x 100
    # we join bid 100.00 at T0 + 3: A and B (300 shares) are ahead of us
    (T0 + 4, 1, 4, 150, 1_000_000, 1),  # D joins behind us
    (T0 + 5, 3, 4, 150, 1_000_000, 1),  # D deleted: it was behind us, we do not move
    (T0 + 6, 2, 2, 50, 1_000_000, 1),  # B cancels 50 of its 200: ahead 250
    (T0 + 7, 4, 1, 100, 1_000_000, 1),  # A executes in full: ahead 150
    (T0 + 8, 4, 2, 150, 1_000_000, 1),  # B executes: ahead 0, nothing of ours traded yet
    (T0 + 9, 1, 5, 100, 1_000_000, 1),  # E joins behind us
    (T0 + 10, 4, 5, 60, 1_000_000, 1),  # E executes 60: that taker met us first: we fill 60
    (T0 + 11, 5, 0, 30, 1_000_000, 1),  # a hidden bid at 100.00 executes 30: displayed first, we fill 30
    (T0 + 12, 4, 6, 25, 999_900, 1),  # F executes at 99.99, worse than our price: we fill our last 10
]


def test_our_order_fills_exactly_when_the_real_volume_ahead_has_traded(tmp_path: Path) -> None:
    market = book_for(tmp_path, HAND)
    rb = L3RestingBook(QueueModel(), 100.0, dict(market.books["NASDAQ"]))
    rb.now = s(T0 + 3)
    r = rb.add(bid(100, 100.00), 0, None, 0)
    assert r.q.shares_ahead == 300
    seen: list[tuple[float, int, int]] = []
    for t in (4, 5, 6, 7, 8, 9, 10, 11, 12):
        rb.now = s(T0 + t)
        filled = sum(q for _, q in rb.catch_up(0))
        r.leaves -= filled
        seen.append((t, r.q.shares_ahead, filled))
    assert seen == [(4, 300, 0), (5, 300, 0), (6, 250, 0), (7, 150, 0), (8, 0, 0), (9, 0, 0),
                    (10, 0, 60), (11, 0, 30), (12, 0, 10)]  # fmt: skip
    assert r.leaves == 0


def test_catching_up_in_one_step_gives_the_same_fills(tmp_path: Path) -> None:
    market = book_for(tmp_path, HAND)
    rb = L3RestingBook(QueueModel(), 100.0, dict(market.books["NASDAQ"]))
    rb.now = s(T0 + 3)
    r = rb.add(bid(100, 100.00), 0, None, 0)
    rb.now = s(T0 + 12)
    assert [q for _, q in rb.catch_up(0)] == [100]
    assert r.q.shares_ahead == 0


def test_a_cancel_behind_us_never_moves_us_up(tmp_path: Path) -> None:
    """NautilusTrader #4370: any per-order delete at our price zeroed queue ahead."""
    msgs: list[Msg] = [
        (T0 + 1, 1, 1, 100, 1_000_000, 1),
        (T0 + 1.5, 1, 9, 100, 1_000_500, -1),
        (T0 + 4, 1, 2, 500, 1_000_000, 1),  # behind us
        (T0 + 5, 3, 2, 500, 1_000_000, 1),  # deleted: behind us
        (T0 + 6, 4, 1, 40, 1_000_000, 1),  # 40 of the 100 ahead trade
    ]
    market = book_for(tmp_path, msgs)
    rb = L3RestingBook(QueueModel(), 100.0, dict(market.books["NASDAQ"]))
    rb.now = s(T0 + 3)
    r = rb.add(bid(50, 100.00), 0, None, 0)
    rb.now = s(T0 + 6)
    assert rb.catch_up(0) == [] and r.q.shares_ahead == 60


def test_a_real_order_through_our_price_trades_with_us(tmp_path: Path) -> None:
    msgs: list[Msg] = [
        (T0 + 1, 1, 1, 100, 999_900, 1),
        (T0 + 1.5, 1, 2, 100, 1_000_500, -1),
        (T0 + 4, 1, 3, 40, 1_000_000, -1),  # a sell at our bid, the real book's best ask: it met us
    ]
    market = book_for(tmp_path, msgs)
    rb = L3RestingBook(QueueModel(), 100.0, dict(market.books["NASDAQ"]))
    rb.now = s(T0 + 3)
    r = rb.add(bid(100, 100.00), 0, None, 0)  # alone at 100.00, inside the spread
    assert r.q.shares_ahead == 0
    rb.now = s(T0 + 4)
    assert [q for _, q in rb.catch_up(0)] == [40]


def test_a_take_walks_the_real_levels_and_what_it_took_stays_taken(tmp_path: Path) -> None:
    msgs: list[Msg] = [
        (T0 + 1, 1, 1, 100, 1_000_000, 1),
        (T0 + 1.2, 1, 2, 500, 1_000_500, -1),
        (T0 + 1.4, 1, 3, 200, 1_000_600, -1),
        (T0 + 5, 4, 2, 300, 1_000_500, -1),  # the real flow takes 300 of the 500 we took
        (T0 + 6, 1, 4, 100, 1_000_500, -1),  # new liquidity joins behind: ours to take
    ]
    market = book_for(tmp_path, msgs)
    rb = L3RestingBook(QueueModel(), 100.0, dict(market.books["NASDAQ"]))
    rb.now = s(T0 + 2)
    assert rb.walk(0, 1, 10005, 10006, 600) == [(500, 10005), (100, 10006)]
    assert rb.walk(0, 1, 10005, 10006, 600) == [(100, 10006)]  # the rest of 100.06; 100.05 is still ours
    rb.now = s(T0 + 5)
    assert rb.walk(0, 1, 10005, 10005, 600) == []  # 200 left there, all of it taken by us
    rb.now = s(T0 + 6)
    assert rb.walk(0, 1, 10005, 10005, 600) == [(100, 10005)]


def test_a_halt_refuses_takes_and_posts_until_trading_resumes(tmp_path: Path) -> None:
    msgs: list[Msg] = [
        (T0 + 1, 1, 1, 100, 1_000_000, 1),
        (T0 + 1.5, 1, 2, 100, 1_000_500, -1),
        (T0 + 3, 7, 0, 0, -1, -1),  # halted
        (T0 + 4, 7, 0, 0, 0, -1),  # quoting resumes, trading does not
        (T0 + 5, 7, 0, 0, 1, -1),  # trading resumes
    ]
    market = book_for(tmp_path, msgs)
    spec = dataclasses.replace(VENUE, name="NASDAQ", reject_prob=0.0)
    v = SimVenue(spec, model(), Draws(rng_for(1, "fills")), 0.01, 1e12, 0.0, synthetic=False, feed_delayed=True)
    v.attach_l3(dict(market.books["NASDAQ"]))
    quote = (0, 100.0, 100.05, 100, 100)
    delay = v.delay_ns
    take = Order(7, 7, "TEST", Side.BUY, 50, 100.05, "NASDAQ", "manual", 0, 100.0)
    assert v.execute(take, s(T0 + 3.5) + delay, 0, quote, float("nan")).reason == "TRADING_HALT"
    assert v.rest(bid(10, 99.0, 8), s(T0 + 4.5) + delay, 0, quote)[0].reason == "TRADING_HALT"
    done = v.execute(take, s(T0 + 5.5) + delay, 0, quote, float("nan"))
    assert done.status == "FILLED" and done.fills == [(50, 100.05)]


def test_one_real_message_fills_our_orders_in_priority_never_beyond_its_size(tmp_path: Path) -> None:
    msgs: list[Msg] = [
        (T0 + 1, 1, 1, 100, 999_900, 1),
        (T0 + 1.5, 1, 2, 100, 1_000_500, -1),
        (T0 + 4, 1, 3, 50, 1_000_000, -1),  # 50 shares offered at our bids' price: they meet 50 of ours
    ]
    market = book_for(tmp_path, msgs)
    rb = L3RestingBook(QueueModel(), 100.0, dict(market.books["NASDAQ"]))
    rb.now = s(T0 + 2)
    first = rb.add(bid(40, 100.00, 1), 0, None, 0)
    rb.now = s(T0 + 3)
    second = rb.add(bid(40, 100.00, 2), 0, None, 0)
    rb.now = s(T0 + 4)
    assert [(r.order.order_id, q) for r, q in rb.catch_up(0)] == [(1, 40), (2, 10)]
    assert first.q.shares_ahead == 0 and second.q.shares_ahead == 0


def test_no_maker_fill_while_trading_is_halted(tmp_path: Path) -> None:
    msgs: list[Msg] = [
        (T0 + 1, 1, 1, 100, 999_900, 1),
        (T0 + 1.5, 1, 2, 100, 1_000_500, -1),
        (T0 + 3, 7, 0, 0, -1, -1),  # halted
        (T0 + 3.5, 1, 3, 200, 999_800, -1),  # a sell through our bid while halted: no trade
        (T0 + 4, 7, 0, 0, 1, -1),  # trading resumes
        (T0 + 5, 1, 4, 30, 1_000_000, -1),  # now one at our price meets us
    ]
    market = book_for(tmp_path, msgs)
    rb = L3RestingBook(QueueModel(), 100.0, dict(market.books["NASDAQ"]))
    rb.now = s(T0 + 2)
    rb.add(bid(100, 100.00), 0, None, 0)
    rb.now = s(T0 + 3.7)
    assert rb.catch_up(0) == []
    rb.now = s(T0 + 5)
    assert [q for _, q in rb.catch_up(0)] == [30]
