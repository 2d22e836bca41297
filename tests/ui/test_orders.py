"""Key o (the order ticket) and h/f/r in the market view (per-symbol halt, flatten, resume): each asks,
then reaches the engine as the operator's command and is journaled; a bad ticket is refused in place."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from textual.widgets import Input, Label, Static

from hft_console.execution.manual import parse_order
from hft_console.ui.app import ConsoleApp
from hft_console.ui.market import MarketScreen
from hft_console.ui.orders import OrderTicket, ticket_args, ticket_text
from hft_console.ui.screens import ConfirmScreen
from tests.ui.conftest import wait_for
from tests.ui.test_console import quit_app

SYMBOLS, VENUES = ["AAPL", "MSFT"], ["NYSE", "NASDAQ", "IEX"]


def journal(app: ConsoleApp, sql: str) -> list[Any]:
    db = sqlite3.connect(app.engine.run_dir / "journal.sqlite")  # type: ignore[operator]
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_a_ticket_line_reads_as_a_trader_types_it() -> None:
    assert ticket_args("buy 100 aapl", SYMBOLS, VENUES) == {
        "type": "market", "venue": "router", "side": "buy", "qty": "100", "symbol": "AAPL"
    }  # fmt: skip
    args = ticket_args("s 1,000 MSFT lmt 401.25 @ nasdaq", SYMBOLS, VENUES)
    assert args == {
        "type": "limit",
        "venue": "NASDAQ",
        "side": "sell",
        "qty": "1,000",
        "symbol": "MSFT",
        "limit": "401.25",
    }
    order = parse_order(args, SYMBOLS, VENUES, 0.01)  # type: ignore[arg-type]
    assert not isinstance(order, str)
    assert ticket_text(order, SYMBOLS, VENUES) == "SELL 1,000 MSFT LIMIT 401.25 (IOC), at NASDAQ"
    post = parse_order(ticket_args("AAPL post 99.5 b 5", SYMBOLS, VENUES), SYMBOLS, VENUES, 0.01)  # type: ignore[arg-type]
    assert not isinstance(post, str)
    assert ticket_text(post, SYMBOLS, VENUES) == "BUY 5 AAPL LIMIT 99.50 (rests, DAY), the posting rule picks the venue"
    for line, words in (
        ("buy AAPL", "no qty"),
        ("100 AAPL", "no side"),
        ("buy 100", "no symbol: expected AAPL, MSFT"),
        ("buy 100 AAPL limit", "limit: a price must follow"),
        ("buy 100 AAPL at", "at: a venue"),
        ("buy 100 TSLA", "'TSLA' is not a side, quantity, symbol"),
    ):
        assert words in str(ticket_args(line, SYMBOLS, VENUES)), line


def preview(app: ConsoleApp) -> str:
    return str(app.screen.query_one("#preview", Static).content)


async def test_o_sends_a_confirmed_ticket_and_refuses_a_bad_one(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    rang: list[bool] = []
    app.bell = lambda: rang.append(True)  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None and any(app._shown.quotes))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderTicket))
        await pilot.press(*"buy AAPL", "enter")
        assert "no qty" in preview(app) and rang and isinstance(app.screen, OrderTicket)  # refused in place
        app.screen.query_one(Input).value = "buy 100 AAPL at NYSE"
        await wait_for(pilot, lambda: preview(app) == "BUY 100 AAPL MARKET (IOC at the touch), at NYSE")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # not sent: back to the ticket
        await wait_for(pilot, lambda: isinstance(app.screen, OrderTicket))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (ConfirmScreen, OrderTicket)))
        await wait_for(pilot, lambda: bool(journal(app, "select 1 from events where kind = 'MANUAL_ORDER'")))
        await quit_app(app, pilot)
    rows = journal(app, "select reason, detail from events where kind = 'COMMAND' and detail like '%\"order\"%'")
    assert len(rows) == 1 and rows[0][0] == "accepted"
    detail = json.loads(rows[0][1])
    assert detail["args"] == {"type": "market", "venue": "NYSE", "side": "buy", "qty": "100", "symbol": "AAPL"}
    assert detail["source"] == "console"
    ids = json.loads(journal(app, "select detail from events where kind = 'MANUAL_ORDER'")[0][0])["order_ids"]
    assert journal(app, f"select router, venue, symbol, side, qty from orders where order_id = {ids[0]}") == [
        ("operator", "NYSE", "AAPL", "BUY", 100)
    ]


async def test_the_market_view_halts_and_resumes_its_symbol(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None and any(app._shown.quotes))
        await pilot.press("v", "right_square_bracket")
        title = lambda: str(app.screen.query_one("#title", Label).content)  # noqa: E731
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen) and title().startswith("MSFT"))
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Halt MSFT?" in str(app.screen.query_one("#message", Static).content)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen) and title().startswith("MSFT [HALTED]"))
        await pilot.press("o")  # the ticket starts with the view's symbol
        await wait_for(pilot, lambda: isinstance(app.screen, OrderTicket))
        assert app.screen.query_one(Input).value == "MSFT "
        await pilot.press("b")  # typing goes after the symbol, not over it
        assert app.screen.query_one(Input).value == "MSFT b"
        await pilot.press("escape", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen) and title().startswith("MSFT  NBBO"))
        await pilot.press("escape")
        await quit_app(app, pilot)
    states = journal(app, "select symbol, reason from events where kind = 'SYMBOL_STATE' order by id")
    assert states == [("MSFT", "HALTED"), ("MSFT", "ACTIVE")]
