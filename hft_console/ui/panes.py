"""The console's panes. Each is a Static that redraws itself from one engine snapshot; none of them
does engine work. Rows are built as fixed-width text (a rich Table costs far more to render at
10 Hz). ``deterministic`` hides the few figures measured on the wall clock, so a screen captured at
a fixed seed is the same on every machine."""

from __future__ import annotations

from rich.text import Span, Text
from textual.widgets import Static

from hft_console.snapshot import Snapshot
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
    pnl_cell,
    session_time,
    sparkline,
)

HEAD = "bold"


def header(*cells: tuple[str, int, str]) -> Text:
    row = columns(cells)
    row.stylize(HEAD)
    return row


class Pane(Static):
    """Panes size their content to the space they have, so a resize redraws the last snapshot."""

    last: tuple[Snapshot, bool] | None = None
    _height = -1
    _shown_key: tuple[str, list[Span]] | None = None

    def render_snapshot(self, snap: Snapshot, deterministic: bool) -> None:
        self.last = (snap, deterministic)
        self.show(snap, deterministic)

    def on_resize(self) -> None:
        if self.last is not None:
            self.show(*self.last)

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

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        raise NotImplementedError


FEED_STYLE = {"live": "bold black on green", "stale": "bold black on yellow", "down": "bold white on red"}


class StatusBar(Pane):
    """Engine state, mode, session progress, data source, throughput, router and P&L on one line."""

    paused = False  # set by the console's pause key, so the effect shows before the next snapshot
    extra = ""
    dead = ""  # set when the engine thread died; the status line then shows only that

    def show(self, snap: Snapshot, deterministic: bool) -> None:
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
        wide = width >= 100
        left.append(f" {snap.mode.upper()} · {snap.data_source} · {snap.clock} " if wide else f" {snap.mode.upper()} ")
        right = Text(f" {clock(elapsed)}/{clock(total)} ")
        if wide:
            rate = "—" if deterministic else f"{snap.ticks_per_s:,.0f}"
            right.append(f"· {rate} ticks/s · {snap.router} ")
        right.append("· P&L ")
        right.append(money(snap.pnl_total))
        if self.extra:
            right.append(f" · {self.extra}", style="bold yellow")
        bar = max(4, width - len(left) - len(right) - 1)
        self.update(left + gauge(min(1.0, elapsed / total if total else 1.0), bar) + right, layout=False)


class TapePane(Pane):
    """Newest trade on top, the seed's columns, green/red trade P&L."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        n_rows = max(1, self.size.height - 3)
        closed = snap.wins + snap.losses
        self.border_title = f"Trades  {snap.fills:,} fills"
        self.border_subtitle = (
            f"won {snap.wins} lost {snap.losses}  win rate {snap.wins / closed:.0%}" if closed else ""
        )
        venue_w = max(4, self.inner_width - 12 - 5 - 4 - 5 - 8 - 9 - 10 - 7)
        rows = [
            header(
                ("Time", 12, "<"),
                ("Sym", 5, "<"),
                ("Side", 4, "<"),
                ("Qty", 5, ">"),
                ("Price", 8, ">"),
                ("Trade P&L", 9, ">"),
                ("Total P&L", 10, ">"),
                ("Venue", venue_w, "<"),
            )
        ]
        for f in reversed(snap.trades[-n_rows:]):
            side = Text(f.side.label, style="green" if f.side > 0 else "red")
            rows.append(
                columns(
                    [
                        (session_time(f.ts_ns), 12, "<"),
                        (f.symbol, 5, "<"),
                        (side, 4, "<"),
                        (f"{f.qty:,}", 5, ">"),
                        (f"{f.price:,.2f}", 8, ">"),
                        (pnl_cell(f.trade_pnl, 9), 9, ">"),
                        (money(f.total_pnl), 10, ">"),
                        (f.venue, venue_w, "<"),
                    ]
                )
            )
        self.put(lines(rows))


class HeatmapPane(Pane):
    """Venues x time buckets of round-trip p95, against each venue's calm round trip."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        cells = max(5, min(len(snap.heatmap_start_ns), self.inner_width - 6 - 7 - 4 * 8 - 3))
        self.border_title = f"Venue latency  last {cells} × {snap.bucket_s:g}s"
        self.border_subtitle = "p95÷calm RT ≤1.5 green ≤3 yellow ≤6 orange >6 red · X timeout"
        widths = ((6, "<"), (7, "<"), (cells, "<"), (7, ">"), (7, ">"), (7, ">"), (7, ">"))
        names = ("Venue", "Status", "History", "p50", "p95", "p99", "expect")
        rows = [header(*((n, w, a) for n, (w, a) in zip(names, widths, strict=True)))]
        for venue, row in zip(snap.venues, snap.heatmap, strict=True):
            if venue.status == "down":
                status = Text(" DOWN ", style="bold white on red")
            elif venue.regime == "congested":
                status = Text("congest", style="bold yellow")
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

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        inf = snap.inference_us
        speed = "" if deterministic else f"  inference p50 {micros(inf['p50'])} p99 {micros(inf['p99'])}"
        learning = "" if snap.online_updates is None else f"  online {snap.online_updates:,} updates"
        self.border_title = f"Router {snap.router}  {snap.router_decisions:,} decisions{learning}"
        self.border_subtitle = f"reward = -cost bps{speed}"
        beliefs = "".join(a.belief for a in snap.arms)  # a bandit's bound or posterior; a learned router's forecast
        title = "Forecast" if "µs" in beliefs else "Belief" if "±" in beliefs else "Bound"
        belief = max((len(a.belief) for a in snap.arms), default=0)
        belief = max(belief, len(title), 6) + 1 if belief else 0
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


class RiskPane(Pane):
    """The engine state as a banner, and every limit with its usage as a gauge."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        width = self.inner_width
        self.border_title = f"Risk  {snap.breaches} breaches  {snap.risk_denials} denied"
        rows = [Text(f" {snap.state} ".center(width), style=STATE_STYLE.get(snap.state, "bold"))]
        names = max(len(lim.name) for lim in snap.limits)
        bar = max(4, width - names - 15 - 2)
        rows.append(header(("Limit", names, "<"), ("Usage", bar, "<"), ("Used/limit", 15, ">")))
        for lim in snap.limits:
            money_like = lim.unit == "$"
            unit = "/s" if lim.unit == "/s" else ""
            used = f"{compact(lim.used, money_like)}/{compact(lim.limit, money_like)}{unit}"
            rows.append(columns([(lim.name, names, "<"), (gauge(lim.usage, bar), bar, "<"), (used, 15, ">")]))
        notes = [n for n in snap.notes if "denied" not in n[2]][-2:]
        for _, ts, text in notes:
            rows.append(Text(f"{session_time(ts)} {text}"[:width], style="yellow"))
        rows.extend(Text("") for _ in range(2 - len(notes)))
        self.put(lines(rows))


class PnlPane(Pane):
    """Totals, realised/unrealised, fees, per-symbol positions and a sparkline of total P&L."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        self.border_title = "P&L and positions"
        rows = [
            Text("Total ", style="bold") + money(snap.pnl_total) + Text(f"   fees ${snap.fees:,.2f}"),
            Text("realised ") + money(snap.pnl_realized) + Text("  unrealised ") + money(snap.pnl_unrealized),
            sparkline(snap.pnl_history, self.inner_width),
        ]
        widths = ((5, "<"), (6, ">"), (8, ">"), (10, ">"), (10, ">"))
        names = ("Sym", "Pos", "Avg", "Unreal", "Real")
        rows.append(header(*((n, w, a) for n, (w, a) in zip(names, widths, strict=True))))
        for p in snap.positions:
            values: tuple[str | Text, ...] = (
                p.symbol,
                f"{p.position:+,}",
                f"{p.avg_cost:,.2f}" if p.position else "—",
                money(p.unrealized),
                money(p.realized),
            )
            rows.append(columns([(v, w, a) for v, (w, a) in zip(values, widths, strict=True)]))
        self.put(lines(rows))


class KeyBar(Static):
    """The key line at the bottom. Textual's Footer rebuilds itself on every dialog and keeps part
    of each rebuild (measured: ~600 objects per dialog with two keys), so the console draws its own."""

    def show_keys(self, keys: list[tuple[str, str, bool]]) -> None:
        """``keys``: (key, label, enabled); disabled keys are dimmed."""
        wide = self.size.width >= 100
        line = Text(no_wrap=True, overflow="ellipsis")
        for key, label, enabled in keys:
            key_text = f" {key} " if wide else key
            line.append(key_text, style="bold black on dark_orange" if enabled else "grey50 on grey15")
            line.append(f" {label}  ", style="" if enabled else "grey50")
        if wide:
            line.append(" ^p ", style="bold black on dark_orange")
            line.append(" palette")
        self.update(line, layout=False)

    def on_resize(self) -> None:
        if self.app.is_running:
            self.app.refresh_bindings()
