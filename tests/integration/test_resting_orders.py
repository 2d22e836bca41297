"""Resting orders through the whole engine: the kill switch cancels every one on every venue, a fill
matched before the cancel arrived stands, nothing new goes out after the halt, a session ends with
nothing working, and the market maker stays inside its limits."""

from __future__ import annotations

from typing import Any

import pytest

from hft_console.domain import Command, EngineState
from tests.conftest import make_settings
from tests.integration.test_engine import SEC, at, rows

MM = {"strategy__name": "market-maker", "session__duration_s": 6}


def test_the_kill_switch_cancels_every_resting_order_and_nothing_new_goes_out(run_engine: Any) -> None:
    e = run_engine(make_settings(**MM), at(3, Command("halt")))
    assert e.risk.state is EngineState.HALTED
    (halt_ns,) = rows(e, "select ts_ns from events where kind = 'STATE' and reason = 'HALTED'")[0]
    assert 3 * SEC <= halt_ns < 4 * SEC
    sent_after = rows(e, f"select count(*) from orders where ts_ns > {halt_ns}")[0][0]
    assert sent_after == 0
    cancels = rows(e, "select count(*) from order_events where state = 'PENDING_CANCEL' and reason = 'KILL_SWITCH'")[0][
        0
    ]
    assert cancels > 0  # the market maker had quotes resting
    # every order resting at the halt ends cancelled, or filled before its cancel reached the venue
    outcome = dict(
        rows(
            e,
            "select o.status, count(*) from orders o join order_events c on c.order_id = o.order_id"
            " and c.state = 'PENDING_CANCEL' and c.reason = 'KILL_SWITCH' group by o.status",
        )
    )
    assert set(outcome) <= {"CANCELED", "FILLED"} and outcome.get("CANCELED", 0) > 0
    late = rows(
        e,
        "select count(*) from order_events l join order_events c on c.order_id = l.order_id"
        " and c.state = 'PENDING_CANCEL' and c.reason = 'KILL_SWITCH' where l.reason = 'CANCEL_TOO_LATE'",
    )[0][0]
    assert late == outcome.get("FILLED", 0)
    # a fill after the halt was matched at the venue before the cancel arrived there
    after = rows(
        e,
        f"select f.venue_ts_ns, max(x.ts_ns) from fills f join order_events x on x.order_id = f.order_id"
        f" where f.ts_ns > {halt_ns} group by f.id",
    )
    assert all(venue_ts <= last for venue_ts, last in after)
    assert (
        rows(e, "select count(*) from orders where status not in ('FILLED','CANCELED','REJECTED','EXPIRED')")[0][0] == 0
    )


def test_the_market_maker_stays_inside_its_limits(run_engine: Any) -> None:
    e = run_engine(make_settings(**MM, strategy__mm_max_inventory=200, risk__max_orders_per_s=50))
    summary = e.summary
    assert summary["passive"]["fills"] > 0
    assert all(abs(p) <= 200 for p in summary["positions"].values())
    assert summary["risk"]["denied"] == {}  # it waits for the order-rate limit rather than being denied
    stamps = [
        t
        for (t,) in rows(
            e, "select ts_ns from order_events where state in ('PENDING_NEW','PENDING_CANCEL','PENDING_REPLACE')"
        )
    ]
    stamps.sort()
    worst = max(sum(1 for u in stamps[i:] if u < t + SEC) for i, t in enumerate(stamps))
    assert worst <= 50  # messages in any rolling second, as the venues count them


def test_cash_and_positions_reconcile_with_pnl_at_the_final_marks(run_engine: Any) -> None:
    """PyMarketSim's conservation check: what the fills paid and received, plus what is held at the
    marks, is the total P&L the desk reports (rebates are negative fees)."""
    e = run_engine(make_settings(**MM))
    p = e.portfolio
    cash = sum(
        (-qty * price if side == "BUY" else qty * price) - fee
        for side, qty, price, fee in rows(e, "select side, qty, price, fee from fills")
    )
    held = sum(pos * mark for pos, mark in zip(p.position, p.mark, strict=True))
    assert cash + held == pytest.approx(p.total, abs=1e-6)
    assert p.fees == pytest.approx(e.flow.fees_taker - e.flow.rebates_maker, abs=1e-9)
