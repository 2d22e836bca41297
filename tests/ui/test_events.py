"""Key e: the session's event log from the journal, scrollable, closed with e or Escape."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from textual.containers import VerticalScroll
from textual.widgets import Static

from hft_console.engine.engine import Engine
from hft_console.ui.app import ConsoleApp
from hft_console.ui.events import EventLogScreen, event_text, read_events
from tests.ui.conftest import wait_for
from tests.ui.test_blotter import snapshot
from tests.ui.test_console import quit_app


def shown(app: ConsoleApp) -> str:
    content = app.screen.query_one("#lines", Static).content
    return str(content)


async def test_e_shows_every_journal_event_and_closes(finished_engine: Engine) -> None:
    run_dir = finished_engine.run_dir
    assert run_dir is not None
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM events ORDER BY id")]
    app = ConsoleApp(finished_engine, deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EventLogScreen) and app.screen.count >= 0)
        text = shown(app)
        assert len(text.splitlines()) == len(kinds) > 0
        assert [line.split()[1] for line in text.splitlines()] == kinds
        await pilot.press("escape")
        assert not isinstance(app.screen, EventLogScreen)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EventLogScreen))
        await pilot.press("e")
        assert not isinstance(app.screen, EventLogScreen)


async def test_a_live_session_logs_the_operators_command_as_it_happens(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None)
        await pilot.press("p")  # pause: a COMMAND event
        await wait_for(pilot, lambda: app.engine.strategy.paused)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EventLogScreen) and "COMMAND" in shown(app))
        log = app.screen.query_one("#log", VerticalScroll)
        await pilot.press("home")
        assert log.scroll_y == 0
        await pilot.press("escape")
        await quit_app(app, pilot)


async def test_without_a_journal_on_disk_the_log_says_so(tmp_path: Any) -> None:
    engine = SimpleNamespace(snapshot=snapshot(), finished=True, strategy=SimpleNamespace(paused=False), run_dir=None)
    app = ConsoleApp(cast(Engine, engine), deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EventLogScreen))
        assert "keeps no journal on disk" in shown(app)


def test_event_lines_name_time_kind_place_reason_and_detail(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    with sqlite3.connect(journal) as db:
        db.execute("create table events (id integer primary key, ts_ns integer, kind text, symbol text, venue text,"
                   " order_id integer, reason text, detail text, wall_ns integer)")  # fmt: skip
        db.execute("insert into events values (1, 1500000000, 'RISK', 'AAPL', NULL, 7, 'MAX_POSITION', "
                   "'{\"limit\": 100}', 0)")  # fmt: skip
    rows = read_events(journal)
    assert rows == [(1_500_000_000, "RISK", "AAPL", "", 7, "MAX_POSITION", '{"limit": 100}')]
    line = event_text(rows).plain.strip()
    assert line.startswith("00:00:01.500") and "RISK" in line and "AAPL #7" in line
    assert line.endswith("MAX_POSITION limit=100")
    assert read_events(tmp_path / "none.sqlite") == []
