from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hft_console.backtest.startup import session_info
from hft_console.engine.engine import Engine
from hft_console.ui.app import ConsoleApp
from hft_console.ui.panes import Pane
from tests.conftest import make_settings


def pane_text(pane: Pane, width: int = 100) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(pane.content)
    return console.export_text()


def starting(engine: Engine) -> ConsoleApp:
    """A console that opens on the start-up screen, as the session command starts it."""
    return ConsoleApp(engine, startup=session_info(engine))


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait on a condition, never on a fixed sleep."""
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)
        waited += 0.02


def shown_positions(app: ConsoleApp) -> dict[str, int]:
    """The open positions the console shows now (symbol: signed shares)."""
    return {p.symbol: p.position for p in app._shown.positions if p.position} if app._shown else {}


async def hold_open_positions(app: ConsoleApp, pilot: Any) -> None:
    """Positions open, and held: the strategy paused with nothing in flight, and the console showing it.
    A test that asks the quit gate twice must not race the strategy closing its positions in between
    (on a busy machine the gap between two questions is long enough for that)."""
    engine = app.engine
    for _ in range(50):
        await wait_for(pilot, lambda: app._shown is not None and any(p.position for p in app._shown.positions))
        await pilot.press("p")
        await wait_for(pilot, lambda: engine.strategy.paused and not engine.flow.working)
        held = {sym: qty for sym, qty in zip(engine.portfolio.symbols, engine.portfolio.position, strict=True) if qty}
        if held:
            await wait_for(pilot, lambda held=held: shown_positions(app) == held)
            return
        await pilot.press("p")  # flat by the time it paused: trade on and try again
        await wait_for(pilot, lambda: not engine.strategy.paused)
    raise AssertionError("no position stayed open")


@pytest.fixture
def finished_engine(tmp_path: Path) -> Engine:
    engine = Engine(make_settings(session__duration_s=20, session__symbols="AAPL,MSFT,GOOGL"), tmp_path / "done")
    engine.run()
    return engine


@pytest.fixture
def live_app(tmp_path: Path) -> Callable[..., ConsoleApp]:
    """A console over a live engine on the wall clock (as an operator runs it), ended by the test."""

    def make(**flags: Any) -> ConsoleApp:
        settings = make_settings(session__duration_s=3000, session__clock="wall", **flags)
        return ConsoleApp(Engine(settings, tmp_path / "live"))

    return make
