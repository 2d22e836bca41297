"""``hft-console view RUN_DIR``: a recorded run in the console's panes, read-only, with a time slider.

One short sim-clock session (market maker: resting orders, maker fills; a limit change and a halt on
the way) is recorded once for the module and viewed by every test."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Label

from hft_console.cli.view import view_main
from hft_console.domain import Command
from hft_console.engine.engine import Engine
from hft_console.engine.journal_view import RecordedRun, RunError
from hft_console.money import money
from hft_console.ui.panes import PnlPane, StatusBar
from hft_console.ui.viewer import SliderBar, ViewerApp, ViewerHelp
from hft_console.ui.viewer_data import Replay
from tests.conftest import make_settings
from tests.ui.conftest import pane_text, wait_for

HALT_AT_NS = 3_000_000_000
LIMIT_AT_NS = 2_000_000_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4 s session: max_position set to 5,000 at 2 s, halted at 3 s."""
    path = tmp_path_factory.mktemp("view") / "run"
    engine = Engine(make_settings(session__duration_s=4, strategy__name="market-maker"), path)
    sent: set[str] = set()

    def operator(e: Any) -> None:
        if e.now_ns >= LIMIT_AT_NS and "limit" not in sent:
            sent.add("limit")
            e.submit(Command("set_limit", {"name": "max_position", "value": 5000}))
        if e.now_ns >= HALT_AT_NS and "halt" not in sent:
            sent.add("halt")
            e.submit(Command("halt"))

    engine.on_batch.append(operator)
    engine.run()
    return path


def summary_of(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "summary.json").read_text()))


def slider_text(app: ViewerApp) -> str:
    return str(app.query_one(SliderBar).render())


def test_the_journal_replayed_to_its_last_row_gives_summary_json_figures(run_dir: Path) -> None:
    run = RecordedRun(run_dir)
    s = summary_of(run_dir)
    snap = Replay(run).at(run.end_ns - 1)  # just before the end: every figure from the journal alone
    assert not snap.finished and snap.fills > 10 and s["passive"]["fills"] > 0
    journal = (snap.orders, snap.fills, snap.rejects, snap.risk_denials, snap.wins, snap.losses)
    assert journal == (s["orders"], s["fills"], s["rejects"], s["risk_denials"], s["wins"], s["losses"])
    assert round(snap.pnl_realized, 4) == s["pnl_realized"]
    assert round(snap.fees, 4) == s["fees"]
    assert round(snap.fees_taker, 4) == s["fees_taker"] and round(snap.rebates_maker, 4) == s["rebates_maker"]
    assert {p.symbol: p.position for p in snap.positions} == s["positions"]
    assert snap.state == s["risk"]["state"] == "HALTED"


async def test_it_opens_at_the_end_showing_summary_json(run_dir: Path) -> None:
    s = summary_of(run_dir)
    app = ViewerApp(RecordedRun(run_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        snap = app._shown
        assert snap is not None and snap.finished and app.t_ns == app.recorded.end_ns
        assert (snap.pnl_total, snap.pnl_realized, snap.pnl_unrealized, snap.fees) == (
            s["pnl_total"], s["pnl_realized"], s["pnl_unrealized"], s["fees"])  # fmt: skip
        assert (snap.orders, snap.fills, snap.rejects, snap.wins, snap.losses, snap.win_rate) == (
            s["orders"], s["fills"], s["rejects"], s["wins"], s["losses"], s["win_rate"])  # fmt: skip
        pnl = pane_text(app.query_one(PnlPane), 60)
        assert f"Total {money(s['pnl_total'])}" in pnl
        assert f"realised {money(s['pnl_realized'])}  unrealised {money(s['pnl_unrealized'])}" in pnl
        for sym, qty in s["positions"].items():
            assert any(line.split()[:2] == [sym, f"{qty:+,}"] for line in pnl.splitlines())
        assert app.query_one(PnlPane).border_subtitle == "P&L at the end: summary.json"
        assert s["fills"] > 40 and "PgDn" not in str(app.query_one("#tape").border_subtitle)  # PgDn moves the slider
        assert f"orders {s['orders']:,} · fills {s['fills']:,} · rejects {s['rejects']:,}" in slider_text(app)
        assert "RECORDED" in slider_text(app) and "read-only" in slider_text(app)
        status = str(app.query_one(StatusBar).render())
        assert "FINISHED" in status and money(s["pnl_total"]) in status


async def test_stepping_moves_the_time_and_the_trades_only_forward(run_dir: Path) -> None:
    app = ViewerApp(RecordedRun(run_dir), at_end=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.t_ns == 0 and app._shown is not None and app._shown.fills == 0
        assert "00:00.000 / 00:04" in slider_text(app)
        times, fills = [], []
        for _ in range(5):
            await pilot.press("right")
            assert app._shown is not None
            times.append(app.t_ns)
            fills.append(app._shown.trade_seq)
        assert times[:4] == [1e9, 2e9, 3e9, 4e9] and times[4] == app.recorded.end_ns
        assert fills == sorted(fills) and fills[-1] > fills[0]
        assert "00:04.0" in slider_text(app)
        await pilot.press("home")
        assert app.t_ns == 0
        await pilot.press("shift+right")
        assert app.t_ns == min(10e9, app.recorded.end_ns)
        await pilot.press("left")
        assert app.t_ns < app.recorded.end_ns and app._shown is not None and not app._shown.finished
        await pilot.press("end")
        assert app.t_ns == app.recorded.end_ns and app._shown is not None and app._shown.finished


async def test_space_plays_to_the_end_and_stops(run_dir: Path) -> None:
    app = ViewerApp(RecordedRun(run_dir), at_end=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")
        assert app.playing
        await wait_for(pilot, lambda: app.t_ns > 0)
        assert "playing" in slider_text(app)
        await wait_for(pilot, lambda: not app.playing, timeout=20)
        assert app.t_ns == app.recorded.end_ns


async def test_trading_keys_are_refused_with_a_message_and_nothing_is_written(run_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    app = ViewerApp(RecordedRun(run_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        for key in ("k", "K", "r", "l", "m", "p", "o", "s", "v"):
            await pilot.press(key)
            assert len(app.screen_stack) == 1, key  # no dialog, nothing asked
            assert f"{key}: read-only" in slider_text(app)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before  # no -wal or -shm left either


async def test_risk_state_limits_and_notes_follow_the_slider(run_dir: Path) -> None:
    replay = Replay(RecordedRun(run_dir))
    before, after = replay.at(HALT_AT_NS - 500_000_000), replay.at(HALT_AT_NS + 500_000_000)
    assert before.state == "ACTIVE" and after.state == "HALTED"
    limit = {v.name: v.limit for v in before.limits}["position AAPL"]
    assert limit == 5000 and replay.at(LIMIT_AT_NS - 500_000_000).limits[0].limit != 5000
    assert any(text == "halt" for _, _, text in after.notes) and not any(t == "halt" for _, _, t in before.notes)


async def test_the_blotter_and_event_log_show_the_time_shown(run_dir: Path) -> None:
    run = RecordedRun(run_dir)
    replay = Replay(run)
    busy = next(t for t in range(0, run.end_ns, run.bucket_ns) if replay.at(t).working)
    app = ViewerApp(run, at_end=False)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.t_ns < busy:
            await pilot.press("right")
        await pilot.press("b")
        assert app.query_one("#blotter").display
        assert "no working orders" not in pane_text(app.query_one("#blotter"), 110)  # type: ignore[arg-type]
        await pilot.press("e")
        await wait_for(pilot, lambda: len(app.screen_stack) == 2)
        title = str(app.screen.query_one("#title").render())
        assert f"{len(run.events_until(app.t_ns))} events" in title
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1)


async def test_at_80x24_the_slider_and_keys_fit(run_dir: Path) -> None:
    app = ViewerApp(RecordedRun(run_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.query_one("#slider").display and app.query_one("#tape").display
        assert app.query_one("#risk").display and not app.query_one("#too-small").display
        assert "orders" in slider_text(app)
        keys = str(app.query_one("#keys").render())
        assert all(k in keys for k in ("←/→", "Home/End", "space", "q Quit"))


async def test_an_unfinished_run_opens_and_says_so(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "unfinished"
    copy.mkdir()
    shutil.copy(run_dir / "journal.sqlite", copy / "journal.sqlite")
    run = RecordedRun(copy)
    assert not run.finished
    app = ViewerApp(run)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert "UNFINISHED" in slider_text(app) and app._shown is not None and not app._shown.finished


def test_bad_run_dirs_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "not-sqlite").mkdir()
    (tmp_path / "not-sqlite" / "journal.sqlite").write_text("hello, not a database\n" * 100)
    (tmp_path / "other-db").mkdir()
    sqlite3.connect(tmp_path / "other-db" / "journal.sqlite").execute("create table t (x)").connection.close()
    cases = {
        "missing": "does not exist",
        "empty": "holds no journal.sqlite",
        "a-file": "is a file",
        "not-sqlite": "cannot read",
        "other-db": "is not a journal (no table 'meta')",
    }
    for name, why in cases.items():
        assert view_main([str(tmp_path / name)]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("hft-console view: error: RUN_DIR: ") and why in err, err
    assert view_main([]) == 2
    assert "RUN_DIR" in capsys.readouterr().err
    with pytest.raises(RunError):
        RecordedRun(tmp_path / "missing")


def test_a_good_run_dir_without_a_terminal_exits_2(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert view_main([str(run_dir)]) == 2  # pytest's stdin is not a terminal
    assert "needs a terminal" in capsys.readouterr().err


async def test_help_lists_the_viewer_keys_and_a_click_on_the_slider_moves_there(run_dir: Path) -> None:
    app = ViewerApp(RecordedRun(run_dir), at_end=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, ViewerHelp))
        assert "any other key closes" in str(app.screen.query_one("#current", Label).render())
        await pilot.press("a")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        assert app.t_ns == 0  # the key closed the help and did nothing else
        start, cells = app.query_one(SliderBar).bar_cells
        await pilot.click("#slider", offset=(start + cells - 1, 0))
        assert app.t_ns == app.recorded.end_ns
        start, cells = app.query_one(SliderBar).bar_cells  # the line's other parts changed with the time
        await pilot.click("#slider", offset=(start + cells // 2, 0))
        assert 0 < app.t_ns < app.recorded.end_ns and app.t_ns % app.step_ns == 0
