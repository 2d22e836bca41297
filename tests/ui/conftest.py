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
