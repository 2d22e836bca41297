"""Every way out of the console goes through one gate; a signal ends the session cleanly without asking;
Textual's own keys and palette commands are routed through the console's rules or refused."""

from __future__ import annotations

import codecs
import inspect
import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from hft_console.engine.engine import Engine
from hft_console.signals import exit_status
from hft_console.ui.app import HARMLESS_ACTIONS, ROUTED_ACTIONS, ConsoleApp
from hft_console.ui.screens import ConfirmScreen, HelpScreen
from hft_console.ui.startup import StartupScreen
from tests.conftest import make_settings
from tests.ui.conftest import hold_open_positions, starting, wait_for


async def positions_open(app: ConsoleApp, pilot: Any) -> None:
    await wait_for(pilot, lambda: app._shown is not None and any(p.position for p in app._shown.positions))


def ended_cleanly(app: ConsoleApp) -> dict[str, Any]:
    """The session's end as a confirmed q leaves it: SESSION end journaled, summary.json written, the
    journal closed and its write-ahead log checkpointed away."""
    run_dir = app.engine.run_dir
    assert run_dir is not None and app.engine.finished
    db = sqlite3.connect(run_dir / "journal.sqlite")
    try:
        ends = db.execute("select count(*) from events where kind='SESSION' and reason='end'").fetchone()[0]
    finally:
        db.close()
    assert ends == 1
    assert not (run_dir / "journal.sqlite-wal").exists()
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return summary


async def test_ctrl_c_asks_like_q(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await hold_open_positions(app, pilot)
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.title_text == "QUIT"
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))  # closed on a later message
        assert app.engine_running
        await pilot.press("ctrl+c", "y")
        await wait_for(pilot, lambda: not app.engine_running)
    ended_cleanly(app)
    assert app.exit_signal is None


async def test_textual_quit_and_the_palettes_quit_go_through_the_gate(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await hold_open_positions(app, pilot)  # it asks twice: the positions must still be open the second time
        await app.run_action("quit")  # Textual's own quit action: what its ctrl+q and palette "Quit" call
        assert isinstance(app.screen, ConfirmScreen) and app.engine_running
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))  # closed on a later message
        quit_ = next(c for c in app.get_system_commands(app.screen) if c.title == "Quit")
        quit_.callback()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))  # the dialog opens on a later message
        assert app.engine_running
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)
    ended_cleanly(app)


def test_every_builtin_action_is_routed_harmless_or_refused(finished_engine: Any) -> None:
    """Audit of Textual's own App actions: a new one in a Textual upgrade fails here until classified."""
    builtins = {name.removeprefix("action_") for name, _ in inspect.getmembers(App) if name.startswith("action_")}
    app = ConsoleApp(finished_engine)
    for action in builtins:
        allowed = app.check_action(action, ())
        if action in ROUTED_ACTIONS:
            assert getattr(ConsoleApp, f"action_{action}") is not getattr(App, f"action_{action}"), action
        elif action in HARMLESS_ACTIONS:
            assert allowed, action
        else:
            assert allowed is False, f"Textual's action {action!r} is neither routed, harmless nor refused"
    assert {"change_theme", "screenshot", "suspend_process", "pop_screen", "toggle_dark"} <= builtins


async def test_every_binding_is_the_consoles(finished_engine: Any) -> None:
    """Every key live on the console (Textual's App ctrl+q/ctrl+c and Screen defaults included) is the
    console's own or harmless; ctrl+q and ctrl+c end at the console's gate, ahead of Screen's copy."""
    app = ConsoleApp(finished_engine)
    async with app.run_test(size=(120, 40)):
        active = app.active_bindings
    screen_actions = set()
    for key, live in active.items():
        action = live.binding.action.split("(")[0]
        if isinstance(live.node, ConsoleApp):
            assert action in ConsoleApp.ALLOWED_ACTIONS, (key, action)
        else:
            screen_actions.add(action)
    for key in ("ctrl+q", "ctrl+c"):
        binding = active[key].binding
        assert binding.action == "quit_console" and binding.priority
    assert screen_actions == {"app.focus_next", "app.focus_previous", "screen.copy_text"}


async def test_the_palette_offers_only_the_consoles_commands(
    finished_engine: Any, live_app: Callable[..., ConsoleApp]
) -> None:
    done = ConsoleApp(finished_engine)
    async with done.run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in done.get_system_commands(done.screen)]
        # Textual's own theme picker, screenshot and keys panel are not offered, nor trading without a session;
        # the console's colour-blind theme is
        assert titles == ["Quit", "Keys", "Theme: colour-blind"]
        next(c for c in done.get_system_commands(done.screen) if c.title == "Keys").callback()
        await wait_for(pilot, lambda: isinstance(done.screen, HelpScreen))
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not {"Theme", "Screenshot", "Maximize", "Minimize"} & set(titles)
        assert {"Quit", "Keys", "Kill switch: halt", "Flatten then halt", "Resume trading"} <= set(titles)
        await pilot.press("k")  # over a dialog the palette does not open: the dialog has the operator
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.press("q")
        if isinstance(app.screen, ConfirmScreen):
            await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
async def test_a_signal_ends_the_session_without_asking(live_app: Callable[..., ConsoleApp], signum: int) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await positions_open(app, pilot)
        await pilot.press("k")  # a dialog is open: nobody is going to answer it
        assert isinstance(app.screen, ConfirmScreen)
        app.signal_received(signum)  # what the handler run_console installs calls
        await wait_for(pilot, lambda: not app.is_running)
    summary = ended_cleanly(app)
    assert app.exit_signal == signum and summary["risk"]["state"] == "ACTIVE"  # the kill dialog was never answered


async def test_a_signal_during_start_up_keeps_nothing(tmp_path: Path) -> None:
    """Before the session starts nothing was traded: as headless does, nothing is kept, so the same
    run directory can be used again."""
    settings = make_settings(session__duration_s=3000, session__clock="wall")
    app = starting(Engine(settings, tmp_path / "s"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, StartupScreen)
        app.signal_received(signal.SIGTERM)
        await wait_for(pilot, lambda: not app.is_running)
    assert app.abandoned and app.exit_signal == signal.SIGTERM and app.engine_thread is None
    assert not (tmp_path / "s" / "journal.sqlite").exists() and not (tmp_path / "s" / "summary.json").exists()


def test_exit_status_is_128_plus_the_signal() -> None:
    assert [exit_status(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)] == [130, 143, 129]


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_is_not_utf8_is_refused_with_one_line(tmp_path: Path, encoding: str) -> None:
    """In a real (pseudo-)terminal whose encoding is not UTF-8 the console would draw literal escapes
    such as \\u2588: it refuses with one line instead, before anything is written."""
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADING_", "LOG_LEVEL"))}
    env["PYTHONIOENCODING"] = encoding
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hft_console", "--mode", "fast", "--run-dir", str(tmp_path / "r")],
            stdin=secondary, stdout=secondary, stderr=secondary, env=env, timeout=60, check=False,
        )  # fmt: skip
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the terminal has nothing more
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(primary)
    text = output.decode("ascii", "replace").strip()
    assert proc.returncode == 2
    assert text.count("\n") == 0 and "UTF-8" in text and codecs.lookup(encoding).name in text and "--no-ui" in text
    assert "Traceback" not in text and "\\u" not in text
    assert not (tmp_path / "r").exists()
