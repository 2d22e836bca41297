"""hft-console as a user runs it: flags, exit codes, output, Ctrl-C, and a Textual-free core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV_KEYS = ("TRADING_MODE", "TRADING_SYMBOLS", "MAX_POSITION_SIZE", "LOG_LEVEL", "NO_COLOR", "FORCE_COLOR")
BASE = [
    "--no-ui", "--mode", "fast", "--clock", "sim", "--duration", "3", "--symbols", "AAPL,MSFT", "--seed", "7",
    "--skip-backtest",
]  # fmt: skip


def hft(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ENV_KEYS} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "hft_console", *args], capture_output=True, text=True, timeout=120, env=clean, cwd=cwd
    )


def test_headless_session_prints_banner_tape_status_and_summary(tmp_path: Path) -> None:
    out = hft(*BASE, "--run-dir", str(tmp_path / "r"), "--duration", "12")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "HFT CONSOLE" in text and "Mode: FAST" in text
    assert "Time" in text and "Total P&L" in text and "Venue" in text
    tape = [line for line in text.splitlines() if line[:2].isdigit() and (" BUY " in line or " SELL " in line)]
    assert len(tape) == json.loads((tmp_path / "r" / "summary.json").read_text())["fills"]
    assert tape[0][8] == "." and tape[0][12] == " "  # HH:MM:SS.mmm
    assert "[   10.0s/12.0s] ACTIVE" in text  # a status line every status_interval_s of session time
    assert "Session summary" in text and "\x1b[" not in text  # no colour into a pipe


def test_colour_when_forced_and_plain_text_with_no_color(tmp_path: Path) -> None:
    forced = hft(*BASE, "--run-dir", str(tmp_path / "a"), env={"FORCE_COLOR": "1"})
    assert "\x1b[42;30m" in forced.stdout or "\x1b[41;97m" in forced.stdout
    plain = hft(*BASE, "--run-dir", str(tmp_path / "b"), env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in plain.stdout


def test_quiet_prints_only_the_summary(tmp_path: Path) -> None:
    out = hft(*BASE, "--log-level", "quiet", "--run-dir", str(tmp_path / "q"))
    assert out.returncode == 0
    assert "HFT CONSOLE" not in out.stdout and " BUY " not in out.stdout
    assert "Session summary" in out.stdout


def test_default_run_dir_is_a_utc_timestamp_under_runs(tmp_path: Path) -> None:
    out = hft(*BASE, "--log-level", "quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.endswith("Z") and (run / "journal.sqlite").exists() and (run / "summary.json").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--mode", "turbo"], "--mode"),
        (["--duration", "-5"], "--duration"),
        (["--duration", "abc"], "--duration"),
        (["--seed", "-1"], "--seed"),
        (["--log-level", "loud"], "--log-level"),
        (["--router", "nosuch"], "--router"),
        (["--clock", "lunar"], "--clock"),
        (["--symbols", "AAPL,,MSFT"], "session.symbols"),
        (["--config", "/nonexistent/x.toml"], "/nonexistent/x.toml"),
        (["--bogus"], "--bogus"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = hft(*BASE, "--run-dir", str(tmp_path / "bad"), *args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]
    assert not (tmp_path / "bad").exists()


def test_bad_config_value_names_file_key_value_and_expectation(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[risk]\nmax_order_qty = -3\n")
    out = hft(*BASE, "--config", str(cfg), "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"hft-console: error: {cfg}: risk.max_order_qty = -3: expected an integer >= 1 and <= 1e+12"
    )


def test_bad_environment_variable_exits_2(tmp_path: Path) -> None:
    out = hft(*BASE, "--run-dir", str(tmp_path / "r"), env={"MAX_POSITION_SIZE": "lots"})
    assert out.returncode == 2 and "MAX_POSITION_SIZE" in out.stderr and "'lots'" in out.stderr


def test_a_run_dir_with_a_journal_is_never_overwritten(tmp_path: Path) -> None:
    assert hft(*BASE, "--log-level", "quiet", "--run-dir", str(tmp_path / "r")).returncode == 0
    again = hft(*BASE, "--run-dir", str(tmp_path / "r"))
    assert again.returncode == 2 and "already holds a journal" in again.stderr


def test_the_console_without_a_terminal_points_to_no_ui(tmp_path: Path) -> None:
    out = hft("--mode", "fast", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 2 and "--no-ui" in out.stderr and "Traceback" not in out.stderr


def test_a_closed_pipe_silences_the_tape_but_the_session_completes(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hft_console", *BASE, "--duration", "20", "--run-dir", str(tmp_path / "r")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in proc.stderr.read()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["duration_s"] == 20


def test_the_headless_path_never_imports_textual_or_pandas() -> None:
    code = (
        "import sys, hft_console.cli.main, hft_console.engine.engine, hft_console.headless;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'pandas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
