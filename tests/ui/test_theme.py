"""The colour-blind theme (ui/theme.py): the named colours the panes use turn to Okabe-Ito blue and
vermillion, the heatmap's bands to their own four, and the palette switches back and forth."""

from __future__ import annotations

import pytest

from hft_console.engine.engine import Engine
from hft_console.settings import SettingsError
from hft_console.ui import format as fmt
from hft_console.ui.app import ConsoleApp
from hft_console.ui.theme import COLOUR_BLIND_ANSI, HEAT
from tests.conftest import make_settings
from tests.ui.conftest import wait_for


def test_an_unknown_theme_is_refused_naming_the_key() -> None:
    with pytest.raises(SettingsError, match=r"session.theme = 'pink'.*default.*colour-blind"):
        make_settings(session__theme="pink")


async def test_the_colour_blind_theme_draws_gains_blue_and_losses_vermillion(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine, theme="colour-blind")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app._shown is not None)
            await pilot.pause()
            assert app.ansi_theme_dark is COLOUR_BLIND_ANSI and HEAT["colour-blind"] == fmt.HEAT_STYLES
            svg = app.export_screenshot().lower()
            assert "#56b4e9" in svg and "#d55e00" in svg  # green and red as drawn: sky blue, vermillion
            assert "#98e024" not in svg  # Textual's own ANSI green appears nowhere
            app.set_theme("default")
            await pilot.pause()
            assert HEAT["default"] == fmt.HEAT_STYLES
            svg = app.export_screenshot().lower()
            assert "#98e024" in svg and "#56b4e9" not in svg
    finally:
        fmt.HEAT_STYLES[:] = HEAT["default"]
