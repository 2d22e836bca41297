"""Regenerate the console screenshots in docs/ (SVG) from a seeded session on the simulated clock.

python scripts/screenshots.py      (or: make screenshots)
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hft_console.engine.engine import Engine
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import load_settings
from hft_console.ui.app import ConsoleApp
from hft_console.ui.charts import ChartsScreen

DOCS = Path(__file__).resolve().parents[1] / "docs"


def engine(run_dir: Path) -> Engine:
    flags = {"session.mode": "fast", "session.clock": "sim", "session.duration_s": 30, "session.seed": 7}
    e = Engine(load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES), run_dir)
    e.run()
    return e


async def shoot(app: ConsoleApp, name: str, kill_switch: bool = False, key: str = "") -> None:
    """``key``: a view to open first (v the market view, c the charts)."""
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        if kill_switch:
            app.action_halt()
            await pilot.pause(0.3)
        if key:
            await pilot.press(key)
            while key == "c" and not (isinstance(app.screen, ChartsScreen) and app.screen.drawn is not None):
                await pilot.pause(0.05)
            await pilot.pause(0.3)
        app.save_screenshot(name, str(DOCS))
    print(f"wrote {DOCS / name}")


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(shoot(ConsoleApp(engine(Path(tmp) / "a"), deterministic=True), "console.svg"))
        live = ConsoleApp(engine(Path(tmp) / "b"), deterministic=True)
        asyncio.run(shoot(live, "console-kill-switch.svg", kill_switch=True))
        done = engine(Path(tmp) / "c")
        asyncio.run(shoot(ConsoleApp(done, deterministic=True), "charts.svg", key="c"))
        asyncio.run(shoot(ConsoleApp(done, deterministic=True), "console-market.svg", key="v"))


if __name__ == "__main__":
    main()
