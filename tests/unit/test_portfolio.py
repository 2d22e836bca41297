from __future__ import annotations

import pytest

from hft_console.execution.portfolio import Portfolio


def test_open_add_and_close_long_by_hand() -> None:
    p = Portfolio(["AAPL"])
    p.apply_fill(0, +1, 100, 10.00, fee=0.30)
    p.apply_fill(0, +1, 100, 10.10, fee=0.30)
    assert p.position[0] == 200 and p.avg_cost[0] == pytest.approx(10.05)
    b = p.apply_fill(0, -1, 150, 10.20, fee=0.45)
    assert b.closed == 150
    assert b.realized == pytest.approx(150 * 0.15)  # 22.50
    assert b.trade_pnl == pytest.approx(22.50 - 0.45)
    assert p.position[0] == 50 and p.avg_cost[0] == pytest.approx(10.05)
    p.mark[0] = 10.00
    assert p.unrealized == pytest.approx(50 * -0.05)
    assert p.fees == pytest.approx(1.05)
    assert p.total == pytest.approx(22.50 - 2.50 - 1.05)
    assert (p.wins, p.losses) == (1, 0)


def test_short_then_flip_long_in_one_fill() -> None:
    p = Portfolio(["X"])
    p.apply_fill(0, -1, 100, 50.00, fee=0.0)
    b = p.apply_fill(0, +1, 300, 49.00, fee=0.9)
    assert b.closed == 100 and b.realized == pytest.approx(100.0)
    assert p.position[0] == 200 and p.avg_cost[0] == pytest.approx(49.00)
    assert p.realized == pytest.approx(100.0)


def test_closing_at_a_loss_counts_a_loss_and_fees_can_turn_a_scratch_into_one() -> None:
    p = Portfolio(["X"])
    p.apply_fill(0, +1, 100, 20.00, fee=0.3)
    b = p.apply_fill(0, -1, 100, 20.00, fee=0.3)
    assert b.realized == 0 and b.trade_pnl == pytest.approx(-0.3)
    assert (p.wins, p.losses) == (0, 1) and p.win_rate == 0.0
    assert p.position[0] == 0 and p.avg_cost[0] == 0.0


def test_partial_fills_each_hit_position_cash_and_fees() -> None:
    whole, chunks = Portfolio(["X"]), Portfolio(["X"])
    whole.apply_fill(0, +1, 300, 10.0, fee=0.9)
    whole.apply_fill(0, -1, 300, 10.5, fee=0.9)
    chunks.apply_fill(0, +1, 300, 10.0, fee=0.9)
    for qty in (100, 100, 100):
        chunks.apply_fill(0, -1, qty, 10.5, fee=0.3)
    assert chunks.position == whole.position == [0]
    assert chunks.realized == pytest.approx(whole.realized) == pytest.approx(150.0)
    assert chunks.fees == pytest.approx(whole.fees)


def test_rejects_nonsense_quantity() -> None:
    with pytest.raises(ValueError):
        Portfolio(["X"]).apply_fill(0, +1, 0, 10.0, fee=0.0)
