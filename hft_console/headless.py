"""--no-ui output: the seed's banner and trade tape, a periodic status line and a final summary.

Colour (green/red P&L backgrounds) only when the terminal has colour; plain text for CI logs.
``quiet`` prints only the summary; ``normal`` adds the tape, status lines and alerts (``engine/alerts.py``)
as they fire; ``verbose`` adds risk events and operator commands as they happen; ``debug`` adds every
venue reject and denial note too.
"""

from __future__ import annotations

import io
import os
import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from hft_console.domain import Fill
from hft_console.engine.alerts import ALERT_NOTE
from hft_console.engine.engine import Engine
from hft_console.engine.snapshot import Snapshot, Tape
from hft_console.money import money as money_text

RULE = "═" * 96
THIN = "─" * 96
GREEN_BG, RED_BG, BOLD, RESET = "\x1b[42;30m", "\x1b[41;97m", "\x1b[1m", "\x1b[0m"


def wants_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


# the printer's non-ASCII characters and what an ASCII-only stream gets instead
ASCII = str.maketrans({"═": "=", "─": "-", "µ": "u", "·": "-", "—": "-", "→": "->", "…": "...", "×": "x"})


def unicode_ok(stream: TextIO) -> bool:
    """Whether ``stream`` can take the printer's box rules and units (a UTF-8 terminal or file)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "═─µ·—→…×".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def seconds(ns: int) -> str:
    """A session length for people: tenths of a second (a replay whose last tick is at 19.99997 s is a
    20.0 s session), milliseconds below one second. summary.json keeps the exact figure."""
    return seconds_text(ns / 1e9)


def seconds_text(s: float) -> str:
    """``seconds`` for a length already in seconds."""
    return f"{s:,.1f}s" if s >= 1 else f"{s:.3f}s"


def money(value: float, width: int = 12) -> str:
    """Signed dollars by the one rounding rule (hft_console.money), '$' next to the number, right-aligned
    in ``width`` + 2 columns."""
    return money_text(value).rjust(width + 2)


class HeadlessPrinter:
    """Prints what the console shows, from the same sources: the published ``Snapshot`` for the status
    line, summary.json's figures at the end, and a ``Tape`` cursor for every trade and note."""

    def __init__(self, engine: Engine, level: str, stream: TextIO | None = None) -> None:
        self.engine, self.level = engine, level
        self.out = stream or sys.stdout
        self.colour = wants_colour(self.out)
        self.ascii = not unicode_ok(self.out)
        self.tape = Tape()
        if level != "quiet":
            engine.on_batch.append(self.on_batch)
            engine.on_status.append(self.on_status)

    def _write(self, text: str) -> None:
        """A closed pipe (``| head``), a terminal that went away (SIGHUP) or a full disk under a
        redirect silences the printer; the session itself carries on. Output that cannot take
        Unicode gets the ASCII forms of the rules and units."""
        if self.ascii:
            text = text.translate(ASCII).encode("ascii", "replace").decode("ascii")
        try:
            self.out.write(text)
        except OSError:
            self._silence()

    def _flush(self) -> None:
        try:
            self.out.flush()
        except OSError:
            self._silence()

    def _silence(self) -> None:
        self.out = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the printer
        self.colour = False

    def banner(self, backtest_line: str = "") -> None:
        if self.level == "quiet":
            return
        s = self.engine.settings.session
        symbols = self.engine.symbols
        clock = "simulated clock" if s.clock == "sim" else "wall clock"
        lines = [
            RULE,
            "  HFT CONSOLE - SIMULATED MULTI-VENUE TRADING (headless)",
            RULE,
            f"  Mode: {s.mode.upper()}  |  Duration: {seconds(self.engine.duration_ns)} ({clock})  |  "
            f"Symbols: {len(symbols)}",
            f"  {', '.join(symbols)}  |  Router: {s.router}  |  Seed: {s.seed}  |  Data: {self.engine.market.label}",
            f"  Venues: {', '.join(v.name for v in self.engine.venues)}  |  Run: {self.engine.run_dir}",
            *([f"  {backtest_line}"] if backtest_line else []),
            RULE,
            "",
            THIN,
            f"{'Time':<14}{'Symbol':<8}{'Side':<6}{'Qty':>6}  {'Price':>12}  {'Trade P&L':>15}  "
            f"{'Total P&L':>15}  Venue",
            THIN,
        ]
        self._write("\n".join(lines) + "\n")
        self._flush()

    def tape_line(self, f: Fill) -> str:
        stamp = self._stamp(f.ts_ns)
        trade = money(f.trade_pnl)
        if self.colour and f.trade_pnl != 0:
            trade = f"{GREEN_BG if f.trade_pnl > 0 else RED_BG}{trade}{RESET}"
        price = money_text(f.price, signed=False)
        return (
            f"{stamp:<14}{f.symbol:<8}{f.side.label:<6}{f.qty:>6}  {price:>12}  {trade:>15}  "
            f"{money(f.total_pnl, 12):>15}  {f.venue}"
        )

    def _stamp(self, ts_ns: int) -> str:
        """Local time of day on the wall clock; session time since start on the simulated clock."""
        epoch: float | None = getattr(self.engine.clock, "epoch_s", None)  # set when the session starts
        if epoch is not None:
            at = epoch + ts_ns / 1e9
            return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"
        ms = ts_ns // 1_000_000
        h, rem = divmod(ms, 3_600_000)
        m, rem = divmod(rem, 60_000)
        sec, ms = divmod(rem, 1000)
        return f"{h:02d}:{m:02d}:{sec:02d}.{ms:03d}"

    def on_batch(self, engine: Engine) -> None:
        trades, dropped = self.tape.new_trades(engine)
        if dropped:
            self._write(f"   ... {dropped} trades not shown (all are in the journal)\n")
        if trades:
            self._write("".join(self.tape_line(f) + "\n" for f in trades))
        alerted = False
        if engine.note_seq != self.tape.note_seq:  # alerts at every level but quiet, other notes from verbose on
            for _, ts, text in self.tape.new_notes(engine):
                alert = text.startswith(ALERT_NOTE)
                if alert or self.level == "debug" or (self.level == "verbose" and "denied" not in text):
                    line = f"{self._stamp(ts):<14}** {text}"
                    self._write((f"{RED_BG}{line}{RESET}" if alert and self.colour else line) + "\n")
                    alerted |= alert
        if trades or dropped or alerted:
            self._flush()

    def on_status(self, engine: Engine) -> None:
        """The status line, from the snapshot the engine published just before calling this."""
        snap = engine.snapshot
        if snap is not None:
            self._write(self.status_line(snap))
            self._flush()

    def status_line(self, snap: Snapshot) -> str:
        line = (
            f"[{snap.engine_ns / 1e9:7.1f}s/{seconds_text(snap.duration_s)}] {snap.state:<8} "
            f"ticks {snap.ticks:,} ({snap.ticks_per_s:,.0f}/s, {snap.ticks_rejected} rejected)  "
            f"orders {snap.orders:,}  fills {snap.fills:,}  P&L {money(snap.pnl_total, 0)}  "
            f"win {snap.win_rate:.0%}  router {snap.router}"
        )
        return (f"{BOLD}{line}{RESET}" if self.colour else line) + "\n"

    def final(self, summary: dict[str, Any]) -> None:
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=self.colour, no_color=not self.colour, width=100)
        table = Table(title="Session summary", show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(justify="right")
        dl, inf = summary["decision_latency_us"], summary["inference_us"]
        rows = [
            (
                "Session time",
                f"{summary['duration_s']:,.1f} s ({summary['clock']} clock, {summary['wall_s']:,.1f} s wall)",
            ),
            (
                "Ticks",
                f"{summary['ticks']:,} ({summary['ticks_rejected']:,} rejected, {summary['ticks_per_s']:,.0f}/s)",
            ),
            *_quality_row(summary.get("data_quality", {})),
            *_book_row(summary.get("data", {})),
            ("Orders / fills", f"{summary['orders']:,} / {summary['fills']:,}"),
            ("Venue rejects / risk denials", f"{summary['rejects']:,} / {summary['risk_denials']:,}"),
            ("P&L total", money(summary["pnl_total"], 0)),
            ("  realised / unrealised", f"{money(summary['pnl_realized'], 0)} / {money(summary['pnl_unrealized'], 0)}"),
            (
                "  fees / maker rebates",
                f"{money_text(summary['fees_taker'], signed=False)} / {money_text(summary['rebates_maker'])}",
            ),
            ("Win rate", f"{summary['win_rate']:.1%} ({summary['wins']} won, {summary['losses']} lost)"),
            ("Decision latency p50/p95/p99", _triple(dl)),
            ("Router inference p50/p95/p99", _triple(inf)),
            ("Risk state / breaches", f"{summary['risk']['state']} / {summary['risk']['breaches']}"),
            *_alerts_row(summary.get("alerts", {})),
        ]
        for k, v in rows:
            table.add_row(k, v)
        venues = Table(title="Venues", box=None)
        for col in ("Venue", "Orders", "Fills", "Rejects", "RT p50 µs", "RT p95 µs", "RT p99 µs"):
            venues.add_column(col, justify="right" if col != "Venue" else "left")
        for name, v in summary["venues"].items():
            lat = v["latency_us"]
            venues.add_row(
                name,
                str(v["orders"]),
                str(v["fills"]),
                str(v["rejects"]),
                *(_num(lat[q]) for q in ("p50", "p95", "p99")),
            )
        console.print()
        console.print(table)
        console.print(venues)
        if self.level in ("verbose", "debug"):  # each rebuilt-book row that differs from the file's, named
            for line in summary.get("data", {}).get("mismatch_rows", []):
                console.print(f"book mismatch: {line}", markup=False, highlight=False, soft_wrap=True)
        console.print(f"Journal and summary.json in {self.engine.run_dir}")
        self._write(buffer.getvalue())
        self._flush()


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def _quality_row(quality: dict[str, Any]) -> list[tuple[str, str]]:
    """One row with the source's non-zero data-quality counts (``data_quality``), none when clean."""
    counts = [f"{k.replace('_', ' ')} {v:,}" for k, v in quality.items() if isinstance(v, int) and v]
    return [("Data quality", ", ".join(counts))] if counts else []


def _alerts_row(alerts: dict[str, int]) -> list[tuple[str, str]]:
    """One row with the alerts fired by name (summary.json ``alerts``), none when none fired."""
    return [("Alerts", ", ".join(f"{name} {n:,}" for name, n in alerts.items()))] if alerts else []


def _book_row(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Market-by-order data: messages replayed and the rebuilt book's checks against the file's."""
    if "messages" not in data:
        return []
    text = f"{data['messages']:,} messages, {data['book_checks']:,} book rows checked"
    total = data.get("messages_in_files", data["messages"])
    if data["messages"] < total:  # the session ended before the data did (--duration)
        text = f"{data['messages']:,} of {total:,} messages (ended first), {data['book_checks']:,} rows checked"
    return [("Order book", text + f", {data['book_mismatches']:,} mismatches")]


def _triple(d: dict[str, Any]) -> str:
    return f"{_num(d['p50'])} / {_num(d['p95'])} / {_num(d['p99'])} µs"
