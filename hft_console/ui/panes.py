"""The console's panes. Each is a Static that redraws itself from one engine snapshot; none of them
does engine work. Rows are built as fixed-width text (a rich Table costs far more to render at
10 Hz). ``deterministic`` hides the few figures measured on the wall clock, so a screen captured at
a fixed seed is the same on every machine.

Every pane says what it needs (``needs``: columns and rows, frame included) so the console can pick a
layout in which nothing wraps or is cut; a pane never wraps a row (``text-wrap: nowrap`` in the CSS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Span, Text
from textual.widgets import Static

from hft_console.engine.snapshot import Snapshot
from hft_console.money import dollars
from hft_console.money import money as money_text
from hft_console.ui.format import (
    STATE_STYLE,
    clock,
    columns,
    compact,
    gauge,
    heat_row,
    lines,
    micros,
    money,
    session_time,
    sparkline,
)

HEAD = "bold"
FRAME_W, FRAME_H = 4, 2  # a pane's round border (2 columns, 2 rows) and its padding (2 columns)
TAPE_MIN_ROWS = 5  # trades the tape shows at least, or the layout gives it more room


def header(*cells: tuple[str, int, str]) -> Text:
    row = columns(cells)
    row.stylize(HEAD)
    return row


def fit(options: Sequence[str], width: int) -> str:
    """The first of ``options`` (longest first) that fits ``width`` cells, else ''."""
    return next((o for o in options if len(o) <= width), "")


class Pane(Static):
    """Panes size their content to the space they have, so a resize redraws the last snapshot."""

    ALLOW_MAXIMIZE = True  # keys 1-6 zoom a pane over the whole body (app.py ``action_zoom``)

    last: tuple[Snapshot, bool] | None = None
    _height = -1
    _shown_key: tuple[str, list[Span]] | None = None

    def render_snapshot(self, snap: Snapshot, deterministic: bool) -> None:
        self.last = (snap, deterministic)
        self.show(snap, deterministic)

    def redraw(self) -> None:
        if self.last is not None:
            self.show(*self.last)

    def on_resize(self) -> None:
        self.redraw()

    def put(self, content: Text) -> None:
        """Repaint only when the text or its styles changed, and lay out only when its height did."""
        key = (content.plain, content.spans)
        if key == self._shown_key:
            return
        self._shown_key = key
        height = content.plain.count("\n") + 1
        self.update(content, layout=height != self._height)
        self._height = height

    @property
    def inner_width(self) -> int:
        """Columns available for content (``size`` excludes border and padding)."""
        return max(20, self.size.width)

    @property
    def frame_text_width(self) -> int:
        """Cells a border title or subtitle can use: the outer width less the corners and a space each side."""
        return max(0, self.size.width + FRAME_W - 4)

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        """(columns, rows) this pane needs for ``snap`` without wrapping or cutting, frame included."""
        raise NotImplementedError

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        raise NotImplementedError


FEED_STYLE = {"live": "bold black on green", "stale": "bold black on yellow", "down": "bold white on red"}
NOTE_S = 5.0  # how long a status-line note stays


class StatusBar(Pane):
    """Engine state, mode, session progress, data source, throughput, router and P&L on one line.

    What must always be there comes first: state, progress bar (at least ``GAUGE_MIN`` cells), clock and
    P&L; then the mode; a note ("halt sent") gets what is left, cut if need be, and expires after
    ``NOTE_S`` seconds; throughput, router and data source show only where they fit whole.
    """

    GAUGE_MIN = 10
    paused = False  # set by the console's pause key, so the effect shows before the next snapshot
    dead = ""  # set when the engine thread died; the status line then shows only that
    note_text = ""
    note_until: float | None = None  # deadline on ``now``; None: stays until replaced
    now: Callable[[], float] = time.monotonic  # the clock notes expire on; tests set their own

    def note(self, text: str, seconds: float | None = NOTE_S) -> None:
        self.note_text = text
        self.note_until = None if seconds is None else self.now() + seconds
        self.redraw()

    def expire_note(self) -> bool:
        """Drop a note whose time is up; True when one was dropped (the line needs a redraw)."""
        if self.note_text and self.note_until is not None and self.now() >= self.note_until:
            self.note_text, self.note_until = "", None
            return True
        return False

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        if self.dead:
            return
        self.expire_note()
        width = max(40, self.size.width)
        elapsed, total = snap.elapsed_s, snap.duration_s
        left = Text()
        if snap.finished:
            left.append(" FINISHED ", style="bold reverse")
        left.append(f" {snap.state} ", style=STATE_STYLE.get(snap.state, "bold"))
        if self.paused:  # what the operator asked for; the engine's snapshot follows within 100 ms
            left.append(" PAUSED ", style="bold black on cyan")
        if snap.feed != "sim":  # a live feed: stale or down pauses trading by itself
            left.append(f" FEED {snap.feed.upper()} ", style=FEED_STYLE.get(snap.feed, "bold"))
        cut = 0 if total >= 3600 else 3  # hours only for sessions of an hour or more
        when = Text(f" {clock(elapsed)[cut:]}/{clock(total)[cut:]} ")
        pnl = Text("· P&L ") + money(snap.pnl_total) + Text(" ")
        room = width - left.cell_len - when.cell_len - pnl.cell_len - self.GAUGE_MIN
        mode = f" {snap.mode.upper()} "
        if room >= len(mode):
            left.append(mode)
            room -= len(mode)
        note = Text()
        if self.note_text and room > 4:
            note = Text(f"· {self.note_text} ", style="bold yellow")
            note.truncate(room, overflow="ellipsis")
            room -= note.cell_len
        shown = ""
        for extra in (f"· {'—' if deterministic else f'{snap.ticks_per_s:,.0f}'} ticks/s ", f"· {snap.router} "):
            if len(extra) <= room:
                shown += extra
                room -= len(extra)
        where = f"· {snap.data_source} · {snap.clock} "
        if room >= len(where):
            left.append(where)
            room -= len(where)
        right = when + Text(shown) + pnl + note
        bar = width - left.cell_len - right.cell_len
        self.update(left + gauge(min(1.0, elapsed / total if total else 1.0), bar) + right, layout=False)

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        return 80, 1


HEAT_FIXED = (6, 7, 7, 7, 7, 7)  # venue, status, p50, p95, p99, expect
HEAT_MIN_CELLS = 5


class HeatmapPane(Pane):
    """Venues x time buckets of round-trip p95, against each venue's calm round trip."""

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        return sum(HEAT_FIXED) + HEAT_MIN_CELLS + len(HEAT_FIXED) + FRAME_W, 1 + len(snap.venues) + FRAME_H

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        free = self.inner_width - sum(HEAT_FIXED) - len(HEAT_FIXED)
        cells = max(HEAT_MIN_CELLS, min(len(snap.heatmap_start_ns), free))
        self.border_title = fit(
            [f"Venue latency  last {cells} × {snap.bucket_s:g}s", "Venue latency"], self.frame_text_width
        )
        self.border_subtitle = fit(
            [
                "p95÷calm RT ≤1.5 green ≤3 yellow ≤6 orange >6 red · X timeout",
                "p95÷calm ≤1.5 green ≤3 yellow ≤6 orange · X timeout",
                "p95÷calm RT · X timeout",
            ],
            self.frame_text_width,
        )
        widths = ((6, "<"), (7, "<"), (cells, "<"), (7, ">"), (7, ">"), (7, ">"), (7, ">"))
        names = ("Venue", "Status", "History", "p50", "p95", "p99", "expect")
        rows = [header(*((n, w, a) for n, (w, a) in zip(names, widths, strict=True)))]
        for venue, row in zip(snap.venues, snap.heatmap, strict=True):
            if venue.status == "down":
                status = Text(" DOWN ", style="bold white on red")
            elif venue.regime == "congested":
                status = Text("congest", style="bold yellow")
            elif venue.status != "up":  # a recorded run (``view``) does not know: "n/a"
                status = Text(venue.status, style="grey50")
            else:
                status = Text("up", style="green")
            values: tuple[str | Text, ...] = (
                venue.name,
                status,
                heat_row(row[-cells:], venue.calm_rt_us),
                micros(venue.p50_us),
                micros(venue.p95_us),
                micros(venue.p99_us),
                micros(venue.expected_us),
            )
            rows.append(columns([(v, w, a) for v, (w, a) in zip(values, widths, strict=True)]))
        self.put(lines(rows))


class RouterPane(Pane):
    """What the router is doing: per venue the pulls, mean reward and share of recent decisions."""

    @staticmethod
    def _belief_width(snap: Snapshot) -> tuple[str, int]:
        beliefs = "".join(a.belief for a in snap.arms)  # a bandit's bound or posterior; a learned router's forecast
        title = "Forecast" if "µs" in beliefs else "Belief" if "±" in beliefs else "Bound"
        belief = max((len(a.belief) for a in snap.arms), default=0)
        return title, (max(belief, len(title), 6) + 1 if belief else 0)

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        _, belief = self._belief_width(snap)
        return 6 + 7 + 7 + belief + 4 + 5 + 3 + 1 + FRAME_W, 1 + len(snap.arms) + FRAME_H

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        inf = snap.inference_us
        speed = "" if deterministic else f"  inference p50 {micros(inf['p50'])} p99 {micros(inf['p99'])}"
        learning = "" if snap.online_updates is None else f"  online {snap.online_updates:,} updates"
        head = f"Router {snap.router}"
        self.border_title = fit(
            [f"{head}  {snap.router_decisions:,} decisions{learning}", f"{head}  {snap.router_decisions:,} decisions",
             head, snap.router],
            self.frame_text_width,
        )  # fmt: skip
        self.border_subtitle = fit([f"reward = -cost bps{speed}", "reward = -cost bps"], self.frame_text_width)
        title, belief = self._belief_width(snap)
        bar = max(4, self.inner_width - 6 - 7 - 7 - belief - 5 - 3)
        cols = [("Venue", 6, "<"), ("Pulls", 7, ">"), ("Reward", 7, ">")]
        if belief:
            cols.append((title, belief, ">"))
        rows = [header(*cols, ("Recent share" if bar + 5 >= 12 else "Recent", bar + 5, "<"))]
        for arm in snap.arms:
            reward = "—" if arm.mean_reward is None else f"{arm.mean_reward:+.2f}"
            share = gauge(arm.recent_share, bar)
            share.stylize("cyan")
            share.append(f" {arm.recent_share:>3.0%}")
            row: list[tuple[str | Text, int, str]] = [(arm.venue, 6, "<"), (f"{arm.pulls:,}", 7, ">"), (reward, 7, ">")]
            if belief:
                row.append((arm.belief, belief, ">"))
            rows.append(columns([*row, (share, bar + 5, "<")]))
        self.put(lines(rows))


RISK_NOTES = 2
RISK_BAR_MIN = 8


class RiskPane(Pane):
    """The engine state as a banner, every limit with its usage as a gauge, and how much of that is resting
    orders (unfilled shares each side, $ at the mark)."""

    @staticmethod
    def _used(snap: Snapshot) -> list[str]:
        out = []
        for lim in snap.limits:
            money_like = lim.unit == "$"
            unit = "/s" if lim.unit == "/s" else ""
            out.append(f"{compact(lim.used, money_like)}/{compact(lim.limit, money_like)}{unit}")
        return out

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        names = max(len(lim.name) for lim in snap.limits)
        used = max([len("Used/limit"), *map(len, self._used(snap))])
        return names + RISK_BAR_MIN + used + 2 + FRAME_W, 3 + len(snap.limits) + RISK_NOTES + FRAME_H

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        width = self.inner_width
        self.border_title = fit(
            [f"Risk  {snap.breaches:,} breaches  {snap.risk_denials:,} denied", f"Risk  {snap.breaches:,} breaches",
             "Risk"],
            self.frame_text_width,
        )  # fmt: skip
        rows = [Text(f" {snap.state} ".center(width), style=STATE_STYLE.get(snap.state, "bold"))]
        names = max(len(lim.name) for lim in snap.limits)
        used = self._used(snap)
        used_w = max([len("Used/limit"), *map(len, used)])
        bar = max(RISK_BAR_MIN, width - names - used_w - 2)
        rows.append(header(("Limit", names, "<"), ("Usage", bar, "<"), ("Used/limit", used_w, ">")))
        for lim, text in zip(snap.limits, used, strict=True):
            rows.append(columns([(lim.name, names, "<"), (gauge(lim.usage, bar), bar, "<"), (text, used_w, ">")]))
        r = snap.resting
        rest = f"B {r.buy:,} / S {r.sell:,}  {compact(r.notional, True)}" if r.orders else "none"
        rows.append(columns([("resting", names, "<"), (rest, width - names - 1, "<")]))
        notes = [n for n in snap.notes if "denied" not in n[2]][-RISK_NOTES:]
        for _, ts, text in notes:
            note = Text(f"{session_time(ts, hours=snap.duration_s >= 3600)} {text}", style="yellow")
            note.truncate(width, overflow="ellipsis")
            rows.append(note)
        rows.extend(Text("") for _ in range(RISK_NOTES - len(notes)))
        self.put(lines(rows))


class PnlPane(Pane):
    """Totals, realised/unrealised, fees, per-symbol positions and a sparkline of total P&L."""

    NAMES = ("Sym", "Pos", "Avg", "Unreal", "Real")

    def _content(self, snap: Snapshot) -> tuple[list[Text], list[list[str | Text]], list[int]]:
        top = [
            Text("Total ", style="bold")
            + money(snap.pnl_total)
            + Text(f"   fees {money_text(snap.fees_taker, signed=False)}")
            + (Text(f"  rebates {money_text(snap.rebates_maker)}") if snap.rebates_maker else Text("")),
            Text("realised ") + money(snap.pnl_realized) + Text("  unrealised ") + money(snap.pnl_unrealized),
        ]
        table: list[list[str | Text]] = [
            [
                p.symbol,
                f"{p.position:+,}",
                dollars(p.avg_cost) if p.position else "—",
                money(p.unrealized),
                money(p.realized),
            ]
            for p in snap.positions
        ]
        widths = [5, 6, 9, 10, 10]
        for row in table:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], cell.cell_len if isinstance(cell, Text) else len(cell))
        return top, table, widths

    def needs(self, snap: Snapshot) -> tuple[int, int]:
        top, _, widths = self._content(snap)
        width = max([sum(widths) + len(widths) - 1, *(t.cell_len for t in top)])
        return width + FRAME_W, 4 + len(snap.positions) + FRAME_H

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        self.border_title = "P&L and positions"
        top, table, widths = self._content(snap)
        align = ("<", ">", ">", ">", ">")
        rows = [*top, sparkline(snap.pnl_history, self.inner_width)]
        rows.append(header(*zip(self.NAMES, widths, align, strict=True)))
        for row in table:
            rows.append(columns(list(zip(row, widths, align, strict=True))))
        self.put(lines(rows))
