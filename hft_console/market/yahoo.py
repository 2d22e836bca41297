"""Yahoo Finance bars for backtests: fetched with yfinance, cached on disk, replayed as venue quotes.

Cache layout: ``<cache_dir>/yahoo/<SYMBOL>_<interval>_<period>.csv`` holds one symbol's bars as Yahoo
sent them, before cleaning (header ``ts_ns,open,high,low,close,volume``; ``ts_ns`` is the bar's open
time in UTC nanoseconds). A file that exists is used as is, without touching the network: delete it to
fetch fresh bars. yfinance's own caches (timezone, cookie and ISIN databases) live in
``<cache_dir>/yfinance`` rather than the home directory.

Bars are cleaned and aligned (daily ones by trading date) in ``bars.py``; what that dropped, cut and
filled is counted per symbol and reported as the source's ``quality`` (``summary.json``
``data_quality``). A symbol with no bar of its own among the bars a session replays is refused rather
than replayed as a flat line.

Each bar is replayed over ``bar_s`` seconds of session time. Within a bar the fair price runs from the
open through the nearer extreme, then the other one, to the close, with Brownian-bridge noise between
those waypoints, kept within the bar's low and high. The venue quotes around that price are
``SyntheticMarket``'s; the hidden order-flow pressure is zero, so the replay invents no alpha.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.domain import VenueSpec
from hft_console.market.bars import (
    Bars,
    FloatArray,
    align_bars,
    bar_quality,
    clean_bars,
    intraday,
    on_trading_dates,
    require_own_bars,
)
from hft_console.market.source import DataError
from hft_console.market.synthetic import SyntheticMarket
from hft_console.rng import rng_for
from hft_console.settings import MarketSettings, Settings

COLUMNS = ("ts_ns", "open", "high", "low", "close", "volume")
FRAME_COLUMNS = ("Open", "High", "Low", "Close", "Volume")
#: yfinance's cookie and crumb requests carry their own 30 s timeouts, so one symbol's whole fetch is
#: abandoned after this many request timeouts instead of trusting every request to honour ours
FETCH_DEADLINE_TIMEOUTS = 3.0
#: bridge noise at the middle of a waypoint segment is roughly 15% of the bar's range
BRIDGE_NOISE = 0.5
#: the path of one bar has at most this many steps (memory stays bounded when bars are replayed slowly)
MAX_STEPS_PER_BAR = 20_000
NO_BARS_HINT = "unknown symbol or range Yahoo does not serve; 1m bars exist only for the last 30 days"

_yf_cache_dir: Path | None = None


def cache_path(cache_dir: Path, symbol: str, interval: str, period: str) -> Path:
    return cache_dir / "yahoo" / f"{symbol}_{interval}_{period}.csv"


def fetch_bars(
    symbols: Sequence[str],
    interval: str,
    period: str,
    cache_dir: Path,
    timeout_s: float,
    session: object | None = None,
) -> dict[str, Bars]:
    """Clean, aligned bars per symbol, from the cache when it has them, else from Yahoo (then cached).

    Symbols are aligned by forward fill: the timeline is every bar time of any symbol from the latest
    first bar on, and a symbol with no bar at a time gets a flat bar at its previous close (volume 0).
    Daily and longer bars are aligned by trading date (``on_trading_dates``). Raises ``DataError``
    (source ``yahoo``): exit 1 when Yahoo cannot deliver, exit 2 for a bad cache file.
    """
    dated = (lambda b: b) if intraday(interval) else on_trading_dates
    cleaned: dict[str, Bars] = {}
    for sym in symbols:
        path = cache_path(cache_dir, sym, interval, period)
        if path.exists():
            where, code = f"cache file {path} (delete it to fetch again)", 2
            cleaned[sym] = clean_bars(sym, dated(read_cache(path)), where, code)
        else:
            raw = _download(sym, interval, period, cache_dir, timeout_s, session)
            cleaned[sym] = clean_bars(sym, dated(raw), f"Yahoo's {interval} bars over {period}", 1)
            write_cache(path, raw)
    return align_bars(cleaned)


def read_cache(path: Path) -> Bars:
    """The raw bars of one cache file; anything unreadable is a ``DataError`` with exit 2 naming the file."""

    def bad(what: str) -> DataError:
        return DataError("yahoo", f"cache file {path}: {what}; delete it to fetch again", exit_code=2)

    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise bad(f"cannot read it ({type(e).__name__}: {_one_line(e)})") from None
    if not rows or tuple(col.strip() for col in rows[0]) != COLUMNS:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise bad(f"header is {got!r}, expected {','.join(COLUMNS)!r}")
    ts = np.empty(len(rows) - 1, dtype=np.int64)
    values = np.empty((5, len(rows) - 1), dtype=np.float64)
    for n, row in enumerate(rows[1:]):
        if len(row) != len(COLUMNS):
            raise bad(f"row {n + 2} has {len(row)} fields, expected {len(COLUMNS)}")
        try:
            ts[n] = int(row[0])
            values[:, n] = [float(x) for x in row[1:]]
        except (ValueError, OverflowError):
            raise bad(f"row {n + 2} is not numeric: {','.join(row)!r}") from None
    return Bars(ts, values[0], values[1], values[2], values[3], values[4])


def write_cache(path: Path, bars: Bars) -> None:
    """Write atomically (temporary file, then rename), so an interrupted run never leaves half a cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError as e:
        raise DataError("yahoo", f"cannot write cache file {path}: {_one_line(e)}", exit_code=2) from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(COLUMNS)
            values = np.column_stack((bars.open, bars.high, bars.low, bars.close, bars.volume)).tolist()
            # repr is the shortest text that reads back to the same float: a cached run equals a fetched one
            out.writerows([t, *map(repr, row)] for t, row in zip(bars.ts_ns.tolist(), values, strict=True))
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise DataError("yahoo", f"cannot write cache file {path}: {_one_line(e)}", exit_code=2) from None


def _download(sym: str, interval: str, period: str, cache_dir: Path, timeout_s: float, session: object | None) -> Bars:
    import yfinance as yf

    _point_yfinance_caches(cache_dir)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            ticker = yf.Ticker(sym, session=session)
            # keepna: yfinance would drop bars without prices unseen; clean_bars drops and counts them
            box["frame"] = ticker.history(
                period=period, interval=interval, timeout=timeout_s, auto_adjust=True, keepna=True
            )
        except BaseException as e:  # handed over to the calling thread, which turns it into a DataError
            box["error"] = e

    deadline = FETCH_DEADLINE_TIMEOUTS * timeout_s
    with _strict_yfinance(yf):
        # a daemon thread: a request stuck past the deadline must not keep the process alive at exit
        worker = threading.Thread(target=work, name=f"yahoo-fetch-{sym}", daemon=True)
        worker.start()
        worker.join(deadline)
    if worker.is_alive():
        raise DataError("yahoo", f"Yahoo Finance did not answer for {sym} within {deadline:g} s; check the network")
    if "error" in box:
        raise _as_data_error(sym, interval, period, box["error"]) from None
    return _frame_to_bars(sym, interval, period, box["frame"])


def _point_yfinance_caches(cache_dir: Path) -> None:
    """yfinance binds its cache databases on first use, so the first cache_dir a process fetches with wins."""
    global _yf_cache_dir
    import yfinance.cache

    if _yf_cache_dir is None:
        where = (cache_dir / "yfinance").absolute()
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError("yahoo", f"cannot create cache folder {where}: {_one_line(e)}", exit_code=2) from None
        yfinance.cache.set_cache_location(str(where))
        _yf_cache_dir = where


@contextmanager
def _strict_yfinance(yf: Any) -> Iterator[None]:
    """Errors raised, not logged and turned into an empty frame (which would make "offline" look like
    "unknown symbol"); no retries, so a dead network fails at once; nothing printed to stderr."""
    logger = logging.getLogger("yfinance")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        # every failure yfinance would log becomes our DataError; logging's last-resort handler would
        # only print it twice, over the console
        logger.addHandler(logging.NullHandler())
    saved = (yf.config.debug.hide_exceptions, yf.config.network.retries)
    yf.config.debug.hide_exceptions, yf.config.network.retries = False, 0
    try:
        with warnings.catch_warnings():
            # yfinance's own pandas deprecations are not the user's to act on
            warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
            yield
    finally:
        yf.config.debug.hide_exceptions, yf.config.network.retries = saved


def _as_data_error(sym: str, interval: str, period: str, err: BaseException) -> DataError:
    from yfinance.exceptions import YFException, YFRateLimitError, YFTickerMissingError

    detail = f"{type(err).__name__}: {_one_line(err)}"
    # curl_cffi hangs a status-0 response on connection errors: only a real status is an answer
    status = getattr(getattr(err, "response", None), "status_code", 0) or 0
    if isinstance(err, YFRateLimitError):
        msg = f"Yahoo Finance rate-limited the request for {sym}; wait a few minutes and retry (bars so far are cached)"
    elif isinstance(err, YFTickerMissingError):
        # the rationale is Yahoo's own reason where it gave one, without yfinance's "$SYM: possibly delisted"
        reason = _one_line(getattr(err, "rationale", None) or err)
        msg = f"no bars for {sym} at {interval} over {period} ({reason}): {NO_BARS_HINT}"
    elif isinstance(err, YFException):
        msg = f"Yahoo Finance refused {sym} at {interval} over {period} ({detail}); check the symbol and range"
    elif isinstance(err, OSError) and status:
        hint = NO_BARS_HINT if status == 404 else "try again later"
        msg = f"Yahoo Finance answered HTTP {status} for {sym} at {interval} over {period}: {hint}"
    elif isinstance(err, OSError):
        msg = f"cannot reach Yahoo Finance for {sym} ({detail}); check the network, or use data.source = synthetic"
    else:
        msg = f"yfinance failed on {sym} at {interval} over {period} ({detail}); try again, or upgrade yfinance"
    return DataError("yahoo", msg, exit_code=1)


def _frame_to_bars(sym: str, interval: str, period: str, frame: Any) -> Bars:
    if frame is None or len(frame) == 0:
        raise DataError("yahoo", f"no bars for {sym} at {interval} over {period}: {NO_BARS_HINT}")
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError("yahoo", f"Yahoo's bars for {sym} lack columns {', '.join(missing)}; upgrade yfinance")
    index = frame.index
    # pandas 3 gives second-unit indexes in the exchange's timezone: normalise to UTC nanoseconds
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    ts = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
    o, h, lo, c, v = (np.asarray(frame[col].to_numpy(dtype=float, na_value=np.nan)) for col in FRAME_COLUMNS)
    return Bars(ts, o, h, lo, c, v)


def _one_line(err: BaseException | str) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


class YahooMarket(SyntheticMarket):
    """Aligned bars replayed as a fair-price path, ``bar_s`` seconds of session time per bar."""

    def __init__(
        self,
        symbols: list[str],
        venues: list[VenueSpec],
        cfg: MarketSettings,
        seed: int,
        bars: dict[str, Bars],
        bar_s: float,
        label: str,
        window: int | None = None,
    ) -> None:
        """``window``: the bars the session replays (default all); every symbol needs a bar of its own
        among them (``DataError`` exit 2 otherwise), and ``quality`` counts what was filled in them."""
        # injected bad ticks are a synthetic-feed exercise; recorded bars are already cleaned
        super().__init__(symbols, venues, dataclasses.replace(cfg, bad_tick_rate=0.0), seed)
        missing = [s for s in symbols if s not in bars]
        if missing:
            raise ValueError(f"no bars for {', '.join(missing)}")
        series = [bars[s] for s in symbols]
        if len({len(b) for b in series}) != 1 or len(series[0]) == 0:
            raise ValueError("bars must be aligned (same times for every symbol) and not empty")
        self.label = label
        self.n_bars = len(series[0])
        self.window = self.n_bars if window is None else max(1, min(window, self.n_bars))
        require_own_bars(symbols, series, self.window)
        #: what cleaning and alignment did to the data (``bar_quality``); summary.json ``data_quality``
        self.quality = bar_quality(symbols, series, self.window)
        self.bar_ns = max(1, round(bar_s * 1e9))
        self.steps = min(MAX_STEPS_PER_BAR, max(4, -(-self.bar_ns // self.grid_ns)))
        o, h, lo, c = (np.stack([getattr(b, f) for b in series]) for f in ("open", "high", "low", "close"))
        self._low, self._high, self._close = lo, h, c

        self.path_rng = rng_for(seed, "market.yahoo")
        last = self.steps - 1
        # waypoint times are drawn for every bar up front, so the path does not depend on batch sizes
        u = self.path_rng.random((2, self.n_sym, self.n_bars))
        j1 = np.clip(np.rint((0.1 + 0.35 * u[0]) * last), 1, last - 2).astype(np.intp)
        j2 = np.clip(np.rint((0.55 + 0.35 * u[1]) * last), j1 + 1, last - 1).astype(np.intp)
        self._jw = np.stack([np.zeros_like(j1), j1, j2, np.full_like(j1, last)], axis=-1)
        high_first = np.abs(h - o) <= np.abs(o - lo)
        self._vw = np.stack([o, np.where(high_first, h, lo), np.where(high_first, lo, h), c], axis=-1)

        self._cache = np.empty((self.n_sym, 0, self.steps))
        self._cache_lo = 0  # first bar held in _cache
        self._next_bar = 0  # bars before this one have been generated (the noise stream is sequential)
        self.log_price = np.log(o[:, 0])
        self.hist_price = np.repeat(o[:, :1], self.lookback, axis=1)

    @property
    def exhausted(self) -> bool:
        return self.served_ns >= self.end_ns

    @property
    def end_ns(self) -> int:
        """Session time at which the last bar has been replayed."""
        return self.n_bars * self.bar_ns

    @property
    def duration_s(self) -> float:
        """Session seconds the whole replay takes."""
        return self.n_bars * self.bar_ns / 1e9

    def _advance_grid(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        t = self.t_ns + self.grid_ns * np.arange(1, n + 1, dtype=np.int64)
        k = t // self.bar_ns
        # float division of exact integers is exact when the quotient is whole: no off-by-one at step edges
        j = np.floor((t - k * self.bar_ns).astype(np.float64) * self.steps / self.bar_ns).astype(np.intp)
        j = np.minimum(j, self.steps - 1)
        live = k < self.n_bars
        prices = np.repeat(self._close[:, -1:], n, axis=1)  # past the end the path holds the last close
        if live.any():
            kl = k[live]
            self._ensure(int(kl[0]), int(kl[-1]) + 1)
            prices[:, live] = self._cache[:, kl - self._cache_lo, j[live]]
        return prices, np.zeros((self.n_sym, n))

    def _ensure(self, k_lo: int, k_hi: int) -> None:
        """Hold the paths of bars [k_lo, k_hi) in ``_cache``; earlier bars are released."""
        if k_hi > self._next_bar:
            self._cache = np.concatenate([self._cache, self._bar_paths(self._next_bar, k_hi)], axis=1)
            self._next_bar = k_hi
        if k_lo > self._cache_lo:
            self._cache = self._cache[:, k_lo - self._cache_lo :]
            self._cache_lo = k_lo

    def _bar_paths(self, k0: int, k1: int) -> FloatArray:
        """Paths of bars [k0, k1), shape (n_sym, k1 - k0, steps): straight lines through the waypoints
        plus a Brownian bridge pinned at every waypoint, clipped to each bar's [low, high]."""
        # bar-major draws: generating bars in one call or several consumes the stream identically
        z = self.path_rng.standard_normal((k1 - k0, self.n_sym, self.steps)).transpose(1, 0, 2)
        w = np.cumsum(z, axis=-1)
        jw, vw = self._jw[:, k0:k1], self._vw[:, k0:k1]
        j = np.arange(self.steps)
        seg = (j > jw[..., 1:2]).astype(np.intp) + (j > jw[..., 2:3])
        a, b = np.take_along_axis(jw, seg, -1), np.take_along_axis(jw, seg + 1, -1)
        frac = (j - a) / (b - a)
        wa, wb = np.take_along_axis(w, a, -1), np.take_along_axis(w, b, -1)
        bridge = w - wa - frac * (wb - wa)
        pa, pb = np.take_along_axis(vw, seg, -1), np.take_along_axis(vw, seg + 1, -1)
        lo, hi = self._low[:, k0:k1, None], self._high[:, k0:k1, None]
        sigma = BRIDGE_NOISE * (hi - lo) / math.sqrt(self.steps)
        path: FloatArray = np.clip(pa + frac * (pb - pa) + sigma * bridge, lo, hi)
        return path


def open_yahoo(settings: Settings, venues: list[VenueSpec], seed: int, session: object | None = None) -> YahooMarket:
    """The Yahoo source a session asks for: ``settings.data`` picks the bars, ``settings.market`` the quoting."""
    d, symbols = settings.data, list(settings.session.symbols)
    bars = fetch_bars(symbols, d.yahoo_interval, d.yahoo_period, Path(d.cache_dir), d.timeout_s, session)
    label = f"yahoo:{d.yahoo_interval}/{d.yahoo_period}"
    # the engine plays bar k over [k, k + 1) * bar_ns while k * bar_ns < the session's length
    window = -(-int(settings.session.duration_s * 1e9) // max(1, round(d.bar_s * 1e9)))
    return YahooMarket(symbols, venues, settings.market, seed, bars, d.bar_s, label, window)
