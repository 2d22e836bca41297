from __future__ import annotations

from typing import Any

import pytest

from hft_console.domain import EngineState
from hft_console.execution.risk import RiskManager, validate_limit
from tests.conftest import make_settings

SEC = 1_000_000_000


@pytest.fixture
def risk() -> RiskManager:
    s = make_settings(
        risk__max_position=500, risk__max_order_qty=200, risk__max_orders_per_s=5, risk__max_notional=100_000.0,
        risk__max_loss=1_000.0, risk__max_price_deviation_bps=50.0,
    )  # fmt: skip
    return RiskManager(s.risk, s.risk_caps)


def check(risk: RiskManager, side: int = 1, qty: int = 100, limit: float = 100.0, **kw: Any) -> str | None:
    book = {"position": 0, "working_buy": 0, "working_sell": 0, "mid": 100.0, "gross_notional": 0.0} | kw
    return risk.check(kw.pop("now", 0), side, qty, limit, **{k: book[k] for k in book if k != "now"})


def test_an_ordinary_order_passes(risk: RiskManager) -> None:
    assert check(risk) is None and risk.breaches == 0


def test_order_size(risk: RiskManager) -> None:
    assert check(risk, qty=201) == "MAX_ORDER_QTY"
    assert risk.denied["MAX_ORDER_QTY"] == 1 and risk.breaches == 1


def test_price_far_from_the_consolidated_mid(risk: RiskManager) -> None:
    assert check(risk, limit=100.49) is None
    assert check(risk, limit=100.51) == "PRICE_DEVIATION"
    assert check(risk, side=-1, limit=99.4) == "PRICE_DEVIATION"


def test_position_limit_counts_orders_in_flight(risk: RiskManager) -> None:
    assert check(risk, position=300, working_buy=100, qty=100) is None
    assert check(risk, position=300, working_buy=150, qty=100) == "POSITION_LIMIT"
    # a sell that reduces a position over the limit is still allowed
    assert check(risk, side=-1, position=600, qty=100) is None


def test_an_order_that_flips_through_zero_beyond_the_limit_is_not_reducing() -> None:
    s = make_settings(risk__max_position=100, risk__max_order_qty=1000)
    risk = RiskManager(s.risk, s.risk_caps)
    assert check(risk, qty=700, position=-500) == "POSITION_LIMIT"  # would end long 200
    assert check(risk, qty=500, position=-500) is None  # back to flat
    assert check(risk, qty=550, position=-500) is None  # long 50: within the limit


def test_notional_cap(risk: RiskManager) -> None:
    assert check(risk, gross_notional=99_000.0, qty=100) == "NOTIONAL_LIMIT"
    assert check(risk, side=-1, position=100, gross_notional=150_000.0, qty=100) is None


def test_order_rate_denies_the_one_over_and_recovers_after_a_second(risk: RiskManager) -> None:
    results = [check(risk, now=i) for i in range(6)]
    assert results == [None] * 5 + ["ORDER_RATE"]
    assert check(risk, now=SEC + 10) is None


def test_halted_refuses_everything_reducing_only_what_reduces(risk: RiskManager) -> None:
    risk.state = EngineState.HALTED
    assert check(risk, side=-1, position=100) == "HALTED"
    risk.state = EngineState.REDUCING
    assert check(risk, side=1, position=100) == "REDUCING"
    assert check(risk, side=-1, position=100, qty=100) is None
    assert check(risk, side=-1, position=100, qty=150) == "REDUCING"  # would flip short
    assert check(risk, side=-1, position=100, working_sell=100, qty=100) == "REDUCING"
    assert check(risk, side=-1, position=100, working_buy=100, qty=200) == "REDUCING"  # the buy may miss
    assert check(risk, side=1, position=-200, qty=100) is None
    assert risk.breaches == 0  # refused by the trading state, not by a limit
    assert risk.denied["HALTED"] == 1 and risk.denied["REDUCING"] == 4


def test_circuit_breaker_trips_once(risk: RiskManager) -> None:
    assert not risk.breaker_hit(-999.0)
    assert risk.breaker_hit(-1000.01)
    assert risk.state is EngineState.ACTIVE  # the engine's TradingDesk halts, and journals it
    risk.state = EngineState.HALTED
    assert not risk.breaker_hit(-5000.0)
    assert risk.breaker_trips == 1


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("max_position", "abc", "is not a number"),
        ("max_position", -10, "must be greater than 0"),
        ("max_position", 0, "must be greater than 0"),
        ("max_position", 2.5, "whole number"),
        ("max_position", 10_000_000, "above the hard cap"),
        ("max_leverage", 2, "unknown limit"),
    ],
)
def test_limit_edits_are_validated_and_change_nothing_when_refused(
    risk: RiskManager, name: str, value: object, error: str
) -> None:
    before = risk.limits
    result = risk.set_limit(name, value)
    assert result is not None and error in result
    assert risk.limits == before


def test_accepted_limit_edit_takes_effect(risk: RiskManager) -> None:
    assert risk.set_limit("max_order_qty", "1,000") is None
    assert risk.limits.max_order_qty == 1000
    assert check(risk, qty=201) is None


def test_a_refused_limit_names_its_cap_as_people_write_it() -> None:
    caps = make_settings().risk_caps
    _, error = validate_limit("max_notional", caps.max_notional * 2, caps)
    assert error is not None and "e+" not in error and f"{caps.max_notional:,.0f}" in error
