"""The console's panes. Each is a Static that redraws itself from one engine snapshot; none of them
does engine work. ``deterministic`` hides the few figures measured on the wall clock, so a screen
captured at a fixed seed is the same on every machine."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from hft_console.snapshot import Snapshot
from hft_console.ui.format import (
    STATE_STYLE,
    clock,
    compact,
    gauge,
    heat_row,
    micros,
    money,
    pnl_cell,
    session_time,
    sparkline,
)


class Pane(Static):
    """Panes size their content to the space they have, so a resize redraws the last snapshot."""

    last: tuple[Snapshot, bool] | None = None

    def render_snapshot(self, snap: Snapshot, deterministic: bool) -> None:
        self.last = (snap, deterministic)
        self.show(snap, deterministic)

    def on_resize(self) -> None:
        if self.last is not None:
            self.show(*self.last)

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        raise NotImplementedError


class StatusBar(Pane):
    """Engine state, mode, session progress, data source, throughput, router and P&L on one line."""

    paused = False
    extra = ""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        width = max(40, self.size.width)
        elapsed, total = snap.elapsed_s, snap.duration_s
        left = Text()
        if snap.finished:
            left.append(" FINISHED ", style="bold reverse")
        left.append(f" {snap.state} ", style=STATE_STYLE.get(snap.state, "bold"))
        if snap.paused or self.paused:
            left.append(" PAUSED ", style="bold black on cyan")
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
        self.update(left + gauge(min(1.0, elapsed / total if total else 1.0), bar) + right)


class TapePane(Pane):
    """Newest trade on top, the seed's columns, green/red trade P&L."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        rows = max(1, self.size.height - 3)
        closed = snap.wins + snap.losses
        self.border_title = f"Trades  {snap.fills:,} fills"
        self.border_subtitle = (
            f"won {snap.wins} lost {snap.losses}  win rate {snap.wins / closed:.0%}" if closed else ""
        )
        table = Table(box=None, pad_edge=False, expand=True, show_edge=False, collapse_padding=True)
        for name in ("Time", "Sym", "Side", "Qty", "Price", "Trade P&L", "Total P&L", "Venue"):
            right = name in ("Qty", "Price", "Trade P&L", "Total P&L")
            table.add_column(name, justify="right" if right else "left", no_wrap=True)
        for f in reversed(snap.trades[-rows:]):
            table.add_row(
                session_time(f.ts_ns),
                f.symbol,
                Text(f.side.label, style="green" if f.side > 0 else "red"),
                f"{f.qty:,}",
                f"{f.price:,.2f}",
                pnl_cell(f.trade_pnl, 9),
                money(f.total_pnl),
                f.venue,
            )
        self.update(table)


class HeatmapPane(Pane):
    """Venues x time buckets of round-trip p95, against each venue's calm round trip."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        stats_width = 44
        cells = max(5, self.size.width - stats_width - 4)
        self.border_title = f"Venue latency  last {min(cells, len(snap.heatmap_start_ns))} × {snap.bucket_s:g}s"
        self.border_subtitle = "p95 vs calm RT: ≤1.5× green ≤3× yellow ≤6× orange >6× red · X timeout"
        table = Table(box=None, pad_edge=False, show_edge=False, expand=True)
        table.add_column("Venue", no_wrap=True)
        table.add_column("Status", no_wrap=True)
        table.add_column("History", no_wrap=True, ratio=1)
        for name in ("p50", "p95", "p99", "expect"):
            table.add_column(name, justify="right", no_wrap=True)
        for venue, row in zip(snap.venues, snap.heatmap, strict=True):
            if venue.status == "down":
                status = Text(" DOWN ", style="bold white on red")
            elif venue.regime == "congested":
                status = Text("congest", style="bold yellow")
            else:
                status = Text("up", style="green")
            table.add_row(
                venue.name, status, heat_row(row[-cells:], venue.calm_rt_us),
                micros(venue.p50_us), micros(venue.p95_us), micros(venue.p99_us), micros(venue.expected_us),
            )  # fmt: skip
        self.update(table)


class RouterPane(Pane):
    """What the router is doing: per venue the pulls, mean reward and share of recent decisions."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        inf = snap.inference_us
        speed = "" if deterministic else f"  inference p50 {micros(inf['p50'])} p99 {micros(inf['p99'])}"
        self.border_title = f"Router {snap.router}  {snap.router_decisions:,} decisions"
        self.border_subtitle = f"reward = -cost bps{speed}"
        table = Table(box=None, pad_edge=False, show_edge=False, expand=True)
        for name in ("Venue", "Pulls", "Reward", "Recent share"):
            table.add_column(name, justify="right" if name in ("Pulls", "Reward") else "left", no_wrap=True)
        bar = max(4, self.size.width - 34)
        for arm in snap.arms:
            reward = "—" if arm.mean_reward is None else f"{arm.mean_reward:+.2f}"
            share = gauge(arm.recent_share, bar)
            share.stylize("cyan")
            table.add_row(arm.venue, f"{arm.pulls:,}", reward, share + Text(f" {arm.recent_share:.0%}"))
        self.update(table)


class RiskPane(Pane):
    """The engine state as a banner, and every limit with its usage as a gauge."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        self.border_title = f"Risk  {snap.breaches} breaches  {snap.risk_denials} denied"
        banner = Text(f" {snap.state} ".center(max(10, self.size.width - 4)), style=STATE_STYLE.get(snap.state, "bold"))
        table = Table(box=None, pad_edge=False, show_edge=False, expand=True, collapse_padding=True)
        table.add_column("Limit", no_wrap=True)
        table.add_column("Usage", no_wrap=True)
        table.add_column("Used/limit", justify="right", no_wrap=True)
        names = max(len(lim.name) for lim in snap.limits)
        bar = max(4, self.size.width - 4 - names - 16)
        for lim in snap.limits:
            money_like = lim.unit == "$"
            unit = "/s" if lim.unit == "/s" else ""
            used = f"{compact(lim.used, money_like)}/{compact(lim.limit, money_like)}{unit}"
            table.add_row(lim.name, gauge(lim.usage, bar), used)
        notes = [n for n in snap.notes if "denied" not in n[2]][-2:]
        lines = Text("\n".join(f"{session_time(ts)} {text}" for _, ts, text in notes), style="yellow")
        self.update(Group(banner, table, lines))


class PnlPane(Pane):
    """Totals, realised/unrealised, fees, per-symbol positions and a sparkline of total P&L."""

    def show(self, snap: Snapshot, deterministic: bool) -> None:
        self.border_title = "P&L and positions"
        head = Text("Total ", style="bold") + money(snap.pnl_total) + Text(f"   fees ${snap.fees:,.2f}")
        head += Text("\nrealised ") + money(snap.pnl_realized) + Text("  unrealised ") + money(snap.pnl_unrealized)
        spark = sparkline(snap.pnl_history, max(10, self.size.width - 4))
        table = Table(box=None, pad_edge=False, show_edge=False, expand=True, collapse_padding=True)
        for name in ("Sym", "Pos", "Avg", "Mark", "Unreal", "Real"):
            table.add_column(name, justify="left" if name == "Sym" else "right", no_wrap=True)
        for p in snap.positions:
            table.add_row(
                p.symbol, f"{p.position:+,}", f"{p.avg_cost:,.2f}" if p.position else "—", f"{p.mark:,.2f}",
                money(p.unrealized), money(p.realized),
            )  # fmt: skip
        self.update(Group(head, spark, table))
