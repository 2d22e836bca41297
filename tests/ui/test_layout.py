"""The console at every size: the layout is chosen by what the panes' content needs, so no row wraps and
no pane, title or line is cut; below 80x24 it says what it needs; at 80x24 every key is on the key line."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from hft_console.engine.engine import Engine
from hft_console.ui.app import PANES, ConsoleApp
from hft_console.ui.keybar import KeyBar
from hft_console.ui.layout import MIN_SIZE, plan
from hft_console.ui.panes import Pane, StatusBar
from hft_console.ui.startup import StartupScreen
from hft_console.ui.tape import TapePane
from tests.conftest import make_settings
from tests.ui.conftest import starting, wait_for


def problems(app: ConsoleApp) -> list[str]:
    """Everything on the main screen that does not fit where it is drawn."""
    width, height = app.size
    found = []
    for pane in app.query(Pane):
        if not pane.display or (pane.last is None and not isinstance(pane, StatusBar)):
            continue
        region, size = pane.region, pane.size
        name = pane.id or type(pane).__name__
        if region.right > width or region.bottom > height or region.width <= 0:
            found.append(f"{name} outside the screen: {region}")
        content = pane.content
        assert isinstance(content, Text), name
        rows = content.plain.split("\n")
        if len(rows) > size.height:
            found.append(f"{name}: {len(rows)} rows in {size.height}")
        for row in rows:
            if Text(row).cell_len > size.width:
                found.append(f"{name}: a row of {Text(row).cell_len} in {size.width} columns: {row!r}")
        for frame in (pane.border_title, pane.border_subtitle):
            if frame and Text.from_markup(str(frame)).cell_len > pane.frame_text_width:
                found.append(f"{name}: frame text {frame!r} cut at {pane.frame_text_width}")
    keys = app.query_one(KeyBar).content
    assert isinstance(keys, Text)
    if keys.cell_len > width:
        found.append(f"key line of {keys.cell_len} in {width}")
    return found


async def resize(app: ConsoleApp, pilot: Any, width: int, height: int) -> None:
    await pilot.resize_terminal(width, height)
    await pilot.pause()
    await wait_for(pilot, lambda: app.size == (width, height))
    for pane in app.query(Pane):  # redraw at the new size (the timer would, within 100 ms)
        if pane.display and pane.size.width:
            pane.redraw()
    await pilot.pause()


async def test_nothing_wraps_or_is_cut_from_80x24_to_200x50(finished_engine: Engine) -> None:
    sizes = [(w, 24) for w in range(80, 201)] + [(w, 40) for w in range(95, 136)]  # every layout switch
    sizes += [(w, h) for w in (80, 114, 120, 160) for h in range(25, 51)]
    app = ConsoleApp(finished_engine, deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        for width, height in sizes:
            await resize(app, pilot, width, height)
            assert problems(app) == [], (width, height, app._layout)
            tape = app.query_one(TapePane)
            content = tape.content
            assert isinstance(content, Text)
            assert content.plain.count("\n") + 1 == tape.size.height  # every row of the tape is used


def test_layouts_are_chosen_by_what_the_content_needs() -> None:
    needs = {"tape": (67, 8), "heatmap": (56, 9), "risk": (45, 12), "router": (48, 9), "pnl": (47, 9)}
    assert plan(105, 30, needs).kind == "compact"  # 100-114 columns used to pick two columns and wrap trades
    assert plan(114, 40, needs).kind == "compact"
    wide = plan(120, 40, needs)
    assert wide.kind == "wide" and wide.right_width == 48 and wide.shown == set(PANES)
    assert plan(120, 30, needs).shown == {"tape", "heatmap", "risk", "pnl"}  # no room for the router: not cut
    assert plan(80, 24, needs).shown == {"tape", "risk"}
    assert plan(80, 50, needs).shown == set(PANES)
    assert plan(79, 40, needs).kind == plan(120, 23, needs).kind == "small"


async def test_below_80x24_the_console_says_what_it_needs_and_q_quits(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, deterministic=True)
    async with app.run_test(size=(79, 23)) as pilot:
        await wait_for(pilot, lambda: app._layout is not None and app._layout.kind == "small")
        message = app.query_one("#too-small", Static)
        assert message.display and "needs at least 80×24" in str(message.content)
        assert "79×23" in str(message.content) and "q" in str(message.content)
        assert not app.query_one("#body").display
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_every_console_key_is_on_the_key_line_at_80x24(live_app: Any) -> None:
    app = live_app()
    async with app.run_test(size=MIN_SIZE) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        line = app.query_one(KeyBar).content
        assert isinstance(line, Text) and line.cell_len <= 80
        for key in ("k", "K", "r", "l", "m", "p", "b", "?", "q"):  # the console's own keys; ^p from 86 columns
            assert f" {key} " in f" {line.plain}", key
        assert "…" not in line.plain
        await pilot.press("q")
        if app.screen is not app.screen_stack[0]:
            await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)


async def test_the_start_up_screen_fits_80x24(tmp_path: Any) -> None:
    settings = make_settings(session__duration_s=3000, session__clock="wall", session__skip_backtest=True,
                             session__symbols="AAPL,MSFT,GOOGL")  # fmt: skip
    app = starting(Engine(settings, tmp_path / "s"))
    async with app.run_test(size=MIN_SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, StartupScreen)
        screen._timer.stop()  # hold the screen with every phase done, as the operator last sees it
        while screen.steps:
            screen.steps.pop(0)()
        await pilot.pause()
        phases = screen.query_one("#phases")
        assert phases.region.bottom <= 24 and phases.region.right <= 80 and phases.region.y >= 0
        inner = sum(child.outer_size.height for child in phases.children)
        assert inner <= phases.content_region.height, "a phase is cut"
        screen.dismiss(None)
        await wait_for(pilot, lambda: app.engine_running)
        await pilot.press("q")
        if app.screen is not app.screen_stack[0]:
            await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)


async def test_every_dialog_fits_80x24(live_app: Any) -> None:
    app = live_app()
    async with app.run_test(size=MIN_SIZE) as pilot:
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None)
        for key in ("question_mark", "l", "k"):
            await pilot.press(key)
            await pilot.pause()
            dialog = app.screen.query_one("#dialog")
            assert dialog.region.bottom <= MIN_SIZE[1] and dialog.region.right <= MIN_SIZE[0], key
            inner = sum(child.outer_size.height for child in dialog.children)
            assert inner <= dialog.content_region.height, f"{key}: the dialog is cut"
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.screen_stack[0])
        await pilot.press("q")
        if app.screen is not app.screen_stack[0]:
            await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)


async def test_start_up_below_80x24_says_what_it_needs(tmp_path: Any) -> None:
    settings = make_settings(session__duration_s=3000, session__clock="wall", session__skip_backtest=True)
    app = starting(Engine(settings, tmp_path / "s"))
    async with app.run_test(size=(79, 23)) as pilot:
        screen = app.screen
        assert isinstance(screen, StartupScreen)
        message = screen.query_one("#startup-too-small", Static)
        await wait_for(pilot, lambda: bool(message.display))
        assert "needs at least 80×24" in str(message.content)
        assert not screen.query_one("#phases").display
        await pilot.press("q")  # quits before the session starts: nothing traded, nothing kept
        await wait_for(pilot, lambda: not app.is_running)
    assert app.abandoned and not (tmp_path / "s" / "journal.sqlite").exists()


async def test_panes_a_resize_brings_in_under_a_dialog_are_drawn(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, deterministic=True)
    async with app.run_test(size=MIN_SIZE) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        app.action_help()
        await pilot.pause()
        await pilot.resize_terminal(160, 50)
        await wait_for(pilot, lambda: app._layout is not None and app._layout.kind == "wide")
        for name in PANES:
            pane = app.query_one(f"#{name}", Pane)
            content = pane.content
            assert pane.display and isinstance(content, Text) and content.plain.strip(), name
