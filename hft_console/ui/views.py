"""The console's view keys, none of which trades: ``s`` saves the screen, the tape and the blotter
(export.py), ``e`` opens the event log (events.py), ``v`` the market view (market.py, installed once
as "market" so it keeps its symbol), ``/`` the tape's filter (tape.py), ``c`` the charts (charts.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App

from hft_console.engine.snapshot import Snapshot
from hft_console.ui.blotter import BlotterPane
from hft_console.ui.charts import ChartsScreen
from hft_console.ui.events import EventLogScreen
from hft_console.ui.export import save_note
from hft_console.ui.panes import StatusBar
from hft_console.ui.tape import TapeFilter, TapePane


def open_view(app: App[Any], which: str, run_dir: Path | None, shown: Callable[[], Snapshot | None]) -> None:
    """``which``: save, events, market, filter or charts. ``run_dir``: the session's (None: nothing on disk);
    ``shown``: the snapshot the panes show."""
    if which == "save":
        app.query_one(StatusBar).note(save_note(run_dir, app.export_screenshot(), shown()))
    elif which == "events":
        app.push_screen(EventLogScreen(run_dir / "journal.sqlite" if run_dir is not None else None))
    elif which == "market":
        app.push_screen("market")
    elif which == "charts":
        if not app.is_screen_installed("charts"):
            # the engine's latest snapshot: the panes' (``shown``) hold still while a view is open
            engine = getattr(app, "engine", None)
            app.install_screen(ChartsScreen(lambda: engine.snapshot if engine is not None else shown()), "charts")
        app.push_screen("charts")
    elif which == "filter":  # the blotter's while it is open, else the tape's
        pane: TapePane | BlotterPane = (
            app.query_one(BlotterPane) if getattr(app, "blotter", False) else app.query_one(TapePane)
        )
        what = "orders" if isinstance(pane, BlotterPane) else "trades"
        name = f"filter-{what}"  # installed once: a new screen on every press costs the key tens of ms
        if not app.is_screen_installed(name):
            app.install_screen(TapeFilter(pane.filter, what), name)
        screen = app.get_screen(name)
        assert isinstance(screen, TapeFilter)
        screen.configure(pane.filter)
        app.push_screen(screen, lambda text: pane.set_filter(text) if text is not None else None)
