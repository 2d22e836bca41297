"""``hft-console view`` in a real terminal: tmux runs it over a recorded run, keys go in with send-keys,
the screen comes back with capture-pane and must show summary.json's figures at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hft_console.money import money
from tests.e2e.test_tmux import tmux, wait

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("view-e2e") / "run"
    subprocess.run(
        [sys.executable, "-m", "hft_console", "--no-ui", "--mode", "fast", "--duration", "3", "--clock", "sim",
         "--seed", "7", "--log-level", "quiet", "--run-dir", str(run_dir)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return run_dir


def test_view_shows_the_run_and_its_summary_and_q_ends_it(recorded: Path) -> None:
    summary = json.loads((recorded / "summary.json").read_text())
    files = sorted(p.name for p in recorded.iterdir())
    session = f"hft-view-{uuid.uuid4().hex[:8]}"
    command = f"TERM=xterm-256color {sys.executable} -m hft_console view {recorded}; echo EXIT=$?; sleep 30"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    screen = lambda: tmux("capture-pane", "-p", "-t", session)  # noqa: E731
    keys = lambda *k: tmux("send-keys", "-t", session, *k)  # noqa: E731
    try:
        panes = ("RECORDED", "Trades", "Risk", "Router", "P&L and positions", "Venue latency")
        wait(lambda: all(pane in screen() for pane in panes))  # a new tmux server may draw at 80x24 first
        end = screen()
        assert f"Total {money(summary['pnl_total'])}" in end
        assert f"realised {money(summary['pnl_realized'])}  unrealised {money(summary['pnl_unrealized'])}" in end
        assert f"orders {summary['orders']} · fills {summary['fills']} · rejects {summary['rejects']}" in end
        assert "FINISHED" in end and "P&L at the end: summary.json" in end
        keys("Home")
        wait(lambda: "00:00.000 / " in screen() and "Trades  0 fills" in screen())
        keys("Right")
        wait(lambda: "00:01.000 / " in screen())
        keys("k")
        wait(lambda: "k: read-only" in screen())
        assert "KILL SWITCH" not in screen()
        keys("End")
        wait(lambda: f"Total {money(summary['pnl_total'])}" in screen() and "FINISHED" in screen())
        keys("q")
        wait(lambda: "EXIT=0" in screen())
    finally:
        tmux("kill-session", "-t", session)
    assert sorted(p.name for p in recorded.iterdir()) == files  # viewing wrote nothing beside the journal


def test_view_of_a_bad_run_dir_says_why_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hft_console", "view", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"hft-console view: error: RUN_DIR: {str(tmp_path / 'nope')!r} does not exist; expected a run directory"
    ]
