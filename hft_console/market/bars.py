"""Bars as the Yahoo source cleans and aligns them, and what that did to the data, counted.

``clean_bars`` drops rows no real bar can have (counted by reason), ``align_bars`` puts symbols on one
timeline (bars before the common start cut, gaps filled flat at the previous close, both counted), and
``bar_quality`` turns the counts into the source's ``quality``. Daily and longer bars are keyed by
trading date (``on_trading_dates``), not by instant: Yahoo stamps them at midnight in the exchange's
time zone, so a New York and a London bar of the same day are hours apart in UTC, and the gap moves
with each daylight-saving change; aligned by instant they would interleave.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from hft_console.market.source import DataError

DAY_NS = 86_400 * 10**9
#: a daily bar opens at local midnight (01:00 where DST starts at midnight): for every exchange from
#: UTC-9 to UTC+13 that is at or after 11:00 UTC the day before and before 11:00 UTC the same day, so
#: shifted by 13 h its UTC day is its trading date
TRADING_DATE_SHIFT_NS = 13 * 3600 * 10**9

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Bars:
    """One symbol's bars in time order; ``ts_ns`` is each bar's open time (UTC ns), or for daily and
    longer bars its trading date at 00:00 UTC."""

    ts_ns: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    rejected: int = 0  # rows cleaning dropped (bad prices, NaN, duplicate times)
    filled: int = 0  # flat bars at the previous close, inserted to line up with the other symbols
    cut: int = 0  # bars before the common start (the latest first bar of any symbol), not replayed
    own: BoolArray | None = None  # aligned bars: True where the bar is the symbol's own, False where filled
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ts_ns.size)

    def take(self, keep: npt.NDArray[np.intp] | npt.NDArray[np.bool_], rejected: int = 0, filled: int = 0) -> Bars:
        return Bars(
            self.ts_ns[keep], self.open[keep], self.high[keep], self.low[keep], self.close[keep], self.volume[keep],
            rejected, filled,
        )  # fmt: skip


def intraday(interval: str) -> bool:
    """Minute and hour bars (``1m`` ... ``1h``) are instants; ``1d``, ``5d``, ``1wk``, ``1mo``, ``3mo`` are dates."""
    return interval.endswith(("m", "h"))


def on_trading_dates(bars: Bars) -> Bars:
    """Daily bars stamped at their trading date's 00:00 UTC (see ``TRADING_DATE_SHIFT_NS``), so bars of
    exchanges in different time zones, and either side of a DST change, line up by date."""
    ts = (bars.ts_ns + TRADING_DATE_SHIFT_NS) // DAY_NS * DAY_NS
    return dataclasses.replace(bars, ts_ns=ts.astype(np.int64))


def clean_bars(symbol: str, bars: Bars, where: str, exit_code: int = 1) -> Bars:
    """Drop (and count, by reason) rows no real bar can have, sort by time and keep the first of
    duplicate times. Reasons: ``missing`` (NaN: Yahoo sends a bar without trades as nulls),
    ``non_positive`` (a price <= 0 or volume < 0), ``inconsistent`` (high below open/close or low
    above), ``duplicate_time``. Raises ``DataError`` (``exit_code``) when no row is left."""
    o, h, lo, c, v = bars.open, bars.high, bars.low, bars.close, bars.volume
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(v)
        positive = finite & (o > 0) & (h > 0) & (lo > 0) & (c > 0) & (v >= 0)
        ok = positive & (h >= np.maximum(o, c)) & (lo <= np.minimum(o, c))
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(bars.ts_ns[idx], kind="stable")]
    duplicates = 0
    if idx.size > 1:
        ts = bars.ts_ns[idx]
        first = np.concatenate(([True], ts[1:] != ts[:-1]))
        duplicates = int(idx.size - first.sum())
        idx = idx[first]
    counts = {
        "missing": int((~finite).sum()),
        "non_positive": int((finite & ~positive).sum()),
        "inconsistent": int((positive & ~ok).sum()),
        "duplicate_time": duplicates,
    }
    reasons = {k: n for k, n in counts.items() if n}
    if len(bars) == 0:
        raise DataError("yahoo", f"no bars for {symbol} in {where}: it has no rows", exit_code)
    if idx.size == 0:
        why = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in reasons.items())
        raise DataError(
            "yahoo", f"no valid bars for {symbol} in {where}: all {len(bars)} rows rejected ({why})", exit_code
        )
    return dataclasses.replace(bars.take(idx, rejected=len(bars) - int(idx.size)), rejected_by_reason=reasons)


def align_bars(bars: dict[str, Bars]) -> dict[str, Bars]:
    """Put every symbol on one timeline (see ``fetch_bars``); bars before the latest first bar are cut
    (counted in ``cut``), and each aligned series marks its own bars in ``own``."""
    if not bars:
        return {}
    start = max(int(b.ts_ns[0]) for b in bars.values())
    times = np.unique(np.concatenate([b.ts_ns for b in bars.values()]))
    times = times[times >= start]
    out: dict[str, Bars] = {}
    for sym, b in bars.items():
        i = np.searchsorted(b.ts_ns, times, side="right") - 1
        have = b.ts_ns[i] == times
        prev = b.close[i]  # a missing bar is flat at the previous close
        o, h, lo = (np.where(have, x[i], prev) for x in (b.open, b.high, b.low))
        v = np.where(have, b.volume[i], 0.0)
        cut = int(np.searchsorted(b.ts_ns, start, side="left"))
        out[sym] = Bars(times, o, h, lo, prev, v, b.rejected, int((~have).sum()), cut, have, dict(b.rejected_by_reason))
    return out


def bar_quality(symbols: Sequence[str], series: Sequence[Bars], window: int) -> dict[str, Any]:
    """The source's ``quality``: top-level counts (all zero for clean data) and where they come from.

    ``bars_dropped``: rows Yahoo sent that cleaning dropped (``clean_bars``; by reason in
    ``bars_dropped_by_reason``); ``bars_cut``: bars before the common start, never replayed;
    ``bars_filled``: flat bars at the previous close among the ``window`` bars the session replays.
    ``by_symbol`` has the three per symbol, ``replayed`` the window (bars per symbol, first and last
    bar time in UTC)."""
    by_symbol: dict[str, dict[str, int]] = {}
    reasons: Counter[str] = Counter()
    for sym, b in zip(symbols, series, strict=True):
        own = b.own[:window] if b.own is not None else np.ones(min(window, len(b)), dtype=bool)
        by_symbol[sym] = {"dropped": b.rejected, "cut": b.cut, "filled": int((~own).sum())}
        reasons.update(b.rejected_by_reason)
    times = series[0].ts_ns[:window]
    return {
        "bars_dropped": sum(s["dropped"] for s in by_symbol.values()),
        "bars_cut": sum(s["cut"] for s in by_symbol.values()),
        "bars_filled": sum(s["filled"] for s in by_symbol.values()),
        "bars_dropped_by_reason": dict(sorted(reasons.items())),
        "by_symbol": by_symbol,
        "replayed": {"bars": int(times.size), "first_utc": _utc(int(times[0])), "last_utc": _utc(int(times[-1]))},
    }


def require_own_bars(symbols: Sequence[str], series: Sequence[Bars], window: int) -> None:
    """``DataError`` (exit 2) naming every symbol that has no bar of its own among the first ``window``
    aligned bars: the session would trade it on a flat line at an old close."""
    times = series[0].ts_ns
    span = f"{_utc(int(times[0]))} to {_utc(int(times[min(window, len(times)) - 1]))} UTC"
    problems = []
    for sym, b in zip(symbols, series, strict=True):
        own = np.flatnonzero(b.own) if b.own is not None else np.arange(len(b))
        if own.size and own[0] < window:
            continue
        if own.size:
            problems.append(f"{sym} (its first is bar {own[0] + 1}, {_utc(int(times[own[0]]))} UTC)")
        else:
            problems.append(f"{sym} (all its {b.cut} bars come before the common start)")
    if problems:
        raise DataError(
            "yahoo",
            f"{', '.join(problems)}: no bar of its own in the {window} bars the session replays ({span}); "
            "expected every symbol to trade in that span, else it replays as a flat line: choose symbols that "
            "trade in the same hours, or a session long enough to reach their bars",
            exit_code=2,
        )


def _utc(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")
