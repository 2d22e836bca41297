"""The engine end to end on the simulated clock: journal truth, determinism, kill switch, commands."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hft_console.domain import Command, EngineState
from hft_console.engine.engine import Engine
from hft_console.execution.portfolio import Portfolio
from tests.conftest import make_settings

SEC = 1_000_000_000


def at(t_s: float, *commands: Command) -> Callable[[Engine], None]:
    """A setup that submits commands once engine time passes ``t_s``, as an operator would."""

    def setup(engine: Engine) -> None:
        sent = {"done": False}

        def observer(e: Engine) -> None:
            if not sent["done"] and e.now_ns >= t_s * SEC:
                sent["done"] = True
                for cmd in commands:
                    e.submit(cmd)

        engine.on_batch.append(observer)

    return setup


def chain(*setups: Callable[[Engine], None]) -> Callable[[Engine], None]:
    def setup(engine: Engine) -> None:
        for s in setups:
            s(engine)

    return setup


def rows(engine: Engine, sql: str) -> list[Any]:
    db = sqlite3.connect(engine.run_dir / "journal.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_every_fill_is_journaled_and_positions_and_pnl_reconcile(run_engine: Any) -> None:
    e = run_engine(make_settings(session__duration_s=10))
    s = e.summary
    assert s["fills"] > 20 and s["orders"] >= s["fills"] // 3
    assert rows(e, "select count(*) from orders")[0][0] == s["orders"]
    fills = rows(e, "select symbol, side, qty, price, fee, order_id from fills order by id")
    assert len(fills) == s["fills"]
    replay = Portfolio(e.symbols)
    for symbol, side, qty, price, fee, _ in fills:
        replay.apply_fill(e.symbols.index(symbol), 1 if side == "BUY" else -1, qty, price, fee)
    assert replay.position == e.portfolio.position
    assert replay.realized == pytest.approx(s["pnl_realized"], abs=1e-3)
    assert replay.fees == pytest.approx(s["fees"], abs=1e-3)
    assert s["pnl_total"] == pytest.approx(s["pnl_realized"] + s["pnl_unrealized"] - s["fees"], abs=1e-3)
    per_order = dict(rows(e, "select order_id, sum(qty) from fills group by order_id"))
    for order_id, qty, filled, status in rows(e, "select order_id, qty, filled, status from orders"):
        assert filled == per_order.get(order_id, 0) <= qty
        assert status in ("FILLED", "CANCELED", "REJECTED")  # nothing left working
    assert s["ticks_rejected"] > 0 and s["ticks_rejected"] == sum(s["ticks_rejected_by_reason"].values())


def test_same_seed_same_orders_and_fills_other_seed_other_fills(run_engine: Any) -> None:
    sql_fills = "select ts_ns, venue_ts_ns, order_id, symbol, side, qty, price, fee, venue from fills order by id"
    sql_orders = "select order_id, ts_ns, symbol, side, qty, limit_price, venue, arrive_ns, status from orders"
    a, b = run_engine(make_settings()), run_engine(make_settings())
    c = run_engine(make_settings(session__seed=8))
    assert rows(a, sql_fills) == rows(b, sql_fills) and len(rows(a, sql_fills)) > 0
    assert rows(a, sql_orders) == rows(b, sql_orders)
    assert rows(a, sql_fills) != rows(c, sql_fills)


def test_kill_switch_halts_cancels_and_no_order_follows(run_engine: Any) -> None:
    e = run_engine(make_settings(session__duration_s=8), at(3, Command("halt")))
    (halt_ts,) = rows(e, "select ts_ns from events where kind='STATE' and reason='HALTED'")[0]
    assert 3 * SEC <= halt_ts < 3.1 * SEC
    assert rows(e, f"select count(*) from orders where ts_ns > {halt_ts}")[0][0] == 0
    assert rows(e, "select count(*) from orders where ts_ns <= 3000000000")[0][0] > 0
    assert e.risk.state is EngineState.HALTED and e.summary["risk"]["state"] == "HALTED"
    assert e.risk.denied["HALTED"] > 0  # the strategy kept asking and was refused
    assert rows(e, "select reason from events where kind='COMMAND'")[0][0] == "accepted"


def test_flatten_reduces_to_flat_then_halts(run_engine: Any) -> None:
    # a big target makes sure there is something to flatten
    s = make_settings(session__duration_s=8, strategy__order_qty=300)
    e = run_engine(s, at(4, Command("flatten")))
    assert e.risk.state is EngineState.HALTED
    assert e.portfolio.position == [0, 0]
    states = [r[0] for r in rows(e, "select reason from events where kind='STATE' order by id")]
    assert states == ["REDUCING", "HALTED"]
    (flat_ts,) = rows(e, "select ts_ns from events where kind='STATE' and reason='HALTED'")[0]
    assert rows(e, f"select count(*) from orders where ts_ns > {flat_ts}")[0][0] == 0


def test_resume_after_halt_trades_again(run_engine: Any) -> None:
    e = run_engine(make_settings(session__duration_s=8), chain(at(2, Command("halt")), at(4, Command("resume"))))
    assert e.risk.state is EngineState.ACTIVE
    assert rows(e, "select count(*) from orders where ts_ns > 4100000000")[0][0] > 0
    assert rows(e, "select count(*) from orders where ts_ns > 2100000000 and ts_ns < 4000000000")[0][0] == 0


def test_limit_edit_takes_effect_and_a_bad_one_is_refused_and_journaled(run_engine: Any) -> None:
    edits = at(
        3,
        Command("set_limit", {"name": "max_order_qty", "value": 50}),
        Command("set_limit", {"name": "max_order_qty", "value": -1}),
    )
    e = run_engine(make_settings(session__duration_s=6), edits)
    assert e.risk.limits.max_order_qty == 50
    outcomes = rows(e, "select reason, detail from events where kind='COMMAND' order by id")
    assert [o[0] for o in outcomes] == ["accepted", "refused"]
    assert "must be greater than 0" in outcomes[1][1]
    before = rows(e, "select max(qty) from orders where ts_ns < 3000000000")[0][0]
    after = rows(e, "select max(qty), count(*) from orders where ts_ns > 3100000000")[0]
    assert before >= 100 and after[0] == 50 and after[1] > 0  # parents are now sliced into children of 50


def test_router_switch_and_strategy_pause(run_engine: Any) -> None:
    e = run_engine(
        make_settings(session__duration_s=8),
        chain(at(2, Command("set_router", {"name": "lowest-fee"})), at(5, Command("pause"))),
    )
    routers = dict(rows(e, "select router, count(*) from orders group by router"))
    assert routers.get("best-price", 0) > 0 and routers.get("lowest-fee", 0) > 0
    assert rows(e, "select count(*) from orders where router='best-price' and ts_ns > 2100000000")[0][0] == 0
    assert rows(e, "select count(*) from orders where ts_ns > 5100000000")[0][0] == 0
    assert set(e.summary["routers"]) == {"best-price", "lowest-fee"}


def test_unknown_router_command_is_refused(run_engine: Any) -> None:
    e = run_engine(make_settings(session__duration_s=3), at(1, Command("set_router", {"name": "nosuch"})))
    assert e.router.name == "best-price"
    assert rows(e, "select reason from events where kind='COMMAND'")[0][0] == "refused"


def test_circuit_breaker_halts_and_resume_is_refused_while_the_loss_stands(run_engine: Any) -> None:
    e = run_engine(make_settings(session__duration_s=10, risk__max_loss=2.0))
    trips = rows(e, "select ts_ns from events where kind='CIRCUIT_BREAKER'")
    assert len(trips) == 1
    assert rows(e, f"select count(*) from orders where ts_ns > {trips[0][0]}")[0][0] == 0
    assert e.risk.state is EngineState.HALTED and e.summary["risk"]["circuit_breaker_trips"] == 1
    e.portfolio.realized -= 100.0
    error = e.desk.apply(Command("resume"), e.now_ns)
    assert error is not None and "beyond max_loss" in error
    assert e.risk.state is EngineState.HALTED


def test_rate_limit_denials_are_journaled_with_their_reason(run_engine: Any) -> None:
    e = run_engine(make_settings(session__duration_s=5, risk__max_orders_per_s=2))
    denied = rows(e, "select count(*) from events where kind='RISK_DENIED' and reason='ORDER_RATE'")[0][0]
    assert denied > 0 and denied == e.risk.denied["ORDER_RATE"]
    sends = sorted(r[0] for r in rows(e, "select ts_ns from orders"))
    assert all(sends[i + 2] - sends[i] > SEC for i in range(len(sends) - 2))


def test_orders_to_venues_that_never_answer_time_out_and_none_stay_in_flight(run_engine: Any) -> None:
    s = make_settings(session__duration_s=6)
    venues = [
        dataclasses.replace(
            v,
            latency=dataclasses.replace(v.latency, outage_per_hour=3600.0, outage_mean_s=1000.0, outage_timeout_us=3e6),
        )
        for v in s.venues
    ]
    e = run_engine(dataclasses.replace(s, venues=venues))
    statuses = dict(rows(e, "select status, count(*) from orders group by status"))
    assert "SENT" not in statuses and sum(statuses.values()) == e.summary["orders"]
    assert statuses == e.summary["orders_by_status"] and statuses.get("REJECTED", 0) > 0
    assert e.flow.working_buy == [0, 0] and e.flow.working_sell == [0, 0]
    assert sum(v["timeouts"] for v in e.summary["venues"].values()) > 0


def test_orders_still_in_flight_when_the_session_must_end_are_expired_and_journaled(run_engine: Any) -> None:
    expired: list[int] = []

    def setup(engine: Engine) -> None:
        def observer(e: Engine) -> None:
            if not expired and e.flow.working and e.now_ns > 2 * SEC:
                expired.extend(e.flow.working)
                e.flow.expire_all(e.now_ns)

        engine.on_batch.append(observer)

    s = make_settings(session__duration_s=4)
    slow = [dataclasses.replace(v, latency=dataclasses.replace(v.latency, median_us=30_000.0)) for v in s.venues]
    e = run_engine(dataclasses.replace(s, venues=slow), setup)
    assert expired
    got = rows(e, f"select order_id, status, reason from orders where order_id in ({','.join(map(str, expired))})")
    assert {(r[1], r[2]) for r in got} == {("EXPIRED", "SESSION_END")} and len(got) == len(expired)
    assert e.summary["orders_by_status"]["EXPIRED"] == len(expired)
    assert sum(e.summary["orders_by_status"].values()) == e.summary["orders"]


def test_snapshot_carries_what_the_console_shows(run_engine: Any) -> None:
    e = run_engine(make_settings(session__duration_s=5))
    snap = e.snapshot
    assert snap is not None and snap.engine_ns == e.now_ns
    assert snap.fills == e.summary["fills"] and snap.trade_seq == snap.fills
    assert len(snap.venues) == len(e.venues) and {v.status for v in snap.venues} <= {"up", "down"}
    assert any(cell is not None for row in snap.heatmap for cell in row)
    assert {lim.name for lim in snap.limits} >= {"position AAPL", "notional", "order rate", "loss"}
    assert sum(a.pulls for a in snap.arms) == snap.router_decisions > 0
    assert snap.pnl_total == pytest.approx(e.portfolio.total)


def test_commands_from_another_thread_on_the_wall_clock(tmp_path: Path) -> None:
    """A command sent from another thread wakes the engine and is applied while the session runs.
    How fast is a figure for benchmarks/console.py (summary ``command_apply_us``), not a test: no bound
    here depends on how busy the machine is."""
    e = Engine(make_settings(session__clock="wall", session__duration_s=1.5), tmp_path / "wall")
    runner = threading.Thread(target=e.run)
    runner.start()
    deadline = time.monotonic() + 60  # a bound on a hang only
    while e.now_ns < 0.5 * SEC and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    e.submit(Command("halt"))
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert e.risk.state is EngineState.HALTED
    applied = rows(e, "select ts_ns from events where kind = 'COMMAND' and reason = 'accepted'")
    assert len(applied) == 1 and 0.5 * SEC <= applied[0][0] < 1.5 * SEC
    assert e.summary is not None and e.summary["command_apply_us"]["count"] == 1
    assert e.wall_elapsed >= 1.5  # paced by the wall clock, not as fast as possible


def test_a_learned_router_loads_in_the_background_while_the_current_one_routes(run_engine: Any) -> None:
    """On the wall clock, switching to dqn does not stop the engine: best-price keeps routing until
    dqn is built, then dqn takes over at a batch boundary (journaled); a router asked for and then
    replaced before it was ready never takes over."""
    s = make_settings(session__clock="wall", session__duration_s=8.0, session__router="best-price")
    while_loading = {"batches": 0}

    def watch(e: Engine) -> None:
        if any(t.name.startswith("load-") for t in threading.enumerate()):
            while_loading["batches"] += 1

    def setup(engine: Engine) -> None:
        engine.on_batch.append(watch)
        at(0.5, Command("set_router", {"name": "ppo"}), Command("set_router", {"name": "dqn"}))(engine)

    e = run_engine(s, setup)
    assert e.router.name == "dqn"
    by_router = dict(rows(e, "select router, count(*) from orders group by router"))
    assert by_router.get("best-price", 0) > 0 and by_router.get("dqn", 0) > 0 and "ppo" not in by_router
    assert rows(e, "select reason from events where kind = 'ROUTER'") == [("dqn",)]
    first_dqn = rows(e, "select min(ts_ns) from orders where router = 'dqn'")[0][0]
    last_bp = rows(e, "select max(ts_ns) from orders where router = 'best-price'")[0][0]
    assert last_bp < first_dqn
    # the engine kept going while two learned routers were built: batches ran during the compiles
    # (counted, not timed: a busy machine only makes the compiles longer and the count larger)
    assert while_loading["batches"] > 0
    assert not [t for t in threading.enumerate() if t.name.startswith(("online-", "load-"))]
