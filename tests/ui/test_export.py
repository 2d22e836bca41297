"""Key s: the screen, the whole tape and the blotter saved into the run directory."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from hft_console.engine.engine import Engine
from hft_console.ui.app import ConsoleApp
from hft_console.ui.export import BLOTTER_COLUMNS, TAPE_COLUMNS, stamp
from hft_console.ui.panes import StatusBar
from tests.ui.conftest import wait_for
from tests.ui.test_blotter import BOOK, snapshot


def read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


async def test_s_saves_the_screen_the_whole_tape_and_the_blotter(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, deterministic=True)
    run_dir = finished_engine.run_dir
    assert run_dir is not None
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.press("s")
        await wait_for(pilot, lambda: any(run_dir.glob("screen-*.svg")))
        note = app.query_one(StatusBar).render_line(0).text
        assert "saved screen-" in note
    shot = next(run_dir.glob("screen-*.svg"))
    assert shot.read_text().startswith("<svg") and "Trades" in shot.read_text()
    tape = read(next(run_dir.glob("tape-*.csv")))
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        fills = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    assert tape[0] == list(TAPE_COLUMNS) and len(tape) - 1 == fills == finished_engine.flow.fills > 0
    blotter = read(next(run_dir.glob("blotter-*.csv")))
    assert blotter == [list(BLOTTER_COLUMNS)]  # a finished session has nothing working


async def test_the_blotter_rows_are_the_working_orders_on_screen(tmp_path: Path) -> None:
    snap = snapshot()
    engine = SimpleNamespace(snapshot=snap, finished=True, strategy=SimpleNamespace(paused=False), run_dir=tmp_path)
    app = ConsoleApp(cast(Engine, engine), deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.press("s")
        await wait_for(pilot, lambda: any(tmp_path.glob("blotter-*.csv")))
    rows = read(next(tmp_path.glob("blotter-*.csv")))
    assert len(rows) == 1 + len(BOOK)
    ids = [int(r[0]) for r in rows[1:]]
    assert ids == [o.order_id for o in snap.working]
    assert read(next(tmp_path.glob("tape-*.csv"))) == [list(TAPE_COLUMNS)]  # no journal there: no fills


async def test_without_a_run_directory_nothing_is_saved_and_the_operator_is_told(tmp_path: Any) -> None:
    engine = SimpleNamespace(snapshot=snapshot(), finished=True, strategy=SimpleNamespace(paused=False), run_dir=None)
    app = ConsoleApp(cast(Engine, engine), deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.press("s")
        bar = app.query_one(StatusBar)
        await wait_for(pilot, lambda: "nothing saved" in bar.render_line(0).text)


def test_stamps_sort_in_time_order() -> None:
    assert stamp(1_800_000_000.5) == "20270115T080000.500Z"
    assert stamp(1_800_000_000.5) < stamp(1_800_000_001.0)
