"""Key c: the charts: P&L over session time and each venue's round trips per heatmap bucket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Label

from hft_console.engine.engine import Engine
from hft_console.engine.snapshot import Snapshot
from hft_console.ui.app import ConsoleApp
from hft_console.ui.charts import (
    OKABE_ITO,
    PNL_STYLE,
    Chart,
    ChartsScreen,
    RowTicks,
    latency_series,
    pnl_series,
    steps,
)
from tests.ui.conftest import wait_for
from tests.ui.test_blotter import console, snapshot
from tests.ui.test_console import quit_app

S = 1_000_000_000
# three venues over five 1 s buckets: NYSE in 1, 2 and 4; NASDAQ timeouts alone in 3; ARCA nothing
HEATMAP = (
    (None, (90.0, 120.0, 3, 0), (95.0, 130.0, 4, 0), None, (80.0, 110.0, 2, 1)),
    (None, None, None, (None, None, 0, 2), None),
    (None, None, None, None, None),
)


def lines_by_style(plot: Chart) -> dict[str, list[tuple[list[float], list[float]]]]:
    """The plot's line datasets as (x, y) lists, grouped by their style."""
    out: dict[str, list[tuple[list[float], list[float]]]] = {}
    for ds in plot._datasets:
        if hasattr(ds, "line_style"):
            out.setdefault(ds.line_style, []).append((ds.x.tolist(), ds.y.tolist()))
    return out


def marks(plot: Chart) -> list[tuple[list[float], str]]:
    """The timeout marks: (x, style) of each scatter dataset."""
    return [(ds.x.tolist(), ds.marker_style) for ds in plot._datasets if getattr(ds, "marker", "") == "x"]


def charts(app: ConsoleApp) -> ChartsScreen:
    assert isinstance(app.screen, ChartsScreen)
    return app.screen


def shown_pnl(screen: ChartsScreen) -> tuple[list[float], list[float]]:
    (line,) = lines_by_style(screen.query_one("#pnl", Chart))[PNL_STYLE]
    return line


def test_pnl_samples_are_timed_from_the_newest_back() -> None:
    snap = snapshot(engine_ns=5 * S + 300_000_000, pnl_history=(0.0, 1.0, 2.5), bucket_s=1.0)
    assert pnl_series(snap) == ([3.0, 4.0, 5.0], [0.0, 1.0, 2.5])
    # the engine keeps the last 600: at 700.5 s the oldest left is the sample of 101 s
    full = snapshot(engine_ns=700 * S + S // 2, pnl_history=tuple(float(i) for i in range(600)), bucket_s=1.0)
    t, _ = pnl_series(full)
    assert (t[0], t[-1], len(t)) == (101.0, 700.0, 600)
    assert pnl_series(snapshot(pnl_history=())) == ([], [])


def test_latency_points_come_from_the_heatmaps_cells_and_a_gap_breaks_the_line() -> None:
    snap = snapshot(heatmap_start_ns=tuple(i * S for i in range(5)), heatmap=HEATMAP)
    nyse, nasdaq, arca = latency_series(snap)
    assert (nyse.name, nyse.style, nasdaq.style) == ("NYSE", OKABE_ITO[0], OKABE_ITO[1])
    assert (nyse.t, nyse.p50, nyse.p95, nyse.timeouts) == (
        [1.0, 2.0, 4.0],
        [90.0, 95.0, 80.0],
        [120.0, 130.0, 110.0],
        [4.0],
    )
    assert (nasdaq.t, nasdaq.timeouts) == ([], [3.0])
    assert (arca.t, arca.timeouts) == ([], [])
    assert steps(nyse.t, nyse.p95, 1.0) == [
        ([1.0, 2.0, 2.0, 3.0], [120.0, 120.0, 130.0, 130.0]),
        ([4.0, 5.0], [110.0, 110.0]),
    ]
    assert steps([], [], 1.0) == []


@pytest.mark.parametrize(("lo", "hi", "rows", "ticks"), [
    (-52.0, 8.0, 15, [-50.0, -40.0, -30.0, -20.0, -10.0, 0.0]),
    (0.0, 8400.0, 12, [0.0, 2000.0, 4000.0, 6000.0, 8000.0]),
    (0.0, 8400.0, 5, [0.0, 5000.0]),
])  # fmt: skip
def test_ticks_thin_out_on_short_charts(lo: float, hi: float, rows: int, ticks: list[float]) -> None:
    assert RowTicks(lambda: rows).get_ticks(lo, hi) == ticks


async def test_c_opens_charts_of_the_snapshot_and_c_esc_q_close_them(finished_engine: Engine) -> None:
    app = ConsoleApp(finished_engine)
    snap = finished_engine.snapshot
    assert snap is not None and snap.pnl_history and any(c for row in snap.heatmap for c in row)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is snap)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartsScreen) and app.screen.drawn is snap)
        screen = charts(app)
        t, pnl = shown_pnl(screen)
        assert (t, pnl) == pnl_series(snap) and t[0] == 0.0 and pnl == list(snap.pnl_history)
        latency = screen.query_one("#latency", Chart)
        for pct in ("p95", "p50"):
            if pct == "p50":
                await pilot.press("p")
                await wait_for(pilot, lambda: screen.percentile == "p50" and screen.drawn is snap)
            drawn = lines_by_style(latency)
            for venue in latency_series(snap):
                lines = drawn.get(venue.style, [])
                assert [x for xs, _ in lines for x in xs[::2]] == venue.t
                assert [y for _, ys in lines for y in ys[::2]] == (venue.p95 if pct == "p95" else venue.p50)
            assert pct in str(screen.query_one("#latency-head", Label).content)
        assert not screen.query_one("#plots").has_class("side")  # 40 rows: stacked
        await pilot.press("2")
        assert not screen.query_one("#pnl-box").display and screen.query_one("#latency-box").display
        await pilot.press("tab")  # 2 → both
        assert screen.query_one("#pnl-box").display and screen.query_one("#latency-box").display
        for key in ("escape", "c", "q"):
            await pilot.press(key)
            await wait_for(pilot, lambda: not isinstance(app.screen, ChartsScreen))
            assert app.is_running and len(app.screen_stack) == 1
            if key != "q":
                await pilot.press("c")
                await wait_for(pilot, lambda: isinstance(app.screen, ChartsScreen))


async def test_the_charts_follow_the_engines_latest_snapshot() -> None:
    """Under the chart view the panes hold still (a view is open); the charts read the engine's latest."""
    first = snapshot(pnl_history=(0.0, 12.5))
    app = console(first)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is first)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartsScreen) and app.screen.drawn is first)
        screen = charts(app)
        nxt = snapshot(engine_ns=6 * S, pnl_history=(0.0, 12.5, -3.0), pnl_total=-3.0)
        app.engine.snapshot = nxt
        await wait_for(pilot, lambda: screen.drawn is nxt)
        assert shown_pnl(screen) == ([4.0, 5.0, 6.0], [0.0, 12.5, -3.0])
        assert "-$3.00" in str(screen.query_one("#pnl-head", Label).content)


async def test_a_session_without_round_trips_or_samples_draws_empty_charts() -> None:
    empty = snapshot(pnl_history=(), heatmap=tuple((None, None) for _ in range(3)))
    app = console(empty)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app._shown is empty)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartsScreen) and app.screen.drawn is empty)
        screen = charts(app)
        assert screen.query_one("#pnl", Chart)._datasets == []
        assert screen.query_one("#latency", Chart)._datasets == []
        assert "no round trips yet" in str(screen.query_one("#latency-head", Label).content)
        assert "no samples yet" in str(screen.query_one("#pnl-head", Label).content)
        await pilot.pause(0.1)  # a frame drawn with nothing to draw


async def test_timeouts_alone_are_marked_along_the_top() -> None:
    snap = snapshot(heatmap_start_ns=tuple(i * S for i in range(5)), heatmap=HEATMAP)
    app = console(snap)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._shown is snap)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartsScreen) and app.screen.drawn is snap)
        latency = charts(app).query_one("#latency", Chart)
        assert sorted(marks(latency)) == [([3.5], f"bold {OKABE_ITO[1]}"), ([4.5], f"bold {OKABE_ITO[0]}")]


async def test_a_live_session_at_80x24_updates_the_charts_side_by_side(live_app: Callable[..., ConsoleApp]) -> None:
    app = live_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.engine_running and app._shown is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartsScreen) and app.screen.drawn is not None)
        screen = charts(app)
        assert screen.query_one("#plots").has_class("side")
        for box in ("#pnl-box", "#latency-box"):
            region = screen.query_one(box).region
            assert region.width >= 30 and region.height >= 15 and region.right <= 80 and region.bottom <= 24
        drawn: Any = screen.drawn
        await wait_for(pilot, lambda: len(shown_pnl(screen)[0]) > len(drawn.pnl_history), timeout=30)
        latest: Snapshot | None = screen.drawn
        assert latest is not None and latest.engine_ns > drawn.engine_ns
        assert shown_pnl(screen) == pnl_series(latest)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChartsScreen))
        await quit_app(app, pilot)
