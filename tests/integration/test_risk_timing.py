"""Risk acts on the current mark before every order, whatever the batch length; a performance knob
never changes the answer; a halted strategy stands down; session time starts when trading does."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hft_console.domain import Command, EngineState, Order
from hft_console.engine.engine import Engine
from hft_console.market.synthetic import SyntheticMarket
from hft_console.settings import Settings
from hft_console.stats import RateMeter
from tests.conftest import make_settings
from tests.integration.test_engine import at

SEC = 1_000_000_000
BATCHES_MS = (20, 137, 1000)  # per-tick path, a length that is no divisor of anything, the array path


def journal(run: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(run / "journal.sqlite")
    try:
        return {
            "orders": db.execute(
                "select order_id, parent_id, ts_ns, symbol, side, qty, limit_price, venue, router, arrive_ns, status,"
                " filled, done_ns, reason from orders order by order_id"
            ).fetchall(),
            "fills": db.execute(
                "select ts_ns, venue_ts_ns, order_id, qty, price, fee, trade_pnl, total_pnl from fills order by id"
            ).fetchall(),
            "risk": db.execute(
                "select ts_ns, kind, symbol, reason from events where kind not in ('SESSION') order by id"
            ).fetchall(),
        }
    finally:
        db.close()


def run(settings: Settings, run_dir: Path, setup: Any = None) -> Engine:
    engine = Engine(settings, run_dir)
    if setup is not None:
        setup(engine)
    engine.run()
    return engine


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "ticks.csv"
    out = subprocess.run(
        [sys.executable, "-m", "hft_console", "--no-ui", "--mode", "fast", "--clock", "sim", "--skip-backtest",
         "--symbols", "AAPL,MSFT", "--duration", "20", "--seed", "3", "--log-level", "quiet",
         "--run-dir", str(path.parent / "run"), "--record", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return path


@pytest.mark.parametrize(
    ("source", "router", "duration", "max_loss"),
    [("synthetic", "thompson-discounted", 30, 4.0), ("replay", "best-price", 20, 4.0), ("synthetic", "dqn", 60, 1e4)],
)
def test_batch_ms_never_changes_orders_fills_or_risk_events(
    tmp_path: Path, recording: Path, source: str, router: str, duration: int, max_loss: float
) -> None:
    """The same seed and data give the same journal for any batch_ms on the simulated clock, with the
    circuit breaker tripping mid-session, or (dqn) online learning under way."""
    data = f"replay:{recording}" if source == "replay" else "synthetic"
    journals, engines = [], []
    for batch_ms in BATCHES_MS:
        s = make_settings(
            market__batch_ms=batch_ms, data__source=data, session__router=router, session__duration_s=duration,
            risk__max_loss=max_loss,
        )  # fmt: skip
        engines.append(run(s, tmp_path / f"b{batch_ms}"))
        journals.append(journal(tmp_path / f"b{batch_ms}"))
    assert journals[0]["orders"] and journals[0]["fills"]
    assert any(row[1] == "CIRCUIT_BREAKER" for row in journals[0]["risk"]) == (max_loss < 100)
    for other in journals[1:]:
        assert other == journals[0]
    keys = ("ticks", "ticks_rejected", "duration_s", "wind_down_s", "pnl_total", "fees", "positions", "risk")
    figures = [{k: (e.summary or {})[k] for k in keys} for e in engines]
    assert figures[1] == figures[0] and figures[2] == figures[0]
    if router == "dqn":
        assert all((e.summary or {})["online_learning"]["updates"] > 0 for e in engines)


def test_no_order_goes_out_while_the_loss_is_beyond_the_limit(tmp_path: Path) -> None:
    """Checked before every order on the current mark, not at batch ends: with one-second batches no
    order is sent after the mark has taken the loss past max_loss."""
    s = make_settings(market__batch_ms=1000, session__duration_s=30, risk__max_loss=4.0)
    sent: list[tuple[int, float]] = []

    def setup(engine: Engine) -> None:
        journal_order = engine.journal.order  # every order that passed risk and went out is journaled

        def order(o: Order) -> None:
            sent.append((o.ts_ns, engine.portfolio.total))
            journal_order(o)

        engine.journal.order = order  # type: ignore[method-assign]

    e = run(s, tmp_path / "r", setup)
    assert e.risk.breaker_trips == 1 and sent
    assert all(total >= -4.0 for _, total in sent)
    tripped = next(row for row in journal(tmp_path / "r")["risk"] if row[1] == "CIRCUIT_BREAKER")[0]
    assert tripped % SEC != 0  # at the mark that crossed, not at a batch boundary
    assert max(t for t, _ in sent) < tripped


class StaleAfter(SyntheticMarket):
    """A feed that goes stale part-way through a batch."""

    stale_from_ns = 2_500_000_000

    @property
    def feed_state(self) -> str:
        return "stale" if self.served_ns > self.stale_from_ns else "live"


def test_a_stale_feed_stops_new_orders_before_the_batch_ends(tmp_path: Path) -> None:
    s = make_settings(market__batch_ms=1000, session__duration_s=6)
    market = StaleAfter(s.session.symbols, s.venues, s.market, s.session.seed)
    e = Engine(s, tmp_path / "r", market=market)
    e.run()
    rows = journal(tmp_path / "r")
    stale = [row[0] for row in rows["risk"] if row[1] == "FEED" and row[3] == "stale"]
    assert stale and stale[0] < 3 * SEC
    assert not [o for o in rows["orders"] if o[2] >= stale[0]]


def test_while_halted_the_strategy_stands_down(tmp_path: Path) -> None:
    """One denial per symbol per halt is journaled, not one per cooldown."""
    s = make_settings(session__duration_s=20, session__symbols="AAPL,MSFT,GOOGL")
    e = run(s, tmp_path / "r", at(1.0, Command("halt")))
    assert e.risk.state is EngineState.HALTED
    denied = [row for row in journal(tmp_path / "r")["risk"] if row[1] == "RISK_DENIED"]
    assert 1 <= len(denied) <= 3 and len({row[2] for row in denied}) == len(denied)
    assert e.risk.denied["HALTED"] == len(denied)


def test_session_time_starts_when_the_engine_runs(tmp_path: Path) -> None:
    """Start-up phases before ``run`` are not market time: the session is paced from its start, so
    its wall time is at least its market time (it was 0.3 s for a 1.5 s session built 1.2 s early)."""
    e = Engine(make_settings(session__clock="wall", session__duration_s=1.5), tmp_path / "wall")
    time.sleep(1.2)
    e.run()
    assert e.summary is not None
    assert e.summary["wall_s"] >= e.summary["duration_s"] == 1.5


def test_the_tick_rate_is_the_current_one() -> None:
    meter = RateMeter(window_s=1.0)
    meter.reset(0.0, 0)
    meter.update(0.1, 40_000)  # a burst at start-up
    for k in range(2, 31):
        meter.update(k * 0.1, 40_000 + (k - 1) * 300)  # then 3,000 ticks/s
    assert meter.rate == pytest.approx(3000, rel=1e-9)
