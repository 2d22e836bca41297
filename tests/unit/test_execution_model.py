"""The execution model: the order state machine, queue-position models, resting orders at a venue,
per-message latency and the venue kinds (issue 14)."""

from __future__ import annotations

import dataclasses

import pytest

from hft_console.domain import (
    FINAL_STATES,
    ORDER_TRANSITIONS,
    InvalidTransition,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)  # fmt: skip
from hft_console.rng import Draws, rng_for
from hft_console.venues.queue import QueueModel, queue_model
from hft_console.venues.simulator import ACCEPTED, CANCEL_REJECTED, CANCELED, FILL, REJECTED, REPLACED, SimVenue
from tests.unit.test_venues import CALM, VENUE, model

S = OrderStatus


def order(side: Side = Side.BUY, qty: int = 100, price: float = 100.00, kind: OrderType = OrderType.POST_ONLY) -> Order:
    return Order(7, 1, "X", side, qty, price, "V", "best-rebate", 0, 100.0, order_type=kind, tif=TimeInForce.DAY)


def venue(**spec: object) -> SimVenue:
    return SimVenue(dataclasses.replace(VENUE, **spec), model(), Draws(rng_for(1, "fills")), 0.01, 1e12, 0.0)  # type: ignore[arg-type]


# -- the state machine ---------------------------------------------------------------------------
def test_no_fill_before_the_order_is_accepted_and_nothing_after_a_final_state() -> None:
    o = order()
    for filled in (S.PARTIALLY_FILLED, S.FILLED):
        assert filled not in ORDER_TRANSITIONS[S.PENDING_NEW]
        with pytest.raises(InvalidTransition):
            dataclasses.replace(o).to(filled)
    for final in FINAL_STATES:
        assert ORDER_TRANSITIONS[final] == frozenset()
    o.to(S.ACCEPTED)
    o.to(S.PENDING_CANCEL)
    o.to(S.FILLED)  # the fill won the race with the cancel
    with pytest.raises(InvalidTransition):
        o.to(S.CANCELED)


def test_every_state_is_in_the_table_and_pending_states_settle() -> None:
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    assert S.CANCELED in ORDER_TRANSITIONS[S.PENDING_CANCEL]
    assert S.REPLACED in ORDER_TRANSITIONS[S.PENDING_REPLACE]


# -- queue models --------------------------------------------------------------------------------
def test_risk_averse_trades_eat_the_queue_ahead_before_us() -> None:
    m = QueueModel()
    q = m.join(500)
    assert q.shares_ahead == 500
    assert m.on_trade(q, 300) == 0 and q.shares_ahead == 200
    assert m.on_trade(q, 250) == 50 and q.shares_ahead == 0


def test_a_cancel_behind_us_never_moves_us_forward() -> None:
    """NautilusTrader #4370: a stranger's cancel put the order at the front. Here: join behind 500, 300
    more join behind us (level 800), 200 cancel (level 600): nothing proves they were ahead."""
    m = QueueModel()
    q = m.join(500)
    m.on_level(q, 500, 800)
    m.on_level(q, 800, 600)
    assert q.shares_ahead == 500
    m.on_level(q, 600, 300)  # the level is now smaller than our queue ahead: those cancels were ahead
    assert q.shares_ahead == 300


@pytest.mark.parametrize("name", ["power", "log"])
def test_probabilistic_models_credit_part_of_a_cancel_and_never_go_negative(name: str) -> None:
    m = queue_model(name, 2.0)
    q = m.join(500)
    m.on_level(q, 500, 800)  # 300 behind us
    m.on_level(q, 800, 600)  # 200 cancelled: some of it ahead of us
    assert 300 < q.ahead < 500
    m.on_level(q, 600, 0)
    assert q.ahead == 0 and q.shares_ahead == 0
    q = m.join(100)
    m.on_trade(q, 60)
    m.on_level(q, 100, 40)  # the level shrank by exactly what traded: no cancel to share out
    assert q.shares_ahead == 40


def test_an_unknown_queue_model_is_refused() -> None:
    with pytest.raises(ValueError, match="risk-averse"):
        queue_model("optimistic")


# -- resting orders at a venue -------------------------------------------------------------------
QUOTE = (0, 100.00, 100.01, 400, 300)  # ts, bid, ask, bid size, ask size


def test_a_post_joins_behind_the_displayed_size_and_fills_as_a_maker_when_trades_reach_it() -> None:
    v = venue()
    o = order()
    (ack,) = v.rest(o, 1_000, 0, QUOTE)
    assert ack.kind == ACCEPTED and ack.queue_ahead == 400 and ack.level_total == 400
    assert v.on_print(0, -1, 100.00, 300, 2_000) == []  # a seller hit 300 of the 400 ahead
    (fill,) = v.on_print(0, -1, 100.00, 150, 3_000)
    assert fill.kind == FILL and fill.qty == 50 and fill.price == 100.00 and fill.reason == "MAKER"
    assert fill.fee == pytest.approx(-VENUE.maker_rebate * 50)  # a rebate is a negative fee
    assert v.on_print(0, 1, 100.01, 500, 3_500) == []  # buyers lift offers: our bid is not met
    (rest,) = v.on_print(0, -1, 99.99, 500, 4_000)  # a print through our price: it met us first
    assert rest.qty == 50 and len(v.book) == 0


def test_post_only_that_would_take_is_refused_and_a_quote_through_our_price_fills_us() -> None:
    v = venue()
    (rej,) = v.rest(order(price=100.01), 1_000, 0, QUOTE)
    assert rej.kind == REJECTED and rej.reason == "POST_ONLY_WOULD_CROSS"
    v.rest(order(price=100.00), 1_000, 0, QUOTE)
    (fill,) = v.on_quote(0, (5, 99.99, 100.00, 100, 200), 2_000)  # the offer came down to our bid
    assert fill.qty == 100 and fill.price == 100.00


def test_a_cancel_that_arrives_after_the_fill_is_rejected_too_late() -> None:
    v = venue()
    o = order()
    v.rest(o, 1_000, 0, QUOTE)
    v.on_quote(0, (5, 99.99, 100.00, 100, 200), 2_000)
    late = v.cancel(o, 3_000)
    assert late.kind == CANCEL_REJECTED and late.reason == "CANCEL_TOO_LATE"
    o2 = dataclasses.replace(order(), order_id=8)
    v.rest(o2, 4_000, 0, QUOTE)
    assert v.cancel(o2, 5_000).kind == CANCELED and len(v.book) == 0


def test_replace_loses_priority_on_a_price_change_or_larger_size_and_keeps_it_on_a_decrease() -> None:
    v = venue()
    o = order(qty=200)
    v.rest(o, 1_000, 0, QUOTE)
    v.on_print(0, -1, 100.00, 100, 1_500)  # 300 left ahead
    kept = v.replace(o, 2_000, 100.00, 150, QUOTE)
    assert kept.kind == REPLACED and kept.queue_ahead == 300
    moved = v.replace(o, 3_000, 99.99, 150, QUOTE)
    assert moved.kind == REPLACED and moved.queue_ahead == VENUE.depth_shares  # behind the touch: assumed depth
    assert v.replace(o, 4_000, 100.01, 150, QUOTE).reason == "REPLACE_WOULD_CROSS"


def test_messages_each_way_stay_in_order_and_the_feed_delay_shifts_the_venue_frame() -> None:
    v = venue(feed_delay_us=50.0)
    arrivals = [v.inbound(t) for t in range(0, 50_000, 1_000)]
    assert arrivals == sorted(arrivals)
    assert all(a >= t + 50_000 for a, t in zip(arrivals, range(0, 50_000, 1_000), strict=True))
    answers = [v.outbound(t) for t in range(100_000, 150_000, 1_000)]
    assert answers == sorted(answers) and all(
        a >= t for a, t in zip(answers, range(100_000, 150_000, 1_000), strict=True)
    )


def test_cancel_and_replace_have_their_own_latency() -> None:
    slow = dataclasses.replace(CALM, cancel_median_us=1000.0, jitter_us=0.0)
    fast, cancel = model(slow, seed=3), model(slow, seed=3)
    assert cancel.one_way_ns(0, slow.cancel_median_us) > 5 * fast.one_way_ns(0)


# -- venue kinds ---------------------------------------------------------------------------------
def test_a_dark_pool_fills_at_the_midpoint_from_hidden_liquidity_or_not_at_all() -> None:
    v = venue(kind="dark", hidden_liquidity_mean_shares=200.0, hidden_liquidity_zero_prob=0.5)
    take = Order(1, 1, "X", Side.BUY, 100, 100.01, "V", "best-price", 0, 100.0)
    outcomes = [v.execute(dataclasses.replace(take), 1_000 * i, 0, None, 100.0, 100.005) for i in range(400)]
    prices = {p for ex in outcomes for _, p in ex.fills}
    assert prices == {100.005}
    misses = sum(ex.status == "CANCELED" and not ex.fills for ex in outcomes)
    assert 140 < misses < 260  # about half meet nothing, a few meet too little (censored)


def test_a_speed_bump_venue_fills_a_share_of_takers_at_its_midpoint() -> None:
    v = venue(kind="speed-bump", midpoint_share=1.0)
    take = Order(1, 1, "X", Side.BUY, 100, 100.02, "V", "best-price", 0, 100.0)
    ex = v.execute(take, 1_000, 0, (0, 100.00, 100.02, 300, 300), 100.01, 100.01)
    assert ex.fills == [(100, 100.01)]


def test_recorded_data_never_fills_beyond_the_displayed_touch() -> None:
    v = SimVenue(VENUE, model(), Draws(rng_for(1, "fills")), 0.01, 1.0, 0.5, 1e-3, synthetic=False)
    take = Order(1, 1, "X", Side.BUY, 300, 100.02, "V", "best-price", 0, 100.0)
    ex = v.execute(take, 1_000_000, 0, (0, 100.00, 100.01, 1000, 100), float("nan"), 100.005)
    assert ex.fills == [(100, 100.01)]  # no fade, no sniping, no impact, no invented depth


def test_midpoint_pegs_rest_where_offered_and_fill_at_the_mid_behind_hidden_pegs() -> None:
    peg = order(qty=100, price=100.01, kind=OrderType.MID_PEG)  # a buy capped at 100.01
    (refused,) = venue().rest(dataclasses.replace(peg), 1_000, 0, QUOTE)
    assert refused.kind == REJECTED and refused.reason == "MID_PEG_NOT_OFFERED"
    v = venue(kind="speed-bump", midpoint_share=1.0, depth_shares=150)
    (ack,) = v.rest(peg, 1_000, 0, QUOTE)
    assert ack.kind == ACCEPTED and ack.queue_ahead == 150 and ack.level_total == -1
    assert v.on_print(0, 1, 100.01, 500, 2_000, QUOTE) == []  # a buyer meets offers, not our bid
    assert v.on_print(0, -1, 100.00, 100, 3_000, QUOTE) == []  # 100 of the 150 hidden ahead
    (fill,) = v.on_print(0, -1, 100.00, 80, 4_000, QUOTE)
    assert (fill.qty, fill.price, fill.reason) == (30, 100.005, "MAKER")
    assert v.replace(peg, 5_000, 100.02, 100, QUOTE).reason == "NOT_SUPPORTED"
    assert v.cancel(peg, 6_000).kind == CANCELED and len(v.book) == 0


def test_recorded_data_has_no_hidden_liquidity_to_fill_against() -> None:
    recorded = dataclasses.replace(VENUE, kind="dark", hidden_liquidity_mean_shares=500.0)
    v = SimVenue(recorded, model(), Draws(rng_for(1, "fills")), 0.01, 1e12, 0.0, synthetic=False)
    take = Order(1, 1, "X", Side.BUY, 100, 100.01, "V", "best-price", 0, 100.0)
    assert v.execute(take, 1_000, 0, None, float("nan"), 100.005).fills == []
    bump = dataclasses.replace(VENUE, kind="speed-bump", midpoint_share=1.0)
    v = SimVenue(bump, model(), Draws(rng_for(1, "fills")), 0.01, 1e12, 0.0, synthetic=False)
    take = Order(1, 1, "X", Side.BUY, 100, 100.02, "V", "best-price", 0, 100.0)
    assert v.execute(take, 1_000, 0, (0, 100.00, 100.02, 300, 300), 100.01, 100.01).fills == [(100, 100.02)]
    (refused,) = v.rest(order(kind=OrderType.MID_PEG, price=100.02), 2_000, 0, (0, 100.00, 100.02, 300, 300))
    assert refused.reason == "MID_PEG_NOT_OFFERED"
