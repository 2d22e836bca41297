"""The working-order blotter (key b) and the risk pane's resting line.

The views are tested as units over ``Order`` objects; the console is driven with Pilot over a fake finished
session whose published snapshot the test sets, so these tests do not depend on the engine producing
resting orders."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace
from typing import Any, cast

from rich.text import Text

from hft_console.domain import Order, OrderStatus, OrderType, Side, TimeInForce
from hft_console.engine.engine import Engine
from hft_console.engine.snapshot import (
    ArmView,
    LimitView,
    PositionView,
    RestingView,
    Snapshot,
    VenueView,
    WorkingOrderView,
    build_snapshot,
    resting_view,
    working_views,
)
from hft_console.ui.app import ConsoleApp
from hft_console.ui.blotter import EMPTY, BlotterPane, age_text, queue_text
from hft_console.ui.keybar import KeyBar
from hft_console.ui.layout import plan
from hft_console.ui.panes import RiskPane
from hft_console.ui.screens import HelpScreen
from hft_console.ui.tape import TapePane
from tests.conftest import make_settings
from tests.ui.conftest import pane_text, wait_for
from tests.ui.test_layout import problems

NOW = 5_000_000_000
VENUES = ("NYSE", "NASDAQ", "ARCA")


def order(oid: int, symbol: str = "AAPL", side: Side = Side.BUY, limit: float = 100.0, **kw: Any) -> Order:
    """A resting LIMIT DAY order on NYSE, 100 shares, sent at 4 s, unless ``kw`` says otherwise."""
    kw = {"order_type": OrderType.LIMIT, "tif": TimeInForce.DAY, "status": OrderStatus.ACCEPTED, **kw}
    venue, qty, ts_ns = kw.pop("venue", "NYSE"), kw.pop("qty", 100), kw.pop("ts_ns", 4_000_000_000)
    return Order(oid, oid, symbol, side, qty, limit, venue, "best-price", ts_ns, limit, **kw)


def ioc(oid: int, symbol: str = "AAPL", side: Side = Side.BUY, limit: float = 100.02) -> Order:
    return Order(oid, oid, symbol, side, 200, limit, "ARCA", "best-price", 4_990_000_000, 100.01)


BOOK = [
    order(1, "MSFT", Side.SELL, 301.0),
    order(2, "AAPL", Side.SELL, 100.03),
    order(3, "AAPL", Side.BUY, 99.98, queue_ahead=1200, level_total=3400),
    order(4, "AAPL", Side.BUY, 100.0, filled=40, status=OrderStatus.PARTIALLY_FILLED),
    order(5, "AAPL", Side.SELL, 100.02, venue="NASDAQ"),
    order(6, "AAPL", Side.BUY, 100.0, venue="NASDAQ", status=OrderStatus.PENDING_CANCEL),
    ioc(7),
    order(8, "MSFT", Side.BUY, 299.5, order_type=OrderType.POST_ONLY, status=OrderStatus.PENDING_NEW),
]
LADDER = [7, 4, 6, 3, 5, 2, 8, 1]  # AAPL buys best first (ties by id), AAPL sells best first, then MSFT


def test_working_views_are_in_one_fixed_order_whatever_order_the_flow_holds_them_in() -> None:
    rng = random.Random(14)
    for _ in range(20):
        book = BOOK[:]
        rng.shuffle(book)
        views, more = working_views(book, NOW)
        assert [v.order_id for v in views] == LADDER and more == 0


def test_a_working_view_carries_what_the_blotter_shows() -> None:
    views, _ = working_views(BOOK, NOW)
    by_id = {v.order_id: v for v in views}
    assert by_id[3] == WorkingOrderView(
        3, "NYSE", "AAPL", "BUY", "LIMIT", 99.98, 100, 0, "ACCEPTED", 1200, 3400, 1000.0
    )
    partial = by_id[4]
    assert (partial.state, partial.filled, partial.leaves) == ("PARTIALLY_FILLED", 40, 60)
    assert (by_id[7].order_type, by_id[7].age_ms) == ("IOC", 10.0)
    assert (by_id[8].side, by_id[8].order_type, by_id[8].state) == ("BUY", "POST_ONLY", "PENDING_NEW")


def test_working_views_keep_the_first_ones_and_count_the_rest() -> None:
    views, more = working_views(BOOK, NOW, cap=3)
    assert [v.order_id for v in views] == LADDER[:3] and more == 5
    assert working_views([], NOW) == ((), 0)


def test_resting_exposure_counts_unfilled_non_ioc_shares_at_the_mark() -> None:
    marks = {"AAPL": 100.01, "MSFT": 0.0}  # MSFT has no mark yet: its orders count at their own limit
    r = resting_view(BOOK, marks)
    assert (r.orders, r.buy, r.sell) == (7, 60 + 100 + 100 + 100, 100 + 100 + 100)
    want = (60 + 100 + 100 + 100 + 100) * 100.01 + 100 * 299.5 + 100 * 301.0
    assert abs(r.notional - want) < 1e-6
    assert resting_view([ioc(9)], marks) == RestingView(0, 0, 0, 0.0)


def test_the_snapshot_publishes_the_flows_working_orders() -> None:
    engine = Engine(make_settings(), None)  # built, not run: its order flow holds what the test puts there
    engine.flow.working.update({o.order_id: o for o in BOOK})
    engine.portfolio.mark[:] = [100.01, 300.0]  # AAPL, MSFT
    snap = build_snapshot(engine)
    assert [v.order_id for v in snap.working] == LADDER and snap.working_more == 0
    assert snap.resting == resting_view(BOOK, {"AAPL": 100.01, "MSFT": 300.0})


def test_the_blotters_cells_read_as_a_desk_writes_them() -> None:
    assert [age_text(ms) for ms in (850.0, 12_340.0, 245_000.0, 3_725_000.0)] == ["850ms", "12.3s", "4m05s", "1h02m"]
    views, _ = working_views(BOOK, NOW)
    by_id = {v.order_id: v for v in views}
    assert queue_text(by_id[3]) == "1.2k/3.4k" and queue_text(by_id[7]) == "—"


def snapshot(orders: list[Order] | None = None, more: int = 0, **changes: Any) -> Snapshot:
    """A finished session's snapshot with ``orders`` working (two symbols, three venues)."""
    orders = BOOK if orders is None else orders
    working, _ = working_views(orders, NOW)
    snap = Snapshot(
        wall_ns=0, engine_ns=NOW, duration_s=20.0, mode="fast", clock="sim", data_source="synthetic", feed="sim",
        state="ACTIVE", paused=False, ticks=1000, ticks_rejected=0, ticks_per_s=0.0, mean_ticks_per_s=0.0,
        wall_s=1.0, orders=40, fills=12, rejects=0, risk_denials=0, breaches=0, pnl_total=12.5, pnl_realized=10.0,
        pnl_unrealized=2.5, fees=1.2, fees_taker=1.2, rebates_maker=0.0, wins=3, losses=1, win_rate=0.75,
        positions=(PositionView("AAPL", 100, 100.0, 100.01, 10.0, 1.0), PositionView("MSFT", 0, 0.0, 300.0, 0.0, 0.0)),
        trades=(), trade_seq=0,
        venues=tuple(VenueView(v, "up", "calm", 90.0, 120.0, 150.0, 100.0, 100.0, 10, 4, 0, 0, 0.003) for v in VENUES),
        heatmap_start_ns=(0, 1_000_000_000), heatmap=tuple(((90.0, 120.0, 3, 0), None) for _ in VENUES),
        router="best-price", router_decisions=40, arms=tuple(ArmView(v, 10, -0.5, 0.3) for v in VENUES),
        inference_us={"p50": None, "p99": None}, online_updates=None,
        limits=(LimitView("position AAPL", 400.0, 10_000.0, "sh"), LimitView("position MSFT", 200.0, 10_000.0, "sh"),
                LimitView("notional", 160_000.0, 5e6, "$"), LimitView("order rate", 3.0, 200.0, "/s"),
                LimitView("loss", 0.0, 50_000.0, "$")),
        pnl_history=(0.0, 12.5), notes=(), finished=True, bucket_s=1.0,
        working=working, working_more=more, resting=resting_view(orders, {"AAPL": 100.01, "MSFT": 300.0}),
    )  # fmt: skip
    return dataclasses.replace(snap, **changes)


def console(snap: Snapshot) -> ConsoleApp:
    """The console over a finished fake session that shows ``snap`` (a test may publish another)."""
    engine = SimpleNamespace(snapshot=snap, finished=True, strategy=SimpleNamespace(paused=False), run_dir=None)
    return ConsoleApp(cast(Engine, engine), deterministic=True)


def rows(pane: BlotterPane) -> list[str]:
    content = pane.content
    assert isinstance(content, Text)
    return content.plain.split("\n")


async def test_b_shows_and_hides_the_blotter_beside_the_tape(tmp_path: Any) -> None:
    app = console(snapshot())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        blotter = app.query_one(BlotterPane)
        assert not blotter.display
        await pilot.press("b")
        await wait_for(pilot, lambda: blotter.display and blotter.last is not None)
        assert app._layout is not None and app._layout.kind == "wide"  # the blotter fits the left column
        assert app.query_one(TapePane).display and problems(app) == []
        text = rows(blotter)
        assert text[0].split() == ["Venue", "Sym", "B/S", "Type", "Price", "Qty", "Fill", "State", "Ahead/lvl", "Age"]
        assert len(text) == 1 + len(LADDER)
        assert text[4].split() == ["NYSE", "AAPL", "B", "LIMIT", "99.98", "100", "open", "1.2k/3.4k", "1.0s"]
        assert text[2].split() == ["NYSE", "AAPL", "B", "LIMIT", "100.00", "100", "40", "partial", "0/0", "1.0s"]
        assert (
            text[1].split() == ["ARCA", "AAPL", "B", "IOC", "100.02", "200", "pend", "new", "—", "10ms"]
            and "pend new" in text[7]
            and "POST" in text[7]
        )
        assert blotter.border_title == "Working orders  8  (7 resting)"
        await pilot.press("b")
        await wait_for(pilot, lambda: not blotter.display)
        assert app.query_one(TapePane).display and problems(app) == []


async def test_rows_hold_their_places_as_orders_come_and_go(tmp_path: Any) -> None:
    app = console(snapshot())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        blotter = app.query_one(BlotterPane)
        await wait_for(pilot, lambda: blotter.display and blotter.last is not None)
        before = rows(blotter)
        book = [o for o in BOOK if o.order_id != 6] + [order(9, "AAPL", Side.BUY, 99.99)]
        app.engine.snapshot = snapshot(book)  # the engine publishes a new picture: 6 went, 9 came
        await wait_for(pilot, lambda: app._shown is app.engine.snapshot)
        after = rows(blotter)
        ids = [7, 4, 9, 3, 5, 2, 8, 1]
        assert [v.order_id for v in app.engine.snapshot.working] == ids
        assert after[0] == before[0]  # the columns did not move
        kept = [before[1 + LADDER.index(i)] for i in ids if i in LADDER]
        assert [r for i, r in zip(ids, after[1:], strict=True) if i != 9] == kept


async def test_an_empty_blotter_says_so_and_the_risk_pane_shows_no_resting(tmp_path: Any) -> None:
    app = console(snapshot([]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        blotter = app.query_one(BlotterPane)
        await wait_for(pilot, lambda: blotter.display and blotter.last is not None)
        assert rows(blotter)[1] == EMPTY and blotter.border_title == "Working orders  0  (0 resting)"
        risk = pane_text(app.query_one(RiskPane))
        assert "resting" in risk and "none" in risk


async def test_the_risk_pane_shows_resting_exposure(tmp_path: Any) -> None:
    app = console(snapshot())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        line = next(r for r in pane_text(app.query_one(RiskPane)).splitlines() if "resting" in r)
        assert line.split() == ["resting", "B", "360", "/", "S", "300", "$106.0k"]


async def test_orders_beyond_the_blotters_rows_are_counted(tmp_path: Any) -> None:
    many = [order(i, "AAPL", Side.BUY, 90.0 + i / 100) for i in range(1, 61)]
    app = console(snapshot(many, more=25))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        blotter = app.query_one(BlotterPane)
        await wait_for(pilot, lambda: blotter.display and blotter.last is not None)
        shown = len(rows(blotter)) - 1
        assert shown == blotter.size.height - 1 and shown < 60
        assert blotter.border_title == "Working orders  85  (60 resting)"
        assert blotter.border_subtitle == f"{85 - shown} more not shown · b hides"
        assert rows(blotter)[1].split()[4] == "90.60"  # the best bid first


async def test_at_80x24_the_blotter_takes_the_tapes_place_and_every_key_is_listed(tmp_path: Any) -> None:
    app = console(snapshot())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app._shown is not None)
        line = app.query_one(KeyBar).content
        assert isinstance(line, Text) and line.cell_len <= 80 and "…" not in line.plain
        for key in ("k", "K", "r", "l", "m", "p", "b", "?", "q"):  # the console's own keys; ^p from 86 columns
            assert f" {key} " in f" {line.plain}", key
        assert "b Orders" in line.plain and "KillK" not in line.plain  # every entry readable as text
        await pilot.press("b")
        blotter = app.query_one(BlotterPane)
        await wait_for(pilot, lambda: blotter.display and blotter.last is not None)
        assert not app.query_one(TapePane).display and app.query_one(RiskPane).display
        assert problems(app) == []
        await pilot.press("b")
        await wait_for(pilot, lambda: app.query_one(TapePane).display and not blotter.display)


async def test_help_lists_the_blotter_key_and_fits_80x24(tmp_path: Any) -> None:
    app = console(snapshot())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert any(key == "b" and "blotter" in text for key, text in app.screen.keys)
        dialog = app.screen.query_one("#dialog")
        assert dialog.region.bottom <= 24 and dialog.region.right <= 80
        assert sum(child.outer_size.height for child in dialog.children) <= dialog.content_region.height
        await pilot.press("escape")


def test_the_layout_places_the_blotter_under_the_tape_or_in_its_place() -> None:
    needs = {"tape": (67, 8), "heatmap": (56, 9), "risk": (45, 13), "router": (48, 9), "pnl": (47, 9),
             "blotter": (71, 8)}  # fmt: skip
    assert "blotter" not in plan(120, 40, needs).shown
    wide = plan(120, 40, needs, blotter=True)
    assert wide.kind == "wide" and {"tape", "blotter", "heatmap"} <= wide.shown
    assert plan(120, 40, {**needs, "blotter": (80, 8)}, blotter=True).kind == "compact"  # too wide for the left
    small = plan(80, 24, needs, blotter=True)
    assert small.kind == "compact" and {"blotter", "risk"} <= small.shown and "tape" not in small.shown
    assert plan(80, 40, needs, blotter=True).shown >= {"tape", "blotter", "risk"}
