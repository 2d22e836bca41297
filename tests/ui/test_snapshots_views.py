"""Snapshot tests of the console's views at 80×24 and 120×40 (pytest-textual-snapshot; update with
``pytest --snapshot-update`` after looking at the SVGs in __snapshots__/test_snapshots_views/).

Each view is pictured over a fixed picture of the desk: the fake finished session of test_blotter.py
(its snapshot, with the quotes of test_market_view.py), a small journal written here, or a short
sim-clock session at a fixed seed, so nothing on screen depends on the wall clock or the machine."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from textual.widgets import Input
from textual.widgets.input import Selection

from hft_console.domain import Command
from hft_console.engine.alerts import AlertView, alert_text
from hft_console.engine.engine import Engine
from hft_console.engine.journal import Journal
from hft_console.engine.journal_view import RecordedRun
from hft_console.ui import format as fmt
from hft_console.ui.app import ConsoleApp
from hft_console.ui.blotter import BlotterPane
from hft_console.ui.charts import ChartsScreen
from hft_console.ui.events import EventLogScreen
from hft_console.ui.market import MarketScreen
from hft_console.ui.orders import OrderTicket
from hft_console.ui.tape import TapeFilter
from hft_console.ui.theme import HEAT
from hft_console.ui.viewer import ViewerApp
from tests.conftest import make_settings
from tests.ui.conftest import wait_for
from tests.ui.test_blotter import VENUES, console, snapshot
from tests.ui.test_market_view import QUOTES

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
TICKET = "buy 100 AAPL limit 99.99 at NYSE"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A finished 20 s session over three symbols at the fixed seed (as test_snapshots.py's)."""
    settings = make_settings(session__duration_s=20, session__symbols="AAPL,MSFT,GOOGL")
    done = Engine(settings, tmp_path_factory.mktemp("views") / "done")
    done.run()
    return done


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    """A recorded 4 s market-maker session, halted by the operator at 3 s, as ``view`` loads it. The run
    directory is shown on the slider: a fixed name stands in for the temporary one."""
    path = tmp_path_factory.mktemp("viewed") / "run"
    run = Engine(make_settings(session__duration_s=4, strategy__name="market-maker"), path)
    run.on_batch.append(lambda e: e.submit(Command("halt")) if e.now_ns == 3_000_000_000 else None)
    run.run()
    loaded = RecordedRun(path)
    loaded.run_dir = Path("runs/recorded")
    return loaded


@pytest.fixture
def default_heat() -> Iterator[None]:
    """The heatmap's bands are module state (format.HEAT_STYLES) a theme sets: back to the default after."""
    yield
    fmt.HEAT_STYLES[:] = HEAT["default"]


def desk() -> ConsoleApp:
    """The console over the fake finished session, with quotes at three venues."""
    return console(dataclasses.replace(snapshot(), quotes=QUOTES))


async def shown(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app._shown is not None)


@SIZES
def test_market_view(snap_compare: Any, size: tuple[int, int]) -> None:
    async def open_market(pilot: Any) -> None:
        await shown(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MarketScreen))

    assert snap_compare(desk(), terminal_size=size, run_before=open_market)


@SIZES
def test_order_ticket_with_a_valid_ticket(snap_compare: Any, size: tuple[int, int]) -> None:
    app = desk()

    async def open_ticket(pilot: Any) -> None:
        # key o opens the ticket only while a session runs; the ticket as it opens there is pictured
        await shown(pilot)
        await app.push_screen(OrderTicket(app, ["AAPL", "MSFT"], list(VENUES), 0.01, TICKET))
        field = app.screen.query_one(Input)
        field.cursor_blink = False  # the cursor shown whatever the moment of the screenshot
        field.selection = Selection.cursor(len(TICKET))  # as typed: the cursor at the end, nothing selected
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_ticket)


@SIZES
def test_blotter_filtered_by_venue(snap_compare: Any, size: tuple[int, int]) -> None:
    app = desk()

    async def filter_blotter(pilot: Any) -> None:
        await shown(pilot)
        await pilot.press("b")
        await wait_for(pilot, lambda: app.query_one(BlotterPane).last is not None)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TapeFilter))
        await pilot.press(*"NYSE", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, TapeFilter) and "/NYSE" in str(
            app.query_one(BlotterPane).border_title))  # fmt: skip

    assert snap_compare(app, terminal_size=size, run_before=filter_blotter)


@SIZES
def test_router_pane_zoomed(snap_compare: Any, engine: Engine, size: tuple[int, int]) -> None:
    app = ConsoleApp(engine, deterministic=True)

    async def zoom(pilot: Any) -> None:
        await shown(pilot)
        await pilot.press("4")
        await wait_for(pilot, lambda: app.screen.maximized is app.query_one("#router"))

    assert snap_compare(app, terminal_size=size, run_before=zoom)


@SIZES
def test_event_log(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.event(0, "SESSION", "start", detail={"router": "best-price", "clock": "sim"})
    journal.event(1_250_000_000, "FEED", "degraded", detail={"from": "up", "source": "synthetic"})
    journal.event(2_000_000_000, "COMMAND", "accepted", detail={"command": "pause", "args": {}, "source": "operator"})
    journal.event(2_400_000_000, "ROUTER_FALLBACK", "learned", detail={"warning": "model not ready: best-price"})
    journal.event(3_100_000_000, "RISK_DENIED", "MAX_POSITION", symbol="AAPL", venue="NYSE", order_id=41,
                  detail={"limit": 10_000, "position": 9_950})  # fmt: skip
    journal.event(3_500_000_000, "ALERT", "latency_p99", venue="ARCA",
                  detail={"id": 1, "value": 2400.0, "threshold": 2000.0, "text": "ARCA p99 2.4ms > 2.0ms"})  # fmt: skip
    journal.event(4_000_000_000, "STATE", "HALTED", detail={"from": "ACTIVE", "why": "operator"})
    journal.event(5_000_000_000, "SESSION", "end", detail={"working": 0})
    journal.close()
    fake = SimpleNamespace(snapshot=snapshot(), finished=True, strategy=SimpleNamespace(paused=False), run_dir=tmp_path)
    app = ConsoleApp(cast(Engine, fake), deterministic=True)

    async def open_log(pilot: Any) -> None:
        await shown(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EventLogScreen) and app.screen.count == 8)

    assert snap_compare(app, terminal_size=size, run_before=open_log)


@SIZES
def test_colour_blind_theme(snap_compare: Any, engine: Engine, default_heat: None, size: tuple[int, int]) -> None:
    app = ConsoleApp(engine, deterministic=True, theme="colour-blind")
    assert snap_compare(app, terminal_size=size, run_before=shown)


@SIZES
def test_recorded_run_viewer_at_the_end(snap_compare: Any, recorded: RecordedRun, size: tuple[int, int]) -> None:
    assert snap_compare(ViewerApp(recorded), terminal_size=size)


@SIZES
def test_alert_toast(snap_compare: Any, engine: Engine, size: tuple[int, int]) -> None:
    assert engine.snapshot is not None
    text = alert_text(("latency_p99", "", "ARCA"), 2_400.0, 2_000.0)
    alert = AlertView(1, "latency_p99", text, 3_500_000_000, False, "warning", venue="ARCA")
    app = console(dataclasses.replace(engine.snapshot, alerts=(alert,)))

    async def toast(pilot: Any) -> None:
        await shown(pilot)
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))

    assert snap_compare(app, terminal_size=size, run_before=toast)


@SIZES
def test_charts(snap_compare: Any, engine: Engine, size: tuple[int, int]) -> None:
    app = ConsoleApp(engine, deterministic=True)

    async def open_charts(pilot: Any) -> None:
        await shown(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartsScreen) and app.screen.drawn is not None)

    assert snap_compare(app, terminal_size=size, run_before=open_charts)
