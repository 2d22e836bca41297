"""``hft-console view RUN_DIR``: a recorded run in the console's own panes, read-only, with a time slider.

The panes are the live console's, drawing a ``Snapshot`` rebuilt from the journal at the slider's time
(viewer_data.py says where each figure comes from). The viewer opens at the end of the run, where a
finished run's figures are summary.json's. No key trades: the console's trading keys are answered with
a message, and nothing is written to the run directory. ``q`` quits at once (there is nothing to lose).
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.driver import Driver
from textual.events import Click, Resize
from textual.timer import Timer
from textual.widgets import Label, Static

from hft_console.engine.journal_view import RecordedRun
from hft_console.engine.snapshot import Snapshot
from hft_console.ui import terminal
from hft_console.ui.body import pane_body
from hft_console.ui.events import EventLogScreen, event_text
from hft_console.ui.format import gauge, session_time
from hft_console.ui.keybar import KeyBar
from hft_console.ui.layout import MIN_SIZE, Layout, plan
from hft_console.ui.panes import Pane, PnlPane, StatusBar, fit
from hft_console.ui.screens import HelpScreen
from hft_console.ui.tape import TapeFilter, TapePane
from hft_console.ui.viewer_data import Replay

LAID_OUT = ("tape", "heatmap", "risk", "router", "pnl", "blotter")
BIG_STEPS = 10  # Shift+Left/Right: this many steps
PAGE_SHARE = 0.1  # PgUp/PgDn: a tenth of the run (at least BIG_STEPS steps)
PLAY_EVERY_S = 0.2  # space: one step this often (five steps a second)
NOTE_S = 5.0
SLIDER_MIN = 10  # the slider's cells at least
NS = 1_000_000_000
# the console's keys that act on a session, and what each would have done
REFUSED = {
    "k": "no kill switch", "K": "no flatten", "r": "no resume", "l": "no limit edits", "m": "no router switch",
    "p": "no pause", "o": "no orders", "s": "nothing is saved", "v": "no quotes recorded", "c": "no charts",
    "x": "no symbol halt", "f": "no symbol flatten",
}  # fmt: skip
VIEW_KEYS = [
    ("← →", "step back / forward one bucket (the heatmap's, 1 s by default)"),
    ("shift+← →", f"{BIG_STEPS} steps back / forward"),
    ("PgUp PgDn", "a tenth of the run back / forward"),
    ("Home End", "the start / the end of the run (the end shows summary.json's figures)"),
    ("space", "play / pause: five steps a second"),
    ("b", "working orders at the time shown: show / hide the blotter"),
    ("e", "event log up to the time shown"),
    ("/", "filter trades by symbol, venue or side"),
    ("?", "this help"),
    ("q, ctrl+q, ctrl+c", "quit at once (nothing to save)"),
    ("k K r l m p o s v", "refused: a recorded run cannot trade"),
]
# the key line, most needed first (the big steps join where they fit: ViewerKeyBar.SCROLL)
KEY_LINE = [("←/→", "Step"), ("Home/End", "Start/End"), ("space", "Play"), ("b", "Orders"), ("e", "Events"),
            ("?", "Help"), ("q", "Quit")]  # fmt: skip
VIEWER_CSS = """
#slider { height: 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis; }
"""


class ViewerKeyBar(KeyBar):
    """The console's key line with the viewer's keys; no palette, and the big steps where they fit."""

    EXTRA: tuple[tuple[str, str], ...] = ()
    SCROLL = ("⇧←/→ PgUp/PgDn", "big step")


class SliderBar(Static):
    """The recorded run's line above the keys: that it is recorded and read-only, the time shown of the
    whole on a slider, the counts, where the P&L comes from and the run directory, as room allows."""

    note_text = ""
    last: tuple[Snapshot, int, Path, str, bool, bool] | None = None
    bar_cells = (0, 0)  # where the slider's cells start on the line, and how many there are

    def on_resize(self) -> None:
        if self.last is not None:
            self.show_time(*self.last)

    def show_time(self, snap: Snapshot, end_ns: int, run_dir: Path, basis: str, playing: bool, finished: bool) -> None:
        """``snap`` at the slider's time of ``end_ns``; ``basis``: where its P&L comes from (Replay.basis)."""
        self.last = (snap, end_ns, run_dir, basis, playing, finished)
        width = max(40, self.size.width)
        head = Text(" RECORDED ", style="bold black on cyan") + Text(" read-only ")
        state = Text(" ▶ playing " if playing else "", style="bold")
        room = width - head.cell_len - state.cell_len - SLIDER_MIN
        hours = end_ns >= 3600 * NS
        shown, total = session_time(snap.engine_ns, hours), session_time(end_ns, hours)
        whens = [Text(f" {shown} / {total} "), Text(f" {shown.split('.')[0]}/{total.split('.')[0]} ")]
        if self.note_text:
            when = whens[1]
            tail = Text(f" {self.note_text} ", style="bold yellow")
            tail.truncate(max(0, room - when.cell_len), overflow="ellipsis")
        else:
            o, f, r = f"{snap.orders:,}", f"{snap.fills:,}", f"{snap.rejects:,}"
            counts = f"orders {o} · fills {f} · rejects {r}"
            unfinished = "" if finished else " · UNFINISHED run"
            tails = [f" {counts} · {basis}{unfinished} · {run_dir} ", f" {counts} · {basis}{unfinished} ",
                     f" {counts}{unfinished} ", f" {counts} ", f" orders/fills/rejects {o}/{f}/{r} ",
                     f" ord/fill/rej {o}/{f}/{r} "]  # fmt: skip
            # the counts in words before the time's milliseconds, and those before the counts' short forms
            options = [(whens[0], t) for t in tails[:4]] + [(whens[1], t) for t in tails[2:4]]
            options += [(w, t) for t in tails[4:] for w in whens]
            options += [(whens[1], " UNFINISHED " if unfinished else ""), (whens[1], "")]
            when, text = next(((w, t) for w, t in options if w.cell_len + len(t) <= room), options[-1])
            tail = Text(text)
        bar = max(SLIDER_MIN, width - head.cell_len - when.cell_len - state.cell_len - tail.cell_len)
        share = snap.engine_ns / end_ns if end_ns else 1.0
        self.bar_cells = (head.cell_len + when.cell_len, bar)
        self.update(head + when + gauge(share, bar) + state + tail, layout=False)

    def on_click(self, event: Click) -> None:
        """A click on the slider shows the run at that point of it."""
        start, cells = self.bar_cells
        if start <= event.x < start + cells and isinstance(self.app, ViewerApp):
            self.app.show_share((event.x - start + 0.5) / cells)


class RecordedTapePane(TapePane):
    """The console's tape without its paging hint: here PgUp/PgDn move the slider (the trades shown are
    those up to the time shown)."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        super().show(snap, deterministic)
        self.border_subtitle = str(self.border_subtitle or "").replace("PgDn: older", "").strip()


class RecordedPnlPane(PnlPane):
    """The console's P&L pane, its subtitle saying where the total and unrealised P&L come from."""

    basis = ""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        super().show(snap, deterministic)
        self.border_subtitle = fit([self.basis, "summary.json" if snap.finished else "as of last fill"],
                                   self.frame_text_width)  # fmt: skip


class RecordedEventLog(EventLogScreen):
    """The event log (key e) of the recorded run up to the time shown, from the rows already read."""

    def __init__(self, run: RecordedRun, t_ns: int) -> None:
        super().__init__(None)
        self.recorded, self.t_ns = run, t_ns

    def reload(self) -> None:
        rows = [(e.ts_ns, e.kind, e.symbol, e.venue, e.order_id, e.reason,
                 json.dumps(e.detail, sort_keys=True) if e.detail else "")
                for e in self.recorded.events_until(self.t_ns)]  # fmt: skip
        if len(rows) == self.count:
            return
        self.count = len(rows)
        self.query_one("#lines", Static).update(event_text(rows))
        self.query_one("#title").update(f"Event log  {len(rows):,} events up to {session_time(self.t_ns)}")  # type: ignore[attr-defined]


class ViewerHelp(HelpScreen):
    """The console's help with the viewer's keys (and no command palette to offer)."""

    def on_mount(self) -> None:
        self.query_one("#current", Label).update("PgUp/PgDn scroll · any other key closes")


class ViewerApp(App[None]):
    """The recorded run ``run`` in the console's panes, at engine time ``t_ns`` (the slider)."""

    CSS_PATH = Path(__file__).with_name("console.tcss")
    CSS = VIEWER_CSS
    TITLE = "hft-console view"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("left", "step(-1)", "Back"),
        Binding("right", "step(1)", "Fwd"),
        Binding("shift+left", f"step(-{BIG_STEPS})", show=False),
        Binding("shift+right", f"step({BIG_STEPS})", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "jump('start')", "Start"),
        Binding("end", "jump('end')", "End"),
        Binding("space", "play", "Play"),
        Binding("b", "blotter", "Orders"),
        Binding("e", "events", "Events", show=False),
        Binding("slash", "filter", "Filter", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_viewer", "Quit"),
        Binding("ctrl+q,ctrl+c", "quit_viewer", "Quit", show=False, priority=True),
        *(Binding(key, f"refuse('{key}')", show=False) for key in REFUSED),
    ]
    ALLOWED = frozenset(
        {"step", "page", "jump", "play", "blotter", "events", "filter", "help", "quit_viewer", "refuse", "quit",
         "focus_next", "focus_previous"}
    )  # fmt: skip

    def __init__(self, run: RecordedRun, *, at_end: bool = True) -> None:
        """``at_end``: open at the end of the run (else at its start)."""
        super().__init__()
        self.recorded = run
        self.replay = Replay(run)
        self.step_ns = run.bucket_ns
        self.t_ns = run.end_ns if at_end else 0
        self.playing = False
        self.blotter = False
        self._layout: Layout | None = None
        self._shown: Snapshot | None = None
        self._note_timer: Timer | None = None

    def get_driver_class(self) -> type[Driver]:
        # the console's driver: the terminal's own size (not a stale COLUMNS/LINES), and a terminal that
        # hangs up ends the viewer instead of leaving it spinning
        return terminal.surviving_driver(super().get_driver_class())

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield from pane_body(RecordedTapePane(id="tape", classes="pane"), RecordedPnlPane(id="pnl", classes="pane"))
        yield Static(id="too-small")
        yield SliderBar(id="slider")
        yield ViewerKeyBar(id="keys")

    def on_mount(self) -> None:
        self.set_interval(PLAY_EVERY_S, self._tick)
        self.show_time(self.t_ns)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only the viewer's actions run; Textual's own (theme, screenshot, ...) do not."""
        return action in self.ALLOWED

    def refresh_bindings(self) -> None:
        super().refresh_bindings()
        if self._running and self.screen_stack:
            for bar in self.screen_stack[0].query(ViewerKeyBar):
                bar.show_keys([(key, label, True) for key, label in KEY_LINE])

    # -- the time shown ------------------------------------------------------------------------------
    def show_time(self, t_ns: int) -> None:
        """Show the run at engine time ``t_ns`` (clipped to the run) in every pane."""
        self.t_ns = max(0, min(t_ns, self.recorded.end_ns))
        snap = self.replay.at(self.t_ns)
        self._shown = snap
        status = self.query_one(StatusBar)
        status.paused = snap.paused
        self.query_one(RecordedPnlPane).basis = self.replay.basis(self.t_ns)
        with self.batch_update():
            status.render_snapshot(snap, True)
            self.apply_layout()
            for pane in self.query(Pane):
                if not isinstance(pane, StatusBar) and pane.display:
                    pane.render_snapshot(snap, True)
            self._draw_slider()

    def _draw_slider(self) -> None:
        if self._shown is not None:
            run = self.recorded
            basis = self.replay.basis(self.t_ns)
            self.query_one(SliderBar).show_time(self._shown, run.end_ns, run.run_dir, basis, self.playing, run.finished)

    def on_resize(self, event: Resize) -> None:
        self.apply_layout(event.size.width, event.size.height)
        self._draw_slider()

    def apply_layout(self, width: int = 0, height: int = 0) -> None:
        """The console's layout (layout.py) with one row more of chrome: the slider. The row is taken
        from the tape's column (and, side by side, from the right column too)."""
        snap = self._shown
        if snap is None:
            return
        if not width:
            width, height = self.size
        needs = {name: self.query_one(f"#{name}", Pane).needs(snap) for name in LAID_OUT}
        taller = dict(needs, tape=(needs["tape"][0], needs["tape"][1] + 1))
        layout = plan(width, height, dict(taller, risk=(needs["risk"][0], needs["risk"][1] + 1)), self.blotter)
        if layout.kind == "compact":
            layout = plan(width, height, taller, self.blotter)
        if layout == self._layout:
            return
        self._layout = layout
        main = self.screen_stack[0]
        with self.batch_update():
            for kind in ("wide", "compact", "small"):
                main.set_class(layout.kind == kind, kind)
            main.query_one("#slider").display = layout.kind != "small"
            for name in LAID_OUT:
                pane = self.query_one(f"#{name}", Pane)
                if name in layout.shown and not pane.display:
                    pane.render_snapshot(snap, True)
                pane.display = name in layout.shown
            self.query_one("#right").styles.width = layout.right_width if layout.kind == "wide" else "100%"
            self.query_one("#too-small", Static).update(
                f"hft-console view needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}; this terminal is {width}×{height}.\n"
                "Make it larger, or press q to quit."
            )

    def _stepped(self, steps: int) -> int:
        """The slider's time ``steps`` steps from now: on the grid of whole steps, the end its last stop."""
        step, t = self.step_ns, self.t_ns
        if steps > 0:
            return min(self.recorded.end_ns, (t // step + steps) * step)
        return max(0, (-(-t // step) + steps) * step)

    def show_share(self, share: float) -> None:
        """Show the run ``share`` (0..1) of the way through, on the step grid."""
        self.playing = False
        t = round(share * self.recorded.end_ns / self.step_ns) * self.step_ns
        self.show_time(self.recorded.end_ns if share >= 1 or t >= self.recorded.end_ns else t)

    def action_step(self, steps: int) -> None:
        self.playing = False
        self.show_time(self._stepped(steps))

    def action_page(self, direction: int) -> None:
        steps = max(BIG_STEPS, round(self.recorded.end_ns * PAGE_SHARE / self.step_ns))
        self.action_step(direction * steps)

    def action_jump(self, where: str) -> None:
        self.playing = False
        self.show_time(0 if where == "start" else self.recorded.end_ns)

    def action_play(self) -> None:
        self.playing = not self.playing
        if self.playing and self.t_ns >= self.recorded.end_ns:
            self.t_ns = 0  # play from the start again
        self.show_time(self.t_ns)

    def _tick(self) -> None:
        if not self.playing:
            return
        if self.t_ns >= self.recorded.end_ns:
            self.playing = False
            self._draw_slider()
            return
        self.show_time(self._stepped(1))
        if self.t_ns >= self.recorded.end_ns:
            self.playing = False
            self._draw_slider()

    # -- the other keys --------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        """A message on the slider line for ``NOTE_S`` seconds (a newer one replaces it)."""
        self.query_one(SliderBar).note_text = text
        self._draw_slider()
        if self._note_timer is not None:
            self._note_timer.stop()
        self._note_timer = self.set_timer(NOTE_S, self._clear_note)

    def _clear_note(self) -> None:
        self._note_timer = None
        self.query_one(SliderBar).note_text = ""
        self._draw_slider()

    def action_refuse(self, key: str) -> None:
        self.note(f"{key}: read-only, {REFUSED.get(key, 'refused')}")

    def action_blotter(self) -> None:
        self.blotter = not self.blotter
        self.apply_layout()

    def action_events(self) -> None:
        self.push_screen(RecordedEventLog(self.recorded, self.t_ns))

    def action_filter(self) -> None:
        tape = self.query_one(TapePane)
        self.push_screen(TapeFilter(tape.filter), lambda text: tape.set_filter(text) if text is not None else None)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(ViewerHelp(VIEW_KEYS))

    def action_quit_viewer(self) -> None:
        self.exit()

    async def action_quit(self) -> None:
        self.exit()
