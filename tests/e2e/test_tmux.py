"""The real console in a real terminal: tmux runs it, keys go in with send-keys, the screen comes
back with capture-pane, and the journal proves what happened."""

from __future__ import annotations

import json
import os
import shutil
import signal
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


# A login shell's part in a real terminal: it starts the console with default signal handling, passes
# on the SIGHUP it gets when the terminal closes, and records the console's exit status.
SHELL = """
import signal, subprocess, sys
child = None
signal.signal(signal.SIGHUP, lambda signum, frame: child and child.send_signal(signum))
child = subprocess.Popen(sys.argv[2:], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
open(sys.argv[1] + ".pid", "w").write(str(child.pid))
while True:
    try:
        status = child.wait()
        break
    except InterruptedError:
        pass
open(sys.argv[1], "w").write(str(status))
"""


def start(tmp_path: Path, width: int, height: int) -> tuple[str, Path, Path]:
    """The console in a tmux terminal under SHELL: (tmux session, run directory, exit-status file)."""
    session = f"hft-e2e-{uuid.uuid4().hex[:8]}"
    run_dir, status, shell = tmp_path / "run", tmp_path / "status", tmp_path / "shell.py"
    shell.write_text(SHELL)
    command = (
        f"TERM=xterm-256color {sys.executable} {shell} {status} {sys.executable} -m hft_console --mode fast "
        f"--duration 300 --seed 7 --symbols AAPL,MSFT --skip-backtest --run-dir {run_dir}; sleep 20"
    )
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command)
    return session, run_dir, status


def ended_cleanly(run_dir: Path) -> dict[str, object]:
    summary: dict[str, object] = json.loads((run_dir / "summary.json").read_text())
    con = sqlite3.connect(run_dir / "journal.sqlite")
    try:
        assert con.execute("select count(*) from events where kind='SESSION' and reason='end'").fetchone()[0] == 1
        assert con.execute("select count(*) from orders").fetchone()[0] == summary["orders"]
    finally:
        con.close()
    assert not (run_dir / "journal.sqlite-wal").exists()  # checkpointed and closed
    return summary


def orders(run_dir: Path) -> int:
    db = run_dir / "journal.sqlite"
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return int(con.execute("select count(*) from orders").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        con.close()


def test_sigterm_ends_the_session_cleanly_without_asking(tmp_path: Path) -> None:
    session, run_dir, status = start(tmp_path, 120, 40)
    try:
        wait(lambda: orders(run_dir) > 3)
        tmux("send-keys", "-t", session, "k")  # a dialog nobody will answer
        wait(lambda: "KILL SWITCH" in tmux("capture-pane", "-p", "-t", session))
        os.kill(int(Path(f"{status}.pid").read_text()), signal.SIGTERM)
        wait(lambda: status.exists())
        wait(lambda: "Session summary" in tmux("capture-pane", "-p", "-t", session))  # the terminal is back
    finally:
        tmux("kill-session", "-t", session)
    assert status.read_text() == "143"
    assert ended_cleanly(run_dir)["risk"]["state"] == "ACTIVE"  # type: ignore[index]


def test_closing_the_terminal_ends_the_session_cleanly(tmp_path: Path) -> None:
    session, run_dir, status = start(tmp_path, 120, 40)
    try:
        wait(lambda: orders(run_dir) > 3)
    finally:
        tmux("kill-session", "-t", session)  # the window closes: SIGHUP, and nothing left to draw on
    wait(lambda: status.exists())
    assert status.read_text() == "129"
    ended_cleanly(run_dir)


def test_a_small_terminal_says_so_and_ctrl_c_asks_like_q(tmp_path: Path) -> None:
    session, run_dir, status = start(tmp_path, 79, 23)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session)

    try:
        wait(lambda: "needs at least 80×24" in screen())
        tmux("resize-window", "-t", session, "-x", "80", "-y", "24")
        wait(lambda: "Trades" in screen() and "q Quit" in screen())
        wait(lambda: orders(run_dir) > 3)
        tmux("send-keys", "-t", session, "C-c")
        wait(lambda: "QUIT" in screen() or status.exists())
        if not status.exists():
            tmux("send-keys", "-t", session, "y")
        wait(lambda: status.exists())
    finally:
        tmux("kill-session", "-t", session)
    assert status.read_text() == "0"
    ended_cleanly(run_dir)
