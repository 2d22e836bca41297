"""``hft-console serve`` in a real browser: Debian's Chromium, headless, driven by Playwright, opens the
page; the console must draw its panes in it (read back from the page's xterm.js screen, and seen in a
screenshot), ``q`` typed into the page must end that session, and SIGTERM to the server must end the
session still open in another tab; every session writes its journal and summary.json, and nothing the
test started is left running."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
PANES = ("Trades", "Venue latency", "Risk", "Router", "P&L and positions")  # ui/panes.py, ui/tape.py titles
# The page keeps its xterm.js terminal in a local; the first object given a ``fitAddon`` is textual-serve's
# terminal wrapper (textual.js: ``this.fitAddon = new FitAddon``), kept on window so the test can read
# the screen the browser shows from the terminal's buffer.
KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "fitAddon", {configurable: true, set(value) {
  window.__served = this;
  Object.defineProperty(this, "fitAddon", {value, writable: true, configurable: true, enumerable: true});
}});
"""
SCREEN_TEXT = """() => {
  const term = window.__served && window.__served.terminal;
  if (!term) return null;
  const buffer = term.buffer.active, rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""


def need_browser() -> Any:
    """Playwright's sync API and psutil, or a skip (a failure under CI, which must run this test)."""
    missing = [] if Path(CHROMIUM).exists() else [f"{CHROMIUM} (Debian package chromium)"]
    sync_playwright: Any = None
    try:
        import psutil  # noqa: F401
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing.append(f"python package {exc.name} (pip install -e '.[dev,ray]')")
    if missing:
        why = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI is set, so it must run (.ci/run installs chromium)")
        pytest.skip(why)
    return sync_playwright


def wait(condition: Callable[[], object], what: str, timeout: float = 90.0) -> Any:
    end = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > end:
            raise AssertionError(f"not reached in {timeout:.0f} s: {what}")
        time.sleep(0.25)
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def playwright_api() -> Any:
    return need_browser()


@pytest.fixture
def server(playwright_api: Any, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``hft-console serve`` on a free port, run from tmp_path (so each tab's runs/<timestamp> lands
    there); stopped, with everything it started, however the test ends."""
    import psutil

    port = free_port()
    log = tmp_path / "serve.log"
    session = ["--mode", "fast", "--clock", "wall", "--duration", "600", "--seed", "7", "--symbols", "AAPL,MSFT",
               "--skip-backtest"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hft_console", "serve", "--port", str(port), "--", *session],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    started: list[psutil.Process] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait(lambda: url in log.read_text() or proc.poll() is not None, "the server prints its URL", 60)
        assert proc.poll() is None, log.read_text()
        yield proc, url, log
    finally:
        if proc.poll() is None:
            started = psutil.Process(proc.pid).children(recursive=True)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for child in started:
            if child.is_running():
                child.kill()


def screen(page: Any) -> str:
    text: str | None = page.evaluate(SCREEN_TEXT)
    return text or ""


def open_console(browser: Any, url: str) -> Any:
    """A tab on the served console, once its panes are drawn."""
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    page.add_init_script(KEEP_TERMINAL)
    # nothing leaves this machine (the page asks Google for a font)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    page.goto(url)
    wait(lambda: all(title in screen(page) for title in PANES), f"the panes {PANES} drawn in the page")
    wait(lambda: "-first-byte" in (page.evaluate("document.body.className") or ""), "the terminal shown")
    return page


def distinct_colours(png: bytes) -> tuple[int, float]:
    """How many colours the screenshot has, and the share of its commonest."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    total = image.width * image.height
    return len(colours), max(n for n, _ in colours) / total


def alive(processes: list[Any]) -> list[Any]:
    """Those of ``processes`` (psutil) still running, zombies aside."""
    import psutil

    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def run_dirs_done(tmp_path: Path) -> list[Path]:
    return sorted(p.parent for p in (tmp_path / "runs").glob("*/summary.json"))


def test_the_console_served_in_chromium(
    playwright_api: Any, server: tuple[subprocess.Popen[bytes], str, Path], tmp_path: Path
) -> None:
    import psutil

    proc, url, log = server
    mine = psutil.Process()
    with playwright_api() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        started = mine.children(recursive=True)
        try:
            first = open_console(browser, url)
            png = first.screenshot(type="png")
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            colours, commonest = distinct_colours(png)
            assert colours >= 16 and commonest < 0.95, (colours, commonest)  # drawn, not a blank page
            for title in PANES:
                assert title in screen(first)

            first.locator(".xterm-screen").click()  # the keys go to the terminal that has focus
            first.keyboard.press("q")
            wait(lambda: "QUIT" in screen(first) or run_dirs_done(tmp_path), "q answered")
            if not run_dirs_done(tmp_path):  # positions are open: it asks first
                first.keyboard.press("y")
            wait(lambda: run_dirs_done(tmp_path), "the first session's summary.json")
            wait(lambda: "-closed" in first.evaluate("document.body.className"), "the page told the session ended")
            wait(lambda: "exit status 0" in log.read_text(), "the first session exits 0")

            second = open_console(browser, url)  # another tab, another session; left open
            running = wait(lambda: [p for p in psutil.Process(proc.pid).children() if p.is_running()], "a session")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=90) == 128 + signal.SIGTERM, log.read_text()
            assert len(run_dirs_done(tmp_path)) == 2, log.read_text()
            assert re.search(r"session pid \d+ ended, exit status 143", log.read_text()), log.read_text()
            assert not alive(running)
            wait(lambda: "-closed" in second.evaluate("document.body.className"), "the second tab told it ended")
        finally:
            started += mine.children(recursive=True)  # Playwright's driver, Chromium's, the server's
            browser.close()
    wait(lambda: not alive(started), "every process the test started gone")
    orders = []
    for run_dir in run_dirs_done(tmp_path):  # each journal closed whole: summary.json agrees with it
        summary = json.loads((run_dir / "summary.json").read_text())
        with contextlib.closing(sqlite3.connect(run_dir / "journal.sqlite")) as db:
            assert db.execute("select count(*) from orders").fetchone()[0] == summary["orders"]
        orders.append(summary["orders"])
    assert orders[0] > 0  # the session q ended traded first (the one SIGTERM ended may have just begun)


# What serve refuses before it serves, and how it builds each tab's command: no browser needed.


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--port", "0"], "--port: '0'"),
        (["--port", "http"], "--port: 'http'"),
        (["--port", "65536"], "--port: '65536'"),
        (["--host", "192.0.2.1", "--port", "8000"], "--host: '192.0.2.1' is not an address of this machine"),
        (["--public-url", "ftp://desk"], "--public-url: 'ftp://desk'"),
        (["--mode", "nope"], "--mode"),  # a session flag, checked before any tab runs it
        (["--", "--no-ui"], "--no-ui"),
        (["--", "--duration", "-1"], "--duration"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv: list[str], names: str, capsys: pytest.CaptureFixture[str]) -> None:
    from hft_console.cli.serve import serve_main

    assert serve_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hft-console serve: error: ") and names in err, err


def test_a_port_in_use_is_named_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    from hft_console.cli.serve import serve_main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_main(["--port", str(port)]) == 2
    assert f"--port: {port} is in use on 127.0.0.1" in capsys.readouterr().err


def test_each_tab_runs_this_interpreter_with_the_session_flags() -> None:
    import shlex

    from hft_console.cli.serve import public_url, session_command

    command = shlex.split(session_command(["--mode", "fast", "--router", "ucb"]))
    assert command == ["exec", sys.executable, "-m", "hft_console", "--mode", "fast", "--router", "ucb"]
    assert public_url(None, "127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert public_url(None, "0.0.0.0", 8001) == "http://127.0.0.1:8001"  # a wildcard is reached here locally
    assert public_url(None, "::", 8002) == "http://[::1]:8002"
    assert public_url("https://desk.example/console/", "0.0.0.0", 8003) == "https://desk.example/console"


def test_the_console_accepts_textual_serves_web_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under textual-serve stdin and stderr are pipes, and Textual's web driver would close the app on
    SIGINT/SIGTERM without the session ending as on a signal: the console's wrapper keeps its own."""
    from textual.drivers.linux_driver import LinuxDriver
    from textual.drivers.web_driver import WebDriver

    from hft_console.ui import terminal

    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a terminal
    assert terminal.terminal_problem() is not None
    monkeypatch.setenv("TEXTUAL_DRIVER", terminal.WEB_DRIVER)
    assert terminal.terminal_problem() is None and terminal.terminal_alive()
    driver = terminal.surviving_driver(WebDriver)
    assert issubclass(driver, WebDriver) and driver is not WebDriver
    assert "start_application_mode" in vars(driver) and not issubclass(driver, LinuxDriver)
