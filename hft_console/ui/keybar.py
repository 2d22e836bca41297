"""The key line at the bottom of the console."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class KeyBar(Static):
    """The key line at the bottom. Textual's Footer rebuilds itself on every dialog and keeps part
    of each rebuild (measured: ~600 objects per dialog with two keys), so the console draws its own.
    Every key of the console's is on it at 80 columns (the command palette's ^p from 86); wider, the keys
    get more room and the tape's scroll keys join them."""

    EXTRA: tuple[tuple[str, str], ...] = (("^p", "Palette"),)
    SCROLL = ("PgUp/PgDn/Home/End", "Scroll trades")

    def show_keys(self, keys: list[tuple[str, str, bool]]) -> None:
        """``keys``: (key, label, enabled); disabled keys are dimmed."""
        extra = [(k, label, True) for k, label in self.EXTRA]
        width = self.size.width
        # narrowest last: the palette's key (also in the help and Textual's own) gives way before any
        # key of the console's, and every entry keeps a space on either side
        for pad, gap, scroll, more in ((True, "  ", True, True), (False, " ", True, True), (True, "  ", False, True),
                                       (False, " ", False, True), (False, " ", False, False)):  # fmt: skip
            line = self._line(keys + (extra if more else []) + ([(*self.SCROLL, True)] if scroll else []), pad, gap)
            if line.cell_len <= width:
                break
        self.update(line, layout=False)

    @staticmethod
    def _line(keys: list[tuple[str, str, bool]], pad: bool, gap: str) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, (key, label, enabled) in enumerate(keys):
            style = "bold black on dark_orange" if enabled else "grey50 on grey15"
            line.append(f" {key} " if pad else key, style=style)
            line.append(f" {label}" + (gap if i < len(keys) - 1 else ""), style="" if enabled else "grey50")
        return line

    def on_resize(self) -> None:
        if self.app.is_running:
            self.app.refresh_bindings()


# every key the console answers, as the help screen lists them (``?``)
KEYS = [
    ("k", "kill switch: halt (cancel orders in flight, refuse new ones); y to confirm"),
    ("K", "flatten every position, then halt; y to confirm"),
    ("r", "resume trading (ACTIVE); y to confirm"),
    ("l", "edit a risk limit"),
    ("m", "switch to the next routing policy"),
    ("p", "pause / resume the strategy (orders in flight still complete)"),
    ("b", "working orders: show / hide the blotter"),
    ("s", "save screen, tape and blotter to the run directory"),
    ("e", "event log: risk, commands, feed and router changes"),
    ("v", "market: venue quotes, NBBO, our orders ([ ] symbol; h f r halt/flatten/resume it, o order)"),
    ("1 2 3 4 5 6, Esc", "zoom a pane: 1 trades, 2 latency, 3 risk, 4 router, 5 P&L, 6 blotter; again or Esc: back"),
    ("o", "order ticket: e.g. buy 100 AAPL limit 190.01 at NYSE; y to confirm"),
    ("c", "charts: P&L and venue round trips over session time (1 2 Tab)"),
    ("a", "acknowledge the alerts on screen (their toasts go; journaled)"),
    ("?", "this help"),
    ("q, ctrl+q, ctrl+c", "quit (asks when positions are open)"),
    ("ctrl+p", "command palette"),
    ("PgDn PgUp Home End", "trades: older / newer page, newest (live) / oldest"),
    ("/", "filter trades by symbol, venue or side"),
]
