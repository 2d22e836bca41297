"""The console driven by keys with Textual's Pilot, over a real engine."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from textual.binding import Binding
from textual.containers import VerticalScroll

from hft_console.domain import EngineState
from hft_console.engine.engine import Engine
from hft_console.ui.app import ConsoleApp
from hft_console.ui.panes import HeatmapPane, PnlPane, RiskPane, RouterPane, StatusBar
from hft_console.ui.screens import PANES_HELP, ConfirmScreen, HelpScreen, LimitEditor
from hft_console.ui.startup import StartupScreen
from hft_console.ui.tape import TapePane
from tests.ui.conftest import hold_open_positions, pane_text, starting, wait_for


def journal(app: ConsoleApp, sql: str) -> list[Any]:
    assert app.engine.run_dir is not None
    db = sqlite3.connect(app.engine.run_dir / "journal.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def quit_app(app: ConsoleApp, pilot: Any) -> None:
    await pilot.press("q")
    if isinstance(app.screen, ConfirmScreen):
        await pilot.press("y")
    await wait_for(pilot, lambda: not app.engine_running)


async def test_panes_render_the_engines_numbers(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine)
    snap = finished_engine.snapshot
    assert snap is not None
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is snap)
        tape = pane_text(app.query_one(TapePane))
        last = snap.trades[-1]
        assert f"{last.price:,.2f}" in tape and last.venue in tape and "Total P&L" in tape
        assert app.query_one(TapePane).border_title == f"Trades  {snap.fills:,} fills"
        heat = pane_text(app.query_one(HeatmapPane), 120)
        assert all(v.name in heat for v in snap.venues)
        risk = pane_text(app.query_one(RiskPane))
        assert snap.state in risk and "position AAPL" in risk and "order rate" in risk
        router = pane_text(app.query_one(RouterPane))
        assert all(f"{a.pulls:,}" in router for a in snap.arms)
        pnl = pane_text(app.query_one(PnlPane))
        assert f"{abs(snap.pnl_total):,.2f}" in pnl and "GOOGL" in pnl
        status = pane_text(app.query_one(StatusBar), 120)
        assert "FINISHED" in status and "FAST" in status


async def test_kill_switch_halts_and_no_order_reaches_a_venue_after(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine.flow.orders > 5)
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.engine.risk.state is EngineState.HALTED)
        await wait_for(
            pilot,
            lambda: (
                app.query_one(StatusBar).content is not None and "HALTED" in pane_text(app.query_one(StatusBar), 120)
            ),
        )
        await quit_app(app, pilot)
    (halt_ts,) = journal(app, "select ts_ns from events where kind='STATE' and reason='HALTED'")[0]
    assert journal(app, f"select count(*) from orders where ts_ns > {halt_ts}")[0][0] == 0
    assert journal(app, "select count(*) from events where kind='COMMAND' and detail like '%\"halt\"%'")[0][0] == 1


async def test_kill_switch_cancelled_with_n_changes_nothing(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("k")
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.pause(0.1)
        assert app.engine.risk.state is EngineState.ACTIVE
        await quit_app(app, pilot)
    assert journal(app, "select count(*) from events where kind='STATE'")[0][0] == 0


async def test_flatten_then_halt_and_resume(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app(strategy__order_qty=300)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: any(app.engine.portfolio.position))
        await pilot.press("K", "y")
        await wait_for(pilot, lambda: app.engine.risk.state is EngineState.HALTED)
        assert app.engine.portfolio.position == [0, 0]
        await pilot.press("r", "y")
        await wait_for(pilot, lambda: app.engine.risk.state is EngineState.ACTIVE)
        await quit_app(app, pilot)
    states = [r[0] for r in journal(app, "select reason from events where kind='STATE' order by id")]
    assert states == ["REDUCING", "HALTED", "ACTIVE"]


async def test_limit_editor_refuses_bad_values_inline_and_applies_a_good_one(
    live_app: Callable[..., ConsoleApp],
) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        editor = app.screen
        assert isinstance(editor, LimitEditor)
        for typed, why in (("abc", "not a number"), ("-5", "greater than 0"), ("2.5", "whole number"),
                           ("1000000000", "hard cap"), ("0", "greater than 0")):  # fmt: skip
            editor.query_one("#value").value = ""  # type: ignore[attr-defined]
            await pilot.press(*typed, "enter")
            assert app.screen is editor, typed
            assert why in str(editor.query_one("#error").content)  # type: ignore[attr-defined]
        assert app.engine.risk.limits.max_position == 10_000
        editor.query_one("#value").value = ""  # type: ignore[attr-defined]
        await pilot.press(*"20,000", "enter")
        assert not isinstance(app.screen, LimitEditor)
        await wait_for(pilot, lambda: app.engine.risk.limits.max_position == 20_000)
        await quit_app(app, pilot)
    commands = journal(app, "select reason, detail from events where kind='COMMAND' and detail like '%set_limit%'")
    assert len(commands) == 1 and commands[0][0] == "accepted" and '"value": 20000' in commands[0][1]


async def test_router_cycle_and_strategy_pause(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")
        await wait_for(pilot, lambda: app.engine.router.name == "lowest-latency")
        await pilot.press("p")
        assert app.query_one(StatusBar).paused
        await wait_for(pilot, lambda: app.engine.strategy.paused)
        await pilot.press("p")
        await wait_for(pilot, lambda: not app.engine.strategy.paused)
        await quit_app(app, pilot)


async def test_help_lists_every_binding_and_any_key_closes_it(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = " ".join(key for key, _ in app.screen.keys)
        shown = {
            "question_mark": "?",
            "pagedown": "PgDn",
            "pageup": "PgUp",
            "home": "Home",
            "end": "End",
            "slash": "/",
            "escape": "Esc",
        }
        for binding in app.BINDINGS:
            assert isinstance(binding, Binding)
            for key in binding.key.split(","):
                assert shown.get(key, key) in listed, key
        await pilot.press("x")
        assert not isinstance(app.screen, HelpScreen)
        await quit_app(app, pilot)


async def test_quit_asks_when_positions_are_open(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await hold_open_positions(app, pilot)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.engine_running
        await quit_app(app, pilot)
    assert app.engine.summary is not None


async def test_an_unknown_key_is_ignored_and_nothing_breaks(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("z", "Z", "f5", "ctrl+x")
        assert app.engine_running and app.engine_error is None
        await quit_app(app, pilot)


async def test_compact_layout_at_80x24_keeps_tape_risk_and_keys(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        assert app.screen.has_class("compact")
        assert app.query_one(TapePane).display and app.query_one(RiskPane).display
        assert not app.query_one(HeatmapPane).display
        await pilot.press("k", "y")
        await wait_for(pilot, lambda: app.engine.risk.state is EngineState.HALTED)
        await quit_app(app, pilot)


async def test_startup_shows_three_phases_then_starts_the_engine(tmp_path: Any) -> None:
    from tests.conftest import make_settings

    settings = make_settings(session__duration_s=3000, session__clock="wall")
    app = starting(Engine(settings, tmp_path / "s"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, StartupScreen)
        assert not app.engine_running
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.engine_running)
        await quit_app(app, pilot)


async def test_startup_runs_the_pre_session_backtest_and_shows_its_result(tmp_path: Any) -> None:
    from textual.widgets import Static

    from tests.conftest import make_settings

    settings = make_settings(session__duration_s=3000, session__clock="wall", backtest__startup_duration_s=1)
    app = starting(Engine(settings, tmp_path / "s"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, StartupScreen)
        await wait_for(pilot, lambda: bool(screen.backtest_line), timeout=60)
        text = str(screen.query_one("#d2", Static).render())
        assert "Backtest best-price: 8 scenarios x 1 s on synthetic: P&L" in text
        await wait_for(pilot, lambda: app.engine_running)
        assert len(app._notifications) == 0  # the result was on the screen: no toast repeats it
        await quit_app(app, pilot)


async def test_command_palette_offers_every_action(live_app: Callable[..., ConsoleApp]) -> None:
    from textual.command import CommandPalette

    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Kill switch: halt", "Flatten then halt", "Resume trading", "Edit a risk limit"} <= titles
        assert {f"Router: {name}" for name in ("best-price", "random")} <= titles
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await quit_app(app, pilot)


async def test_an_engine_that_dies_is_shown_to_the_operator(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()

    def broken() -> None:
        raise RuntimeError("venue gateway exploded")

    app.engine.run = broken  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "ENGINE STOPPED" in app.query_one(StatusBar).dead)
        assert "venue gateway exploded" in app.query_one(StatusBar).dead
        await pilot.press("k")  # trading keys are disabled without a running engine
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_keys_pressed_during_start_up_never_strand_the_operator(tmp_path: Any) -> None:
    from tests.conftest import make_settings

    app = starting(Engine(make_settings(session__duration_s=3000, session__clock="wall"), tmp_path / "s"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, StartupScreen)
        app.simulate_key("k")  # trading keys are disabled during start-up
        await pilot.pause(0.05)
        app.action_help()  # help opens on top of start-up, which waits for it to close
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(2.0)  # time for start-up to have gone on, had it not waited
        assert isinstance(app.screen, HelpScreen) and StartupScreen in {type(s) for s in app.screen_stack}
        assert not app.engine_running and not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
        await pilot.press("x")
        await wait_for(pilot, lambda: app.engine_running and not isinstance(app.screen, StartupScreen))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("p")  # closes the help and does nothing else
        assert not isinstance(app.screen, HelpScreen) and not app.query_one(StatusBar).paused
        await quit_app(app, pilot)


async def test_after_the_session_trading_keys_do_nothing_and_ctrl_q_still_asks(
    finished_engine: Engine, live_app: Callable[..., ConsoleApp]
) -> None:
    done = ConsoleApp(finished_engine)
    async with done.run_test(size=(120, 40)) as pilot:
        await pilot.press("k", "p", "m", "l")
        assert not isinstance(done.screen, (ConfirmScreen, LimitEditor))
        assert not done.query_one(StatusBar).paused
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await hold_open_positions(app, pilot)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)


async def test_help_explains_each_pane_and_scrolls_at_80x24(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        body = app.screen.query_one("#help-body", VerticalScroll)
        dialog = app.screen.query_one("#dialog")
        assert dialog.region.bottom <= 24 and body.max_scroll_y > 0  # more than fits: it scrolls
        assert {"Trades", "Venue latency", "Risk", "Router"} <= {p for p, _ in PANES_HELP}
        await pilot.press("end")
        await wait_for(pilot, lambda: body.scroll_y == body.max_scroll_y)
        assert isinstance(app.screen, HelpScreen)  # scrolling keys do not close it
        await pilot.press("home")
        await wait_for(pilot, lambda: body.scroll_y == 0)
        await pilot.press("x")
        assert not isinstance(app.screen, HelpScreen)
        await quit_app(app, pilot)
