"""Invariants of a market-maker session, checked on its journal (PyMarketSim checks conservation on
every run): fills equal position changes, cash and position reconcile with P&L, queue ahead never
negative, no fill outside an order's life, every order's history starts PENDING_NEW."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.integration.test_cli import hft

MM = ["--no-ui", "--mode", "fast", "--clock", "sim", "--duration", "8", "--seed", "9", "--symbols", "AAPL,MSFT",
      "--skip-backtest", "--log-level", "quiet", "--strategy", "market-maker"]  # fmt: skip


@pytest.fixture(scope="module", params=["9", "10:busy"])
def session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], sqlite3.Connection]:
    """A market-maker session; the second requotes every millisecond under a tight order-rate limit,
    so cancels and replaces cross fills the most."""
    seed, _, variant = request.param.partition(":")
    run = tmp_path_factory.mktemp("mm") / "run"
    extra: list[str] = ["--seed", seed]
    if variant:
        cfg = run.parent / "busy.toml"
        cfg.write_text("[risk]\nmax_orders_per_s = 60\n[strategy]\nmm_requote_ms = 1.0\nmm_half_spread_ticks = 0.0\n")
        extra += ["--config", str(cfg)]
    out = hft(*MM, *extra, "--run-dir", str(run))
    assert out.returncode == 0, out.stderr
    return json.loads((run / "summary.json").read_text()), sqlite3.connect(run / "journal.sqlite")


def test_fills_equal_position_changes_and_cash_reconciles_with_pnl(session: tuple[dict, sqlite3.Connection]) -> None:  # type: ignore[type-arg]
    summary, db = session
    passive = summary["passive"]
    assert passive["fills"] > 0 and summary["rebates_maker"] > 0  # type: ignore[index,operator]
    for symbol, position in summary["positions"].items():  # type: ignore[attr-defined]
        (net,) = db.execute(
            "select coalesce(sum(case side when 'BUY' then qty else -qty end), 0) from fills where symbol = ?",
            (symbol,),
        ).fetchone()
        assert net == position
    (cash,) = db.execute(
        "select coalesce(sum(case side when 'BUY' then -qty * price else qty * price end) - sum(fee), 0) from fills"
    ).fetchone()
    (fees,) = db.execute("select coalesce(sum(fee), 0) from fills").fetchone()
    assert fees == pytest.approx(summary["fees"], abs=1e-3)
    assert summary["fees_taker"] - summary["rebates_maker"] == pytest.approx(summary["fees"], abs=1e-3)  # type: ignore[operator]
    marks = cash  # realised + unrealised - fees = cash + positions at the marks; flat books make it cash alone
    if not any(summary["positions"].values()):  # type: ignore[attr-defined]
        assert marks == pytest.approx(summary["pnl_total"], abs=1e-2)


def test_no_fill_outside_an_orders_life_and_queue_ahead_never_negative(
    session: tuple[dict, sqlite3.Connection],
) -> None:  # type: ignore[type-arg]
    _, db = session
    assert db.execute("select count(*) from order_events where queue_ahead < 0").fetchone()[0] == 0
    before_accept = db.execute(
        """select count(*) from fills f where not exists (select 1 from order_events e
           where e.order_id = f.order_id
           and e.state = 'ACCEPTED' and e.ts_ns <= f.ts_ns)"""
    ).fetchone()[0]
    assert before_accept == 0
    after_end = db.execute(
        """select count(*) from fills f join order_events e on e.order_id = f.order_id
           where e.state in ('CANCELED', 'REJECTED', 'EXPIRED') and f.ts_ns > e.ts_ns"""
    ).fetchone()[0]
    assert after_end == 0
    first = db.execute(
        "select count(*) from order_events e"
        " where e.id = (select min(id) from order_events where order_id = e.order_id) and e.state != 'PENDING_NEW'"
    ).fetchone()[0]
    assert first == 0
    working = db.execute(
        "select count(*) from orders where status not in ('FILLED', 'CANCELED', 'REJECTED', 'EXPIRED')"
    )
    assert working.fetchone()[0] == 0  # the session ends with nothing working


def test_filled_shares_in_orders_match_the_fills(session: tuple[dict, sqlite3.Connection]) -> None:  # type: ignore[type-arg]
    _, db = session
    bad = db.execute(
        "select count(*) from orders o"
        " where o.filled != (select coalesce(sum(qty), 0) from fills f where f.order_id = o.order_id)"
    ).fetchone()[0]
    assert bad == 0


def test_on_recorded_data_resting_orders_fill_from_the_files_trade_prints(tmp_path: Path) -> None:
    rec = tmp_path / "ticks.parquet"
    first = hft(*MM[:-2], "--run-dir", str(tmp_path / "a"), "--record", str(rec))
    assert first.returncode == 0, first.stderr
    again = hft(*MM, "--run-dir", str(tmp_path / "b"), "--data", f"replay:{rec}")
    assert again.returncode == 0, again.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["passive"]["fills"] > 0
    db = sqlite3.connect(tmp_path / "b" / "journal.sqlite")
    assert {k for (k,) in db.execute("select distinct liquidity from fills")} >= {"MAKER"}
