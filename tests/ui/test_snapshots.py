"""Snapshot tests of the console at a fixed seed (pytest-textual-snapshot; update with
``pytest --snapshot-update`` after looking at the report). Wall-clock figures are hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hft_console.domain import Command
from hft_console.engine.engine import Engine
from hft_console.ui.app import ConsoleApp
from tests.conftest import make_settings


def test_main_screen_at_a_fixed_seed(snap_compare: Any, finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, deterministic=True)
    assert snap_compare(app, terminal_size=(120, 40))


def test_compact_screen_at_80x24(snap_compare: Any, finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, deterministic=True)
    assert snap_compare(app, terminal_size=(80, 24))


def test_halted_screen_with_the_kill_switch_dialog(snap_compare: Any, tmp_path: Path) -> None:
    engine = Engine(make_settings(session__duration_s=15, session__symbols="AAPL,MSFT,GOOGL"), tmp_path / "h")
    engine.on_batch.append(lambda e: e.submit(Command("halt")) if e.now_ns == 10_000_000_000 else None)
    engine.run()
    app = ConsoleApp(engine, deterministic=True)

    async def open_kill_switch(pilot: Any) -> None:
        app.action_halt()  # the key is disabled on a finished session; the dialog is what is pictured
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_kill_switch)
