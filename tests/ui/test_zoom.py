"""Keys 1-6 zoom a pane over the whole body and back, so every pane is reachable at 80x24."""

from __future__ import annotations

from hft_console.engine.engine import Engine
from hft_console.ui.app import ZOOM, ConsoleApp
from hft_console.ui.panes import Pane
from tests.ui.conftest import wait_for


async def test_each_key_zooms_its_pane_at_80x24_and_the_same_key_or_escape_restores(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        main = app.screen
        normal = {name: app.query_one(f"#{name}", Pane).display for name in ZOOM}
        assert not all(normal.values())  # at 80x24 some panes do not fit: zoom is how they are seen
        for key, name in enumerate(ZOOM, 1):
            pane = app.query_one(f"#{name}", Pane)
            await pilot.press(str(key))
            await pilot.pause()
            assert main.maximized is pane and pane.display
            assert pane.region.height == 24 - 2 and pane.region.width == 80  # all but the status and key lines
            assert app.query_one("#status").region.y == 0 and app.query_one("#keys").region.y == 23
            assert pane.last is not None and pane.last[0] is app._shown  # drawn with the shown snapshot
            await pilot.press(str(key) if key % 2 else "escape")
            await pilot.pause()
            assert main.maximized is None
            assert {n: app.query_one(f"#{n}", Pane).display for n in ZOOM} == normal  # the layout as it was
