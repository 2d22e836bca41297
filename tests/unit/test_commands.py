"""Order and trading states move only as their tables allow; commands are applied, journaled, refused."""

from __future__ import annotations

import pytest

from hft_console.domain import (
    FINAL_STATES,
    ORDER_TRANSITIONS,
    Command,
    EngineState,
    InvalidTransition,
    Order,
    OrderStatus,
    Side,
)
from hft_console.engine.engine import Engine
from tests.conftest import make_settings


def order() -> Order:
    return Order(1, 1, "AAPL", Side.BUY, 100, 100.0, "NYSE", "best-price", 0, 100.0)


def test_an_order_moves_only_as_the_transition_table_allows() -> None:
    o = order()
    o.to(OrderStatus.ACCEPTED)
    o.to(OrderStatus.CANCELED)
    assert o.status == "CANCELED"  # the journal stores the value
    with pytest.raises(InvalidTransition):
        o.to(OrderStatus.FILLED)
    assert all(not ORDER_TRANSITIONS[s] for s in FINAL_STATES)


def test_commands_are_applied_in_order_journaled_and_an_unknown_one_refused() -> None:
    e = Engine(make_settings(), None)
    try:
        for cmd in (Command("halt"), Command("nosuch"), Command("halt"), Command("resume")):
            e.submit(cmd)
        assert e.commands.pending
        e.commands.apply_due(5)
        assert not e.commands.pending and len(e.commands.apply_ns) == 4
        events = e.journal.db.execute("select kind, reason, detail from events order by id").fetchall()
        assert [(k, r) for k, r, _ in events] == [
            ("STATE", "HALTED"),
            ("COMMAND", "accepted"),
            ("COMMAND", "refused"),
            ("COMMAND", "accepted"),  # a second halt changes nothing and journals no STATE row
            ("STATE", "ACTIVE"),
            ("COMMAND", "accepted"),
        ]
        assert "unknown command 'nosuch'" in events[2][2]
        assert e.risk.state is EngineState.ACTIVE
    finally:
        e.abandon()


def test_the_breaker_halts_through_the_desk_once() -> None:
    e = Engine(make_settings(risk__max_loss=1.0), None)
    try:
        e.portfolio.realized = -2.0
        e.desk.check_breaker(7)
        e.desk.check_breaker(8)
        assert e.risk.state is EngineState.HALTED and e.risk.breaker_trips == 1
        assert e.desk.apply(Command("resume"), 9) is not None  # the loss still stands
    finally:
        e.abandon()
