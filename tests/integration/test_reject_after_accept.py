"""A cancel refused before the order's own answer came must not invent an acceptance. A post sent to
a venue that is down never reaches it; our cancel does, and the venue, which has no such order,
refuses it. The order then still awaits its own answer (our timeout, REJECTED VENUE_DOWN): the
refusal leaves it PENDING_NEW, as FIX's OrderCancelReject carries the order's status. It used to
move it to ACCEPTED, and the timeout then raised InvalidTransition (ACCEPTED -> REJECTED)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hft_console.backtest.run import run_one
from hft_console.backtest.scenarios import make_scenarios
from hft_console.domain import OrderType, Side
from hft_console.engine.engine import Engine
from tests.conftest import make_settings
from tests.integration.test_engine import SEC, rows

OUTAGE_NS = 50_000_000  # the venue is down this long from the post: longer than our 5 ms timeout


def _post_then_cancel_while_down(sent: dict[str, int]) -> Any:
    """A setup: at 2 s, venue 0 goes down; an operator post goes to it and is cancelled at once."""

    def setup(engine: Engine) -> None:
        def observer(e: Engine) -> None:
            if sent or e.now_ns < 2 * SEC:
                return
            t0 = e.now_ns
            venue = e.flow.venues[0]
            drawn = venue.latency.is_down

            def is_down(t_ns: int) -> bool:
                return t0 <= t_ns < t0 + OUTAGE_NS or drawn(t_ns)

            venue.latency.is_down = is_down  # type: ignore[method-assign]
            flow = e.flow
            price = round(flow.portfolio.mark[0] - 0.05, 2)  # behind the bid: it would only rest
            order = flow.post(0, t0, Side.BUY, 100, price, time.perf_counter_ns(), OrderType.POST_ONLY, None, 0)
            assert order is not None
            sent["order_id"] = order.order_id
            assert flow.cancel_order(order, t0, "TEST_CANCEL")

        engine.on_batch.append(observer)

    return setup


def test_a_cancel_refused_before_the_orders_answer_leaves_it_pending_new(run_engine: Any) -> None:
    sent: dict[str, int] = {}
    e = run_engine(make_settings(session__duration_s=3), _post_then_cancel_while_down(sent))
    oid = sent["order_id"]
    history = rows(e, f"select state, reason from order_events where order_id = {oid} order by id")
    assert history == [
        ("PENDING_NEW", None),
        ("PENDING_CANCEL", "TEST_CANCEL"),
        ("PENDING_NEW", "UNKNOWN_ORDER"),  # the venue never had it; nothing was acknowledged
        ("REJECTED", "VENUE_DOWN"),  # our timeout settles it
    ]
    assert rows(e, f"select status, filled from orders where order_id = {oid}") == [("REJECTED", 0)]
    assert rows(e, f"select count(*) from fills where order_id = {oid}") == [(0,)]
    # the summary counts what the journal holds
    s = e.summary
    assert s["orders_by_status"]["REJECTED"] == rows(e, "select count(*) from orders where status = 'REJECTED'")[0][0]
    assert s["rejects"] == rows(e, "select count(*) from events where kind = 'VENUE_REJECT'")[0][0]
    assert rows(e, "select count(*) from orders where status not in ('FILLED','CANCELED','REJECTED','EXPIRED')") == [
        (0,)
    ]


def test_the_backtest_scenario_that_raised_runs_to_the_end() -> None:
    """``backtest --mode fast --scenarios 30 --routers ppo``, scenario 13: a post to a venue that was down
    when it arrived, cancelled at the session's end before its timeout came."""
    settings = make_settings(session__seed=42, session__symbols="AAPL,MSFT,GOOGL")  # the configured ones
    sc = make_scenarios(settings, 14)[13]
    assert sc.seed == 1602710482907406808
    out = run_one((settings, sc, "ppo", 10.0, ""))
    assert out["orders"] > 0


@pytest.mark.parametrize("through", [True, False], ids=["refused", "replaced"])
def test_a_replace_answered_with_a_cancel_behind_it_leaves_the_order_pending_cancel(
    run_engine: Any, through: bool
) -> None:
    """A replace answered (refused: it would take; or done) while our cancel travels behind it: the
    order stays PENDING_CANCEL, never working again, until the cancel's answer settles it."""
    state: dict[str, Any] = {}

    def setup(engine: Engine) -> None:
        def observer(e: Engine) -> None:
            flow = e.flow
            if "order" not in state:
                if e.now_ns >= 2 * SEC:
                    price = round(flow.portfolio.mark[0] - 0.05, 2)
                    wall0 = time.perf_counter_ns()
                    state["order"] = flow.post(0, e.now_ns, Side.BUY, 100, price, wall0, OrderType.POST_ONLY, None, 0)
                return
            order = state["order"]
            if "sent" in state or order.status.value != "ACCEPTED":
                return
            quote = flow.quotes[0]  # AAPL at venue 0
            assert quote is not None
            price = quote[2] + 0.02 if through else order.limit - 0.01  # through the offer, or deeper
            assert flow.replace_order(order, e.now_ns, round(price, 2), order.qty)
            assert flow.cancel_order(order, e.now_ns, "TEST_CANCEL")
            state["sent"] = True

        engine.on_batch.append(observer)

    e = run_engine(make_settings(session__duration_s=4), setup)
    assert state.get("sent")
    oid = state["order"].order_id
    history = rows(e, f"select state, reason from order_events where order_id = {oid} order by id")
    after = history[[s for s, _ in history].index("PENDING_REPLACE") + 1 :]
    answer = (
        [("PENDING_CANCEL", "REPLACE_WOULD_CROSS")]
        if through
        else [("REPLACED", None), ("PENDING_CANCEL", "TEST_CANCEL")]
    )
    assert after == [*answer, ("CANCELED", "TEST_CANCEL")]
