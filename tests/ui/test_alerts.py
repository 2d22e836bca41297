"""An alert in the console: a toast that stays until key a acknowledges it, the terminal bell, and the
acknowledgement journaled as the operator's command."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from hft_console.engine.alerts import EVERY_NS, AlertView
from hft_console.engine.snapshot import Snapshot
from hft_console.ui.alerts import STAY_S
from hft_console.ui.app import ConsoleApp
from hft_console.ui.screens import ConfirmScreen
from tests.ui.conftest import wait_for


def toasts(app: ConsoleApp) -> list[str]:
    return [str(t.render()) for t in app.screen.query("Toast")]


async def test_an_alert_shows_a_toast_and_rings_until_a_acknowledges_it(
    live_app: Callable[..., ConsoleApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    # every venue's first answer is past 1 µs: a latency alert for each venue that answers
    app = live_app(alerts__latency_p99_us=1.0, alerts__latency_min_samples=1)
    bells: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    engine = app.engine
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: bool(toasts(app)), timeout=30)
        assert bells and "round-trip p99" in toasts(app)[0] and "a acknowledges" in toasts(app)[0]
        assert all(n.timeout == STAY_S for n in app._notifications)  # no timeout within a session
        # no new order from here, so no new venue and no new alert: every alert fired is on screen
        await pilot.press("p")
        await wait_for(pilot, lambda: engine.strategy.paused and not engine.flow.working)
        answered_ns = engine.now_ns
        await wait_for(pilot, lambda: engine.alerts.next_ns - EVERY_NS >= answered_ns)  # checked since
        await wait_for(pilot, lambda: app.alert_toasts.shown == [a.alert_id for a in engine.alerts.views])
        acked = list(app.alert_toasts.shown)
        assert len(toasts(app)) == len(acked) and len(bells) <= len(acked)
        await pilot.press("a")
        await wait_for(pilot, lambda: not toasts(app))
        await wait_for(pilot, lambda: all(a.acknowledged for a in engine.alerts.views))
        assert app._shown is not None and app.alert_toasts.shown == []
        await pilot.press("q")
        if isinstance(app.screen, ConfirmScreen):  # positions are open: quit anyway
            await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)
    assert engine.run_dir is not None
    db = sqlite3.connect(engine.run_dir / "journal.sqlite")
    commands = [json.loads(d) for (d,) in db.execute("select detail from events where kind = 'COMMAND'")]
    ack = [c for c in commands if c["command"] == "ack_alerts"]
    assert len(ack) == 1 and ack[0]["args"]["ids"] == acked and ack[0]["source"] == "console"
    assert db.execute("select count(*) from events where kind = 'ALERT'").fetchone()[0] == len(acked)


async def test_an_acknowledged_alert_raises_no_toast_and_a_new_one_does(
    finished_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A console on a finished session: an acknowledged alert shows nothing; one more appears, rings,
    and goes with a (a finished session takes no command)."""
    snap = finished_engine.snapshot
    assert isinstance(snap, Snapshot)
    done = AlertView(1, "loss", "loss: P&L -$2.00 below -$1.00", 5, True, "error")
    finished_engine.snapshot = replace(snap, alerts=(done,))
    app = ConsoleApp(finished_engine)
    rang: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(1))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.pause(0.2)
        assert toasts(app) == [] and rang == []
        fresh = AlertView(
            2, "queue_ahead", "queue ahead: AAPL on NYSE 9 shares above 1", 6, False, "warning", "AAPL", "NYSE"
        )
        finished_engine.snapshot = replace(snap, alerts=(done, fresh))
        await wait_for(pilot, lambda: bool(toasts(app)))
        assert rang == [1] and "AAPL on NYSE" in toasts(app)[0] and app.alert_toasts.shown == [2]
        await pilot.press("a")  # the session is over: no command goes, the toast just goes
        await wait_for(pilot, lambda: not toasts(app))
        await pilot.press("q")
