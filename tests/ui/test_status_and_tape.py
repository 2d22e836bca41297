"""The status line stays current and readable (notes expire, the progress bar always has its place, a
dialog never freezes it); start-up says things once and never over a gauge; the tape pages."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.widgets._toast import Toast

from hft_console.engine.engine import Engine
from hft_console.ui.app import ConsoleApp
from hft_console.ui.format import clock
from hft_console.ui.panes import NOTE_S, StatusBar
from hft_console.ui.screens import ConfirmScreen
from hft_console.ui.tape import TapeFilter, TapePane
from tests.conftest import make_settings
from tests.ui.conftest import starting, wait_for
from tests.ui.test_console import quit_app


def line(status: StatusBar) -> str:
    content = status.content
    assert isinstance(content, Text)
    return content.plain


async def test_status_notes_expire(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, deterministic=True)
    now = [1000.0]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        status = app.query_one(StatusBar)
        status.now = lambda: now[0]  # the notes' clock, moved by hand: no real waiting
        status.note("resume sent")
        assert "resume sent" in line(status)
        now[0] += NOTE_S - 0.001
        app.refresh_panes()
        assert "resume sent" in line(status)
        now[0] += 0.002
        app.refresh_panes()
        assert "resume sent" not in line(status) and "P&L" in line(status)


async def test_a_long_note_never_pushes_the_progress_bar_off_the_line(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, deterministic=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        status = app.query_one(StatusBar)
        status.paused = True
        shown = app._shown
        assert shown is not None
        snap = replace(shown, feed="stale")
        status.render_snapshot(snap, True)
        status.note("flattening: REDUCING until flat, then HALTED — " * 4)
        text = line(status)
        assert Text(text).cell_len == 80
        assert text.count("█") + text.count("░") >= StatusBar.GAUGE_MIN
        # the session clock (no hours under an hour) and P&L
        assert re.search(r" 00:20/00:20 · P&L [+-]\$\d", text)
        assert "FINISHED" in text and "PAUSED" in text and "FEED STALE" in text and "· fl…" in text
        status.paused = False
        status.render_snapshot(shown, True)
        text = line(status)
        assert Text(text).cell_len == 80 and "· flattening: REDU…" in text
        assert text.count("█") + text.count("░") >= StatusBar.GAUGE_MIN


async def test_an_open_dialog_never_freezes_the_status_line(live_app: Any) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        held = app._shown
        assert held is not None
        # the panes behind the dialog hold still and say so; the status line follows the engine
        await wait_for(pilot, lambda: app._status_snap is not None and app._status_snap.engine_ns > held.engine_ns)
        assert app.query_one("#body").has_class("stale") and app._shown is held
        latest = app._status_snap
        assert latest is not None
        assert f"{clock(latest.elapsed_s)[3:]}/" in line(app.query_one(StatusBar))
        await pilot.press("n")
        await wait_for(pilot, lambda: not app.query_one("#body").has_class("stale") and app._shown is not held)
        await quit_app(app, pilot)


async def test_start_up_says_nothing_the_screen_already_shows(tmp_path: Any) -> None:
    settings = make_settings(session__duration_s=3000, session__clock="wall", session__skip_backtest=True)
    app = starting(Engine(settings, tmp_path / "s"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None)
        assert len(app._notifications) == 0  # the keys are on the key line; no toast repeats them
        await quit_app(app, pilot)


async def test_a_late_backtest_result_never_covers_a_gauge(tmp_path: Any) -> None:
    settings = make_settings(session__duration_s=3000, session__clock="wall", backtest__startup_duration_s=1)
    app = starting(Engine(settings, tmp_path / "s"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("enter")  # skip ahead: the backtest's result comes later, as a notification
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None)
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)), timeout=60)
        await pilot.pause()
        for toast in app.screen.query(Toast):
            for gauge in ("#status", "#risk", "#router", "#pnl", "#heatmap"):
                pane = app.query_one(gauge)
                assert not pane.display or not toast.region.overlaps(pane.region), gauge
        await quit_app(app, pilot)


def rows(tape: TapePane) -> list[str]:
    content = tape.content
    assert isinstance(content, Text)
    return content.plain.split("\n")[1:]


async def test_the_tape_uses_all_its_rows_and_pages(finished_engine: Engine) -> None:
    snap = finished_engine.snapshot
    assert snap is not None
    trades = snap.trades
    app = ConsoleApp(finished_engine, deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        tape = app.query_one(TapePane)
        page = tape.size.height - 1
        assert len(trades) > 2 * page and len(rows(tape)) == page  # every row below the header holds a trade
        assert rows(tape)[0].startswith(tape._cells(snap, trades[-1])[0])  # type: ignore[arg-type]
        first = rows(tape)

        def time_of(i: int) -> str:
            return str(tape._cells(snap, trades[i])[0])

        await pilot.press("pagedown")
        assert rows(tape)[0] == first[-1]  # a page down, one row kept for context
        assert "Home: newest" in str(tape.border_subtitle)
        await pilot.press("end")
        assert rows(tape)[-1].startswith(time_of(0)) and len(rows(tape)) == page
        await pilot.press("pageup")
        assert rows(tape)[-1].startswith(time_of(page - 1))
        await pilot.press("home")
        assert rows(tape) == first and tape.top_seq is None


async def test_a_paged_tape_holds_still_while_trades_arrive(live_app: Any) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        tape = app.query_one(TapePane)
        await wait_for(pilot, lambda: app._shown is not None and len(app._shown.trades) > tape.size.height + 2)
        await pilot.press("pagedown")
        held = rows(tape)
        shown = app._shown
        assert shown is not None
        fills = shown.fills
        await wait_for(pilot, lambda: app._shown is not None and app._shown.fills > fills + 2)
        await pilot.pause(0.2)
        assert rows(tape) == held
        await pilot.press("home")
        shown = app._shown
        assert shown is not None
        assert rows(tape)[0].startswith(str(tape._cells(shown, shown.trades[-1])[0]))
        await quit_app(app, pilot)


async def test_slash_filters_the_tape_by_symbol_venue_and_side_and_pages_within_it(finished_engine: Engine) -> None:
    snap = finished_engine.snapshot
    assert snap is not None
    aapl_buys = [f for f in snap.trades if f.symbol == "AAPL" and f.side > 0]
    app = ConsoleApp(finished_engine, deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        tape = app.query_one(TapePane)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TapeFilter))
        await pilot.press(*"aapl buy", "enter")
        await wait_for(pilot, lambda: tape.filter == "aapl buy")
        shown = rows(tape)
        page = tape.size.height - 1
        assert len(shown) == min(page, len(aapl_buys)) > 0
        assert all(" AAPL " in r and " BUY " in r for r in shown)
        assert f"Trades  {len(aapl_buys):,} of {len(snap.trades):,} · /aapl buy" in str(tape.border_title)
        if len(aapl_buys) > page:  # paging counts the filtered trades
            await pilot.press("end")
            assert rows(tape)[-1].startswith(str(tape._cells(snap, aapl_buys[0])[0]))
            await pilot.press("home")
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TapeFilter))
        await pilot.press("escape")  # keeps the filter
        assert tape.filter == "aapl buy"
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TapeFilter))
        await pilot.press(*["backspace"] * 8, "enter")  # empty: every trade again
        await wait_for(pilot, lambda: tape.filter == "")
        assert rows(tape)[0].startswith(str(tape._cells(snap, snap.trades[-1])[0]))


def test_a_filter_word_matches_symbol_venue_or_side_in_any_case(finished_engine: Engine) -> None:
    snap = finished_engine.snapshot
    assert snap is not None
    tape = TapePane()
    f = snap.trades[-1]
    for text, ok in ((f.symbol.lower(), True), (f.venue, True), (f.side.label[0].lower(), True),
                     (f"{f.symbol},{f.venue}", True), ("ZZZZ", False), (f"{f.symbol} ZZZZ", False)):  # fmt: skip
        tape.filter = text
        assert tape.matches(f) is ok, text
