"""The trades tape: newest trade on top, paged with PgDn/PgUp/Home/End, filtered with ``/`` by symbol,
venue or side (every word must match: ``AAPL BUY`` is AAPL's buys). Paging counts the trades the filter
shows; the title says how many of the trades kept those are.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from hft_console.domain import Fill
from hft_console.engine.snapshot import Snapshot
from hft_console.money import dollars
from hft_console.ui.format import columns, grow_widths, lines, money, pnl_cell, session_time
from hft_console.ui.panes import FRAME_H, FRAME_W, TAPE_MIN_ROWS, Pane, fit, header
from hft_console.ui.screens import MODAL_CSS


def held_index(trades: tuple[Fill, ...], seq: int) -> int:
    """The position of the trade numbered ``seq`` (or the newest before it) in ``trades``; -1: none."""
    return bisect_right([f.seq for f in trades], seq) - 1


class TapePane(Pane):
    """Newest trade on top, the seed's columns, green/red trade P&L. PgDn/PgUp page through older
    trades (the view then holds still while new ones arrive), Home goes back to the live top, End to
    the oldest trade kept."""

    HEADS = ("Time", "Sym", "Side", "Qty", "Price", "Trade P&L", "Total P&L", "Venue")
    ALIGN = ("<", "<", "<", ">", ">", ">", ">", "<")
    top_seq: int | None = None  # None: live (newest on top); else the trade held on the top row
    filter: str = ""  # key /: only trades matching every word (symbol, venue or side); empty: all

    def matches(self, f: Fill) -> bool:
        """Whether a trade matches every word of the filter: its symbol, its venue, or its side (BUY, B,
        SELL, S), in any case."""
        names = {f.symbol.upper(), f.venue.upper(), f.side.label.upper(), f.side.label[0].upper()}
        return all(word in names for word in self.filter.upper().replace(",", " ").split())

    def shown_trades(self, snap: Snapshot) -> tuple[Fill, ...]:
        """The snapshot's trades the filter lets through, oldest first."""
        return tuple(f for f in snap.trades if self.matches(f)) if self.filter else snap.trades

    def set_filter(self, text: str) -> None:
        """A new filter (empty clears it); the view goes back to the live top."""
        self.filter, self.top_seq = text.strip(), None
        self.redraw()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._widths = [len(h) for h in self.HEADS]
        self._widths[3:8] = [5, 8, 9, 10, 6]  # room for typical values from the start, so columns rarely move

    def _cells(self, snap: Snapshot, f: Fill) -> list[str | Text]:
        return [
            session_time(f.ts_ns, hours=snap.duration_s >= 3600),
            f.symbol,
            Text(f.side.label, style="green" if f.side > 0 else "red"),
            f"{f.qty:,}",
            dollars(f.price),
            pnl_cell(f.trade_pnl, 0),
            money(f.total_pnl),
            f.venue,
        ]

    def _grow(self, snap: Snapshot, rows: list[list[str | Text]]) -> list[int]:
        """Column widths: wide enough for every value seen so far (they only grow, so nothing jumps)."""
        w = self._widths
        w[0] = max(w[0], 12 if snap.duration_s >= 3600 else 9)
        w[1] = max([w[1], *(len(p.symbol) for p in snap.positions)])
        w[7] = max([w[7], *(len(v.name) for v in snap.venues)])
        return grow_widths(w, rows)

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        return sum(self._grow(snap, [])) + len(self.HEADS) - 1 + FRAME_W, 1 + TAPE_MIN_ROWS + FRAME_H

    @property
    def page(self) -> int:
        return max(1, self.size.height - 1)

    def page_by(self, rows: int) -> None:
        """Positive: towards older trades. Holding starts from the live top."""
        trades = self.shown_trades(self.last[0]) if self.last is not None else ()
        if not trades:
            return
        newest = len(trades) - 1
        current = newest if self.top_seq is None else held_index(trades, self.top_seq)
        top = max(min(current - rows, newest), min(newest, self.page - 1))
        self.top_seq = None if top >= newest else trades[top].seq
        self.redraw()

    def show_newest(self) -> None:
        self.top_seq = None
        self.redraw()

    def show_oldest(self) -> None:
        self.page_by(1 << 40)

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        n_rows = self.page
        closed = snap.wins + snap.losses
        trades = self.shown_trades(snap)
        top = len(trades) - 1
        if self.top_seq is not None and trades:
            top = max(0, min(top, held_index(trades, self.top_seq)))
            if top < min(len(trades), n_rows) - 1:  # the held trade aged out: keep a full page
                top = min(len(trades), n_rows) - 1
        view = [trades[i] for i in range(top, max(-1, top - n_rows), -1)]
        cells = [self._cells(snap, f) for f in view]
        widths = self._grow(snap, cells)
        title = [f"Trades  {snap.fills:,} fills", f"Trades {snap.fills:,}", "Trades"]
        if self.filter:  # what the filter shows of the trades kept, and the filter itself
            title = [f"Trades  {len(trades):,} of {len(snap.trades):,} · /{self.filter}", f"Trades /{self.filter}",
                     *title]  # fmt: skip
        self.border_title = fit(title, self.frame_text_width)
        held = ""
        if self.top_seq is not None and trades:
            first = len(trades) - top
            held = f"rows {first:,}–{first + len(view) - 1:,} of {len(trades):,} · Home: newest"
        elif len(trades) > n_rows:
            held = "PgDn: older"
        score = f"won {snap.wins} lost {snap.losses}  win rate {snap.wins / closed:.0%}" if closed else ""
        self.border_subtitle = fit(
            [f"{held}  {score}".strip(), held or score, f"won {snap.wins} lost {snap.losses}"], self.frame_text_width
        )
        rows = [header(*zip(self.HEADS, widths, self.ALIGN, strict=True))]
        for f, row in zip(view, cells, strict=True):
            row[5] = pnl_cell(f.trade_pnl, widths[5])  # the green or red background fills the column
            rows.append(columns(list(zip(row, widths, self.ALIGN, strict=True))))
        self.put(lines(rows))


class TapeFilter(ModalScreen[str | None]):
    """Key /: a filter for the tape (symbol, venue or side words); Enter applies, empty clears, Esc keeps
    the filter as it was."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    WORDS = {
        "trades": ("Filter the trades", "symbol, venue or side (BUY, SELL)", "e.g. AAPL NYSE"),
        "orders": ("Filter the working orders", "venue, symbol, side, type (IOC LIMIT POST PEG) or state "
                   "(open partial pending)", "e.g. NYSE partial"),
    }  # fmt: skip

    def __init__(self, current: str, what: str = "trades") -> None:
        """``what``: trades (the tape) or orders (the blotter)."""
        super().__init__()
        self.current, self.what = current, what

    def compose(self) -> ComposeResult:
        title, words, example = self.WORDS[self.what]
        with Vertical(id="dialog"):
            yield Label(title, id="title")
            yield Label(f"{words}: every word must match; empty shows all", id="current")
            yield Input(value=self.current, placeholder=example, id="filter")

    def configure(self, current: str) -> None:
        """Open again over the filter as it is now (installed once per pane, as the ticket is)."""
        self.current = current
        if self.is_mounted:
            field = self.query_one(Input)
            field.value = current
            field.cursor_position = len(current)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
