"""The panes' places on the screen, shared by the live console (app.py) and the recorded-run viewer
(viewer.py): trades, blotter and heatmap on the left, risk, router and P&L on the right; the layout
(layout.py) decides which show."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from hft_console.ui.blotter import BlotterPane
from hft_console.ui.panes import HeatmapPane, Pane, RiskPane, RouterPane


def pane_body(tape: Pane, pnl: Pane) -> ComposeResult:
    """Compose the body around ``tape`` (id ``tape``) and ``pnl`` (id ``pnl``), the two panes the viewer
    draws its own way; call with ``yield from`` inside ``compose``."""
    with Horizontal(id="body"):
        with Vertical(id="left"):
            yield tape
            yield BlotterPane(id="blotter", classes="pane")
            yield HeatmapPane(id="heatmap", classes="pane")
        with Vertical(id="right"):
            yield RiskPane(id="risk", classes="pane")
            yield RouterPane(id="router", classes="pane")
            yield pnl
