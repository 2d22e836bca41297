"""The real console in a real terminal: tmux runs it, keys go in with send-keys, the screen comes
back with capture-pane, and the journal proves what happened."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_kill_switch_in_a_real_terminal(tmp_path: Path) -> None:
    session = f"hft-e2e-{uuid.uuid4().hex[:8]}"
    run_dir = tmp_path / "run"
    command = (
        f"TERM=xterm-256color {sys.executable} -m hft_console --mode fast --duration 300 --seed 7 "
        f"--symbols AAPL,MSFT --run-dir {run_dir}; sleep 5"
    )
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    screen = lambda: tmux("capture-pane", "-p", "-t", session)  # noqa: E731
    try:
        wait(lambda: "Kill" in screen() and "Trades" in screen())
        db = run_dir / "journal.sqlite"
        wait(lambda: sqlite3.connect(db).execute("select count(*) from orders").fetchone()[0] > 3)
        tmux("send-keys", "-t", session, "k")
        wait(lambda: "KILL SWITCH" in screen())
        tmux("send-keys", "-t", session, "y")
        wait(lambda: "HALTED" in screen())
        tmux("send-keys", "-t", session, "q")
        wait(lambda: "QUIT" in screen() or (run_dir / "summary.json").exists())
        if not (run_dir / "summary.json").exists():
            tmux("send-keys", "-t", session, "y")
        wait(lambda: (run_dir / "summary.json").exists())
        wait(lambda: "Session summary" in screen())
    finally:
        tmux("kill-session", "-t", session)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["risk"]["state"] == "HALTED"
    con = sqlite3.connect(run_dir / "journal.sqlite")
    (halt_ts,) = con.execute("select ts_ns from events where kind='STATE' and reason='HALTED'").fetchone()
    assert con.execute("select count(*) from orders where ts_ns > ?", (halt_ts,)).fetchone()[0] == 0
    assert con.execute("select count(*) from orders").fetchone()[0] == summary["orders"] > 3
