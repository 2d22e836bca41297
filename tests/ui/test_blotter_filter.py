"""The blotter, while open, takes / (filter by venue, symbol, side, type, state) and the paging keys."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from hft_console.domain import OrderStatus, Side
from hft_console.ui.blotter import BlotterPane
from hft_console.ui.tape import TapeFilter, TapePane
from tests.ui.conftest import wait_for
from tests.ui.test_blotter import console, order, rows, snapshot


def ids(pane: BlotterPane) -> list[str]:
    """Each shown row's venue, symbol and price: enough to name the order in BOOK."""
    return [" ".join(line.split()[:2] + line.split()[4:5]) for line in rows(pane)[1:]]


async def filter_with(pilot: Any, text: str) -> None:
    await pilot.press("slash")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TapeFilter))
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, TapeFilter))


async def test_slash_filters_the_open_blotter_by_state_and_venue_and_leaves_the_tape_alone() -> None:
    app = console(snapshot())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.press("b")
        blotter = app.query_one(BlotterPane)
        await wait_for(pilot, lambda: blotter.display and blotter.last is not None)
        await filter_with(pilot, "nasdaq")
        assert ids(blotter) == ["NASDAQ AAPL 100.00", "NASDAQ AAPL 100.02"]
        assert blotter.border_title == "Orders  2 of 8 · /nasdaq"
        await filter_with(pilot, "pending")  # pend new, pend cxl
        assert ids(blotter) == ["ARCA AAPL 100.02", "NASDAQ AAPL 100.00", "NYSE MSFT 299.50"]
        await filter_with(pilot, "partial AAPL b")
        assert ids(blotter) == ["NYSE AAPL 100.00"]
        await filter_with(pilot, "post")
        assert ids(blotter) == ["NYSE MSFT 299.50"]
        await filter_with(pilot, "IEX")
        assert rows(blotter)[1].strip() == "no working order matches /IEX"
        await filter_with(pilot, "")
        assert len(ids(blotter)) == 8 and app.query_one(TapePane).filter == ""
        await pilot.press("b")  # closed: / is the tape's again
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TapeFilter))
        assert app.screen.what == "trades"


async def test_the_paging_keys_page_the_open_blotter() -> None:
    book = [order(i, "AAPL", Side.BUY, 100.0 - i / 100, status=OrderStatus.ACCEPTED) for i in range(1, 61)]
    app = console(snapshot(book))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        await pilot.press("b")
        blotter = app.query_one(BlotterPane)
        await wait_for(pilot, lambda: blotter.display and blotter.last is not None)
        page = len(ids(blotter))
        assert 0 < page < 60 and ids(blotter)[0] == "NYSE AAPL 99.99"
        await pilot.press("pagedown")
        assert ids(blotter)[0] == f"NYSE AAPL {100 - (page + 1) / 100:.2f}"
        assert blotter.border_subtitle.startswith(f"rows {page + 1}–")
        await pilot.press("end")
        assert ids(blotter)[-1] == "NYSE AAPL 99.40"
        await pilot.press("home")
        assert ids(blotter)[0] == "NYSE AAPL 99.99"
