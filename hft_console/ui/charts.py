"""Key ``c``: charts of the session, drawn with textual-plot from the engine's latest snapshot.

1. P&L ($) over session time (s): the total, one sample per ``bucket_s`` of engine time (the samples the
   P&L pane's sparkline draws; the engine keeps the last 600). The snapshot has no history of realised
   P&L, so only the total is drawn; the header gives the realised, unrealised and fee figures of now.
2. Round-trip latency (µs) per venue over the heatmap's window (its last ``latency_buckets`` buckets of
   ``bucket_s``): each bucket's p95 (``p``: its p50) held over the bucket as a step line, broken where a
   bucket had no round trip, one Okabe-Ito colour per venue (told apart with colour-blindness too), an
   ``x`` along the top where a bucket had timeouts. The heatmap keeps no p99 per bucket: none is drawn.

Both show at once, stacked where the terminal has the rows (``STACK_MIN_ROWS``) and side by side where
it does not; ``1`` or ``2`` gives one chart the whole screen (again: both), Tab steps both → 1 → 2.
``c``, Escape or ``q`` closes the view. It redraws at ``hz`` (2 a second), only while it is open and
only when the engine published a newer snapshot, so drawing takes little from the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from typing import NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Label
from textual_hires_canvas import Canvas
from textual_plot import HiResMode, NumericAxisFormatter, PlotWidget

from hft_console.engine.snapshot import Snapshot
from hft_console.money import money
from hft_console.ui.format import STATE_STYLE

# Okabe & Ito (2008), colour-blind safe; their black is a light grey here, on a dark screen
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#BBBBBB")
PNL_STYLE = "#56B4E9"
ZERO_STYLE = "grey42"
STACK_MIN_ROWS = 34  # shorter than this, the two charts stand side by side
VIEWS = ("both", "pnl", "latency")
CHARTS_CSS = """
ChartsScreen { background: $surface; padding: 0 1; }
ChartsScreen #title { text-style: bold; width: 100%; height: 1; }
ChartsScreen #plots { height: 1fr; layout: vertical; }
ChartsScreen #plots.side { layout: horizontal; }
ChartsScreen .chart { height: 1fr; width: 1fr; }
ChartsScreen .head { width: 100%; height: auto; color: $text-muted; }
ChartsScreen Chart { height: 1fr; min-height: 6; }
ChartsScreen #hint { color: $text-muted; width: 100%; height: 1; }
"""


class VenueSeries(NamedTuple):
    """One venue's points in the latency chart: bucket starts (s) with their p50 and p95 (µs), where a
    bucket had a round trip, and the starts (s) of buckets that had timeouts."""

    name: str
    style: str
    t: list[float]
    p50: list[float]
    p95: list[float]
    timeouts: list[float]


def pnl_series(snap: Snapshot) -> tuple[list[float], list[float]]:
    """Session times (s) and total P&L ($) of ``snap.pnl_history``. The engine takes a sample at the end
    of the first batch on or after each multiple of ``bucket_s`` of engine time, so the newest is the
    one of the last multiple up to ``engine_ns``; counting back from it keeps the times right once the
    engine's 600 samples have filled and the oldest fall away."""
    bucket_ns = max(1, int(snap.bucket_s * 1e9))  # as the latency monitor rounds it
    n = len(snap.pnl_history)
    last = snap.engine_ns // bucket_ns
    return [(last - n + 1 + i) * snap.bucket_s for i in range(n)], list(snap.pnl_history)


def latency_series(snap: Snapshot) -> list[VenueSeries]:
    """Per venue (in the snapshot's order, coloured in turn by ``OKABE_ITO``), the heatmap's cells as
    points; a bucket without round trips has no point (timeouts alone give only the timeout mark)."""
    out = []
    for i, (venue, row) in enumerate(zip(snap.venues, snap.heatmap, strict=True)):
        t: list[float] = []
        p50: list[float] = []
        p95: list[float] = []
        timeouts: list[float] = []
        for start_ns, cell in zip(snap.heatmap_start_ns, row, strict=True):
            if cell is None:
                continue
            lo, hi, _, timed_out = cell
            if lo is not None and hi is not None:
                t.append(start_ns / 1e9)
                p50.append(lo)
                p95.append(hi)
            if timed_out:
                timeouts.append(start_ns / 1e9)
        out.append(VenueSeries(venue.name, OKABE_ITO[i % len(OKABE_ITO)], t, p50, p95, timeouts))
    return out


def steps(t: list[float], y: list[float], width: float) -> list[tuple[list[float], list[float]]]:
    """Buckets starting at ``t`` (s), ``width`` s wide, as step lines: each bucket's value held from its
    start to its end, so a point's x are (start, end) and its y twice. A missing bucket breaks the line
    (a line across it would draw round trips that did not happen)."""
    out: list[tuple[list[float], list[float]]] = []
    xs: list[float] = []
    ys: list[float] = []
    for ti, yi in zip(t, y, strict=True):
        if xs and ti - xs[-1] > width / 2:
            out.append((xs, ys))
            xs, ys = [], []
        xs += [ti, ti + width]
        ys += [yi, yi]
    if xs:
        out.append((xs, ys))
    return out


class RowTicks(NumericAxisFormatter):
    """Round-number ticks (1, 2 or 5 × 10ⁿ apart), one per ``ROWS_PER_TICK`` rows of ``rows()`` at most:
    a label on nearly every row reads as uneven (the rows round the positions) and crowds the axis."""

    ROWS_PER_TICK = 3

    def __init__(self, rows: Callable[[], int]) -> None:
        self.rows = rows

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        span, most = max_ - min_, max(2, min(max_ticks, self.rows() // self.ROWS_PER_TICK + 1))
        if not (span > 0 and math.isfinite(span)):
            return super().get_ticks(min_, max_, max_ticks)
        power = math.floor(math.log10(span / most))
        for step in (m * 10.0**p for p in (power, power + 1) for m in (1, 2, 5)):
            first = math.ceil(min_ / step)
            ticks = [k * step for k in range(first, math.floor(max_ / step) + 1)]
            if len(ticks) <= most:
                return ticks
        return [min_, max_]


class Chart(PlotWidget, can_focus=False):
    """A plot that follows the session: no focus, so no zoom or pan keys, and no mouse zoom or drag."""

    def __init__(self, x_label: str, y_label: str, id: str) -> None:
        super().__init__(id=id, allow_pan_and_zoom=False)
        self.x_label, self.y_label = x_label, y_label

    def on_mount(self) -> None:
        self.margin_top = 1  # the y axis's label only
        self.set_xlabel(self.x_label)
        self.set_ylabel(self.y_label)
        self.set_y_formatter(RowTicks(lambda: self.size.height - self.margin_top - self.margin_bottom))

    def _render_plot(self) -> None:
        # the canvases refresh once per frame, not once per cell drawn (measured: half the frame's time)
        with ExitStack() as batch:
            for canvas in self.query(Canvas):
                batch.enter_context(canvas.batch_refresh())
            super()._render_plot()


class ChartsScreen(ModalScreen[None]):
    """The charts over the console (see the module docstring). ``snapshot``: the engine's latest."""

    DEFAULT_CSS = CHARTS_CSS
    BINDINGS = [
        Binding("c,escape,q", "close", "Close"),
        Binding("tab", "cycle", "Next chart"),
        Binding("1", "only('pnl')", "P&L"),
        Binding("2", "only('latency')", "Latency"),
        Binding("p", "percentile", "p50/p95"),
    ]

    def __init__(self, snapshot: Callable[[], Snapshot | None], hz: float = 2.0) -> None:
        super().__init__()
        self.snapshot, self.hz = snapshot, hz
        self.view = "both"
        self.percentile = "p95"  # the latency chart's: p95 or p50
        self.drawn: Snapshot | None = None  # the snapshot the charts show

    def compose(self) -> ComposeResult:
        yield Label("Charts", id="title")
        with Container(id="plots"):
            with Vertical(id="pnl-box", classes="chart"):
                yield Label("", id="pnl-head", classes="head")
                yield Chart("session time (s)", "P&L ($)", id="pnl")
            with Vertical(id="latency-box", classes="chart"):
                yield Label("", id="latency-head", classes="head")
                yield Chart("session time (s)", "round trip (µs)", id="latency")
        yield Label("1 P&L · 2 latency · Tab next · p p50/p95 · c, Esc or q closes", id="hint")

    def on_mount(self) -> None:
        self.set_interval(1 / self.hz, self.redraw)

    def on_screen_resume(self) -> None:
        self.drawn = None
        self.place_charts(self.size.height)
        self.redraw()

    def on_resize(self, event: Resize) -> None:
        self.place_charts(event.size.height)

    def place_charts(self, height: int) -> None:
        """Stack the charts or set them side by side for ``height`` rows; show the chosen ones."""
        self.query_one("#plots").set_class(height < STACK_MIN_ROWS, "side")
        self.query_one("#pnl-box").display = self.view != "latency"
        self.query_one("#latency-box").display = self.view != "pnl"

    def redraw(self) -> None:
        """Draw the latest snapshot when this view is on screen and the snapshot is new."""
        if not self.is_current:
            return
        snap = self.snapshot()
        if snap is None:
            self.query_one("#title", Label).update("Charts: no session data yet")
            return
        if snap is self.drawn:
            return
        self.drawn = snap
        with self.app.batch_update():
            # the status line is behind this view: its risk state comes along
            title = Text(f" {snap.state} ")
            title.stylize(STATE_STYLE.get(snap.state, "bold"))
            title.append(f"  Charts  session {snap.elapsed_s:,.1f} s of {snap.duration_s:,.0f} s")
            self.query_one("#title", Label).update(title.append("  (over)" if snap.finished else ""))
            self.draw_pnl(snap)
            self.draw_latency(snap)

    def draw_pnl(self, snap: Snapshot) -> None:
        t, pnl = pnl_series(snap)
        plot = self.query_one("#pnl", Chart)
        plot.clear()
        head = Text("P&L ($) ", style="bold")
        head.append("━ total", style=PNL_STYLE)
        head.append(
            f" {money(snap.pnl_total)} = realised {money(snap.pnl_realized)}"
            f" + unrealised {money(snap.pnl_unrealized)} − fees {money(snap.fees, signed=False)}"
        )
        if not t:
            head.append("  (no samples yet)")
        else:
            plot.set_xlimits(t[0], max(t[-1], t[0] + snap.bucket_s))
            flat = max(pnl) - min(pnl) < 0.01  # a dollar either side rather than the library's ±1e-6
            plot.set_ylimits(*((pnl[-1] - 1.0, pnl[-1] + 1.0) if flat else (None, None)))
            if min(pnl) < 0 < max(pnl):
                plot.plot([t[0], t[-1]], [0.0, 0.0], line_style=ZERO_STYLE, hires_mode=HiResMode.BRAILLE)
            plot.plot(t, pnl, line_style=PNL_STYLE, hires_mode=HiResMode.BRAILLE)
        self.query_one("#pnl-head", Label).update(head)

    def draw_latency(self, snap: Snapshot) -> None:
        series = latency_series(snap)
        plot = self.query_one("#latency", Chart)
        plot.clear()
        n, width = len(snap.heatmap_start_ns), snap.bucket_s
        head = Text(f"Round trip {self.percentile} (µs) ", style="bold")
        head.append(f"of {width:g} s buckets, last {n} · x timeouts\n")
        for s in series:
            head.append(f"━ {s.name}", style=s.style)
            head.append(" ")
        values = [s.p95 if self.percentile == "p95" else s.p50 for s in series]
        top = max((y for ys in values for y in ys), default=0.0)
        if not top and not any(s.timeouts for s in series):
            head.append(" (no round trips yet)")
        if n:
            first = max(0.0, snap.heatmap_start_ns[0] / 1e9)
            plot.set_xlimits(first, max(first, snap.heatmap_start_ns[-1] / 1e9) + width)
        top = top or 1.0  # timeouts alone: their marks on a scale without round trips
        plot.set_ylimits(0.0, top * 1.05)
        for s, ys in zip(series, values, strict=True):
            for xs, line in steps(s.t, ys, width):
                plot.plot(xs, line, line_style=s.style, hires_mode=HiResMode.BRAILLE)
            if s.timeouts:
                marks = [t + width / 2 for t in s.timeouts]
                plot.scatter(marks, [top] * len(marks), marker="x", marker_style=f"bold {s.style}")
        self.query_one("#latency-head", Label).update(head)

    def action_cycle(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.place_charts(self.size.height)

    def action_only(self, which: str) -> None:
        self.view = "both" if self.view == which else which
        self.place_charts(self.size.height)

    def action_percentile(self) -> None:
        self.percentile = "p50" if self.percentile == "p95" else "p95"
        self.drawn = None
        self.redraw()

    def action_close(self) -> None:
        self.dismiss(None)
