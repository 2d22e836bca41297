"""The console shows a live feed's health, and a stale feed has paused trading by itself."""

from __future__ import annotations

from pathlib import Path

from hft_console.engine.engine import Engine
from hft_console.market.synthetic import SyntheticMarket
from hft_console.ui.app import ConsoleApp
from hft_console.ui.panes import StatusBar
from tests.conftest import make_settings
from tests.ui.conftest import pane_text, wait_for
from tests.ui.test_console import quit_app


class SwitchableFeed(SyntheticMarket):
    label = "finnhub"
    state = "live"

    @property
    def feed_state(self) -> str:
        return self.state


async def test_status_line_shows_live_then_stale_and_trading_pauses(tmp_path: Path) -> None:
    settings = make_settings(session__duration_s=3000, session__clock="wall")
    feed = SwitchableFeed(list(settings.session.symbols), settings.venues, settings.market, 7)
    engine = Engine(settings, tmp_path / "s", market=feed)
    app = ConsoleApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.query_one(StatusBar)
        await wait_for(pilot, lambda: "FEED LIVE" in pane_text(status, 120))
        assert "finnhub" in pane_text(status, 120)
        feed.state = "stale"
        await wait_for(pilot, lambda: "FEED STALE" in pane_text(status, 120))
        assert engine.strategy.feed_paused
        feed.state = "live"
        await wait_for(pilot, lambda: not engine.strategy.feed_paused)
        await quit_app(app, pilot)
