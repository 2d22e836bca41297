"""Key ``e``: the session's event log, as the journal has it (``events`` table): every risk event,
operator command, feed change, router change or fallback and session mark, oldest first.

It reads the journal read-only beside the engine's connection (what the engine has committed: it commits
at the end of every batch) and reads again every second while open, staying at the bottom when it was
there. PgUp/PgDn, Home/End and the arrows scroll; ``e`` or Escape closes it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from hft_console.ui.format import session_time

EVENTS_CSS = """
EventLogScreen { align: center middle; }
EventLogScreen #dialog { width: 95%; height: 90%; border: thick $accent; background: $surface; padding: 0 1; }
EventLogScreen #title { text-style: bold; width: 100%; content-align: center middle; }
EventLogScreen #log { height: 1fr; }
EventLogScreen #hint { color: $text-muted; width: 100%; height: 1; }
"""
KIND_STYLE = {"RISK_DENIED": "bold red", "CIRCUIT_BREAKER": "bold red", "STATE": "bold", "VENUE_REJECT": "red",
              "COMMAND": "cyan", "FEED": "yellow", "ROUTER_FALLBACK": "bold yellow", "ROUTER": "magenta",
              "SESSION": "dim", "ALERT": "bold yellow", "SYMBOL_STATE": "bold cyan",
              "MANUAL_ORDER": "cyan"}  # fmt: skip


def read_events(journal: Path | None) -> list[tuple[int, str, str, str, int | None, str, str]]:
    """(ts_ns, kind, symbol, venue, order id, reason, detail) of every event the journal holds, oldest
    first; [] without a journal file. OSError when the file cannot be read."""
    if journal is None or not journal.exists():
        return []
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT ts_ns, kind, symbol, venue, order_id, reason, detail FROM events ORDER BY id"
        ).fetchall()
    except sqlite3.Error as exc:
        raise OSError(f"{journal}: {exc}") from None
    finally:
        db.close()
    return [(t, k, s or "", v or "", o, r or "", d or "") for t, k, s, v, o, r, d in rows]


def event_text(rows: list[tuple[int, str, str, str, int | None, str, str]]) -> Text:
    """One line per event: session time, kind (coloured), where, why, and its detail."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for t, kind, sym, venue, order, reason, detail in rows:
        where = " ".join(x for x in (sym, venue, f"#{order}" if order is not None else "") if x)
        if detail:
            try:
                parsed = json.loads(detail)
                detail = " ".join(f"{k}={v}" for k, v in parsed.items()) if isinstance(parsed, dict) else detail
            except ValueError:
                pass
        out.append(f"{session_time(t)}  ")
        out.append(f"{kind:<15}", style=KIND_STYLE.get(kind, ""))
        out.append(f" {where:<18} {reason} {detail}".rstrip() + "\n")
    if not rows:
        out.append("no events yet", style="dim")
    return out


class EventLogScreen(ModalScreen[None]):
    """The event log over the console (see the module docstring)."""

    DEFAULT_CSS = EVENTS_CSS
    BINDINGS = [
        Binding("e,escape", "close", "Close"),
        Binding("pagedown", "scroll('page_down')", show=False),
        Binding("pageup", "scroll('page_up')", show=False),
        Binding("home", "scroll('home')", show=False),
        Binding("end", "scroll('end')", show=False),
        Binding("down", "scroll('down')", show=False),
        Binding("up", "scroll('up')", show=False),
    ]

    def __init__(self, journal: Path | None) -> None:
        super().__init__()
        self.journal = journal
        self.count = -1

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Event log", id="title")
            with VerticalScroll(id="log"):
                yield Static("", id="lines")
            yield Label("PgUp/PgDn Home/End scroll · e or Esc closes", id="hint")

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(1.0, self.reload)

    def reload(self) -> None:
        """Read the journal again; keep the view at the bottom when it was there."""
        lines = self.query_one("#lines", Static)
        if self.journal is None:
            lines.update(Text("this session keeps no journal on disk: no event log to read", style="dim"))
            return
        try:
            rows = read_events(self.journal)
        except OSError as exc:
            lines.update(Text(f"cannot read the event log: {exc}", style="red"))
            return
        if len(rows) == self.count:
            return
        self.count = len(rows)
        log = self.query_one("#log", VerticalScroll)
        at_end = log.scroll_y >= log.max_scroll_y
        lines.update(event_text(rows))
        self.query_one("#title", Label).update(f"Event log  {len(rows):,} events")
        if at_end:
            log.scroll_end(animate=False)

    def action_scroll(self, where: str) -> None:
        log = self.query_one("#log", VerticalScroll)
        if where == "page_down":
            log.scroll_page_down(animate=False)
        elif where == "page_up":
            log.scroll_page_up(animate=False)
        elif where == "home":
            log.scroll_home(animate=False)
        elif where == "end":
            log.scroll_end(animate=False)
        elif where == "down":
            log.scroll_down(animate=False)
        else:
            log.scroll_up(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
