"""The per-tick and the array form of the pipeline make the same session, order for order."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from hft_console.engine.engine import Engine
from tests.conftest import make_settings


def journal(engine: Engine) -> tuple[list[Any], list[Any], list[Any]]:
    assert engine.run_dir is not None
    db = sqlite3.connect(engine.run_dir / "journal.sqlite")
    return (
        db.execute(
            "select order_id, ts_ns, symbol, side, qty, limit_price, venue, status, filled from orders"
        ).fetchall(),
        db.execute("select ts_ns, order_id, qty, price, fee, total_pnl from fills").fetchall(),
        db.execute("select ts_ns, kind, symbol, venue, order_id, reason from events").fetchall(),
    )


@pytest.mark.parametrize(
    "flags",
    [
        {"session__symbols": "AAPL,MSFT,GOOGL", "session__duration_s": 20, "market__bad_tick_rate": 0.01},
        # tight limits: risk denials and a circuit breaker on the way
        {"session__duration_s": 20, "risk__max_orders_per_s": 3, "risk__max_loss": 40, "strategy__order_qty": 700},
        {"session__duration_s": 10, "market__batch_ms": 500, "session__router": "random", "session__seed": 11},
    ],
)
def test_both_forms_give_the_same_session(run_engine: Any, flags: dict[str, Any]) -> None:
    settings = make_settings(**flags)

    def per_tick(e: Engine) -> None:
        e.pipeline.vector_min_ticks = 1 << 60

    def arrays(e: Engine) -> None:
        e.pipeline.vector_min_ticks = 0

    a, b = run_engine(settings, per_tick), run_engine(settings, arrays)
    ja, jb = journal(a), journal(b)
    assert len(ja[0]) > 10
    assert ja == jb
    assert a.normalizer.rejected == b.normalizer.rejected and a.portfolio.total == b.portfolio.total
    assert a.strategy.target == b.strategy.target


def test_no_fill_beyond_its_orders_limit_impact_included(run_engine: Any) -> None:
    engine = run_engine(make_settings(session__duration_s=20, market__impact_coef=5.0))
    assert engine.run_dir is not None
    db = sqlite3.connect(engine.run_dir / "journal.sqlite")
    beyond = db.execute(
        "select count(*) from fills f join orders o using (order_id) where "
        "(f.side = 'BUY' and f.price > o.limit_price + 1e-9) or (f.side = 'SELL' and f.price < o.limit_price - 1e-9)"
    ).fetchone()[0]
    assert db.execute("select count(*) from fills").fetchone()[0] > 10 and beyond == 0
