"""How a headless session ends: signals, a full disk, an output that cannot take Unicode. Each way
leaves a complete, readable journal and no stray files, with one line on stderr and no traceback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_cli import ENV_KEYS

SESSION = ["--no-ui", "--mode", "fast", "--skip-backtest", "--symbols", "AAPL,MSFT"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update(extra)
    return env


def journal_rows(run: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(run / "journal.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_ends_the_session_as_ctrl_c_does(tmp_path: Path, signum: int, status: int) -> None:
    run = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hft_console", *SESSION, "--clock", "wall", "--duration", "120", "--run-dir", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # the tape's header is printed just before the engine starts
        if line.startswith("Time"):
            break
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr and "Session summary" in stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["duration_s"] < 120
    assert journal_rows(run, "select count(*) from events where kind='SESSION' and reason='end'") == [(1,)]
    assert journal_rows(run, "select count(*) from orders where done_ns is null") == [(0,)]  # none left open
    assert journal_rows(run, "select count(*) from orders") == [(summary["orders"],)]
    assert journal_rows(run, "select count(*) from events") == [(summary["journal"]["events"],)]
    # WAL checkpointed and closed: nothing beside the journal and the summary
    assert sorted(p.name for p in run.iterdir()) == ["journal.sqlite", "summary.json"]


def test_a_signal_before_the_session_starts_leaves_the_run_directory_usable(tmp_path: Path) -> None:
    """Interrupted during the pre-session backtest: nothing traded, nothing kept, the same
    --run-dir works next time."""
    run = tmp_path / "r"
    args = ["--no-ui", "--mode", "fast", "--clock", "sim", "--duration", "2", "--run-dir", str(run)]
    proc = subprocess.Popen(
        [sys.executable, "-c", "import hft_console.cli.main as c, signal, os;"
         "c.pre_session_backtest = lambda s: os.kill(os.getpid(), signal.SIGTERM) or '';"
         f"raise SystemExit(c.main({args!r}))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "nothing was traded" in stderr and "Traceback" not in stderr
    assert not run.exists()
    again = subprocess.run(
        [sys.executable, "-m", "hft_console", *args, "--skip-backtest", "--log-level", "quiet"],
        capture_output=True, text=True, env=clean_env(), timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr


# the session runs in a child whose files may not grow past 256 KiB: a full disk, as SQLite and Python
# see it (set in the child itself: no preexec_fn after fork in a process that may run JAX threads)
SMALL_FILES = (
    "import resource, runpy, signal, sys;"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (256_000, 256_000));"
    "sys.argv = ['hft-console', *sys.argv[1:]];"
    "runpy.run_module('hft_console', run_name='__main__')"
)


def test_a_full_disk_ends_the_session_with_one_line_and_keeps_what_was_committed(tmp_path: Path) -> None:
    run = tmp_path / "r"
    out = subprocess.run(
        [sys.executable, "-c", SMALL_FILES, *SESSION, "--clock", "sim", "--duration", "60", "--log-level", "quiet",
         "--run-dir", str(run)],
        capture_output=True, text=True, env=clean_env(), timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "journal.sqlite" in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert journal_rows(run, "pragma integrity_check") == [("ok",)]
    committed = journal_rows(run, "select count(*) from orders")[0][0]
    assert committed > 0
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["journal"]["orders"] == committed and "error" in summary["journal"]


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_headless_output_degrades_to_ascii_on_any_encoding(tmp_path: Path, encoding: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hft_console", *SESSION, "--clock", "sim", "--duration", "3", "--run-dir",
         str(tmp_path / "r")],
        capture_output=True, env=clean_env(PYTHONIOENCODING=encoding), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("ascii")  # nothing but ASCII
    assert "Session summary" in text and "===" in text and " us" in text
    assert b"Traceback" not in out.stderr
