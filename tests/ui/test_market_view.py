"""Key v: one symbol's market across the venues, its NBBO and our orders there; [ ] change the symbol."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from rich.console import Console
from textual.widgets import Label, Static

from hft_console.engine.engine import Engine
from hft_console.ui.app import ConsoleApp
from hft_console.ui.market import MarketScreen, age_text, market_text, nbbo
from tests.conftest import make_settings
from tests.ui.conftest import wait_for
from tests.ui.test_blotter import NOW, console, snapshot
from tests.ui.test_console import quit_app

# AAPL at NYSE, NASDAQ, ARCA (fresh, fresh, two seconds old: stale); MSFT at NYSE only
QUOTES = (
    (NOW - 2_000_000, 99.99, 100.01, 300, 200), (NOW - 40_000, 99.99, 100.02, 500, 100),
    (NOW - 2_000_000_000, 99.98, 100.01, 100, 700),
    (NOW - 1_000, 299.9, 300.1, 50, 60), None, None,
)  # fmt: skip


def text(app: ConsoleApp) -> tuple[str, str]:
    screen = app.screen
    title = str(screen.query_one("#title", Label).content)
    return title, rendered(screen.query_one("#venues", Static).content, 120)


def rendered(table: object, width: int) -> str:
    out = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    out.print(table)
    return out.export_text()


def test_the_nbbo_sums_the_sizes_at_the_best_prices() -> None:
    assert nbbo(list(QUOTES[:3])) == (99.99, 800, 100.01, 900)
    assert nbbo([None, (0, 10.0, 10.1, 0, 5)]) is None  # no bid shown anywhere
    assert [age_text(x) for x in (500, 12_000_000, 3_200_000_000)] == ["0µs", "12ms", "3.2s"]


def test_the_view_shows_each_venue_the_nbbo_stale_quotes_and_our_orders() -> None:
    snap = dataclasses.replace(snapshot(), quotes=QUOTES)
    title, table = market_text(snap, 0)
    assert title == "AAPL  NBBO 99.99 × 800  |  100.01 × 900  spread 2.0¢"
    lines = rendered(table, 140).splitlines()
    nyse = next(line for line in lines if line.startswith("NYSE"))
    arca = next(line for line in lines if line.startswith("ARCA"))
    assert "2ms" in nyse and "B 99.98 100 1.2k/3.4k" in nyse and "S 100.03 100" in nyse
    assert "2.0s stale" in arca
    msft_title, _ = market_text(snap, 1)
    assert msft_title.startswith("MSFT  NBBO 299.90 × 50")


async def test_v_opens_the_view_brackets_change_symbol_and_it_reopens_where_it_was() -> None:
    app = console(dataclasses.replace(snapshot(), quotes=QUOTES))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen) and "AAPL" in text(app)[0])
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: text(app)[0].startswith("MSFT"))
        await pilot.press("right_square_bracket")  # wraps round
        await wait_for(pilot, lambda: text(app)[0].startswith("AAPL"))
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: text(app)[0].startswith("MSFT"))
        await pilot.press("escape")
        assert not isinstance(app.screen, MarketScreen)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen) and text(app)[0].startswith("MSFT"))
        await pilot.press("v")
        assert not isinstance(app.screen, MarketScreen)


async def test_a_live_session_fills_the_view_from_the_engines_quotes(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None and any(app._shown.quotes))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen) and "NBBO" in text(app)[0])
        title, table = text(app)
        assert title.startswith("AAPL  NBBO ") and "×" in title
        assert all(v in table for v in ("NYSE", "NASDAQ", "IEX"))
        dialog = app.screen.query_one("#dialog")
        assert dialog.region.bottom <= 24 and dialog.region.right <= 80
        await pilot.press("escape")
        await quit_app(app, pilot)


def test_the_engines_snapshot_carries_every_streams_latest_quote(tmp_path: object) -> None:
    engine = Engine(make_settings(session__duration_s=2), None)
    engine.run()
    engine.publish()
    snap = engine.snapshot
    assert snap is not None and len(snap.quotes) == len(engine.symbols) * len(engine.venues)
    assert snap.quotes == tuple(engine.normalizer.last_tick)
