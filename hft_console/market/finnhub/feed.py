"""Finnhub live prices: REST quotes (finnhub-python) and the trade websocket, kept fresh by two threads.

``FinnhubFeed`` keeps the latest price per symbol from two paths: the websocket's trade prints (pushed,
fresh while the market is open) and a slow REST quote poll (the fallback, and the fail-fast check at
start). A lost websocket is reconnected with exponential backoff, which starts over only after a
connection has stayed healthy (messages flowing, no error message) for ``healthy_s``: a server that
accepts and then drops every connection is retried ever more slowly, not every second. Prints the feed
cannot use (malformed, a bad price, an unsubscribed symbol, older than the price held) are counted.

The API key rides in every REST and websocket URL (``token=``), so every text that leaves this module
goes through ``redact`` and the loggers that see URLs (urllib3, websockets) get a redacting filter
(both in ``feedkit``, with the backoff schedule and the REST token bucket).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote as urlquote

import finnhub
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from hft_console.market.feedkit import RedactFilter, TokenBucket, backoff_delays, call_with_deadline, redact
from hft_console.market.source import DataError

SOURCE = "finnhub"
WATCHDOG_S = 60.0  # Finnhub pings stop silently on dead connections (Finnhub-API #517)
#: a connection that has delivered messages for this long without an error message has worked: the
#: next reconnect waits the first backoff delay again
HEALTHY_S = 30.0
RATE_PER_S, BURST = 1.0, 5  # free tier: 60 calls/min and 30 calls/s per key
RATE_LIMITED_PAUSE_S = 10.0
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")]+")

_WS_LOG = logging.getLogger("hft_console.market.finnhub.websocket")
for _logger in (_WS_LOG, logging.getLogger("urllib3.connectionpool")):  # both log request lines at debug
    _logger.addFilter(RedactFilter())


@dataclasses.dataclass(frozen=True, slots=True)
class Latest:
    price: float
    ts_ms: int  # exchange time of the print or quote
    changed: float  # feed clock (monotonic) when this price became news


@dataclasses.dataclass(frozen=True, slots=True)
class FeedStats:
    trades: int  # websocket prints with volume
    price_updates: int  # websocket prints with v == 0
    connects: int  # websocket handshakes that succeeded
    reconnects: int  # connects after the first
    watchdog_reconnects: int  # connections dropped by us for silence
    errors: int  # failed handshakes, websocket error messages, failed REST polls
    rest_polls: int
    rest_failures: int
    last_error: str  # redacted
    prints_rejected: int = 0  # malformed, a price not finite and positive, or too far from the held one
    prints_unsubscribed: int = 0  # a symbol this feed did not subscribe to: ignored
    prints_late: int = 0  # older (exchange time) than the price already held: counted, price not used
    rest_empty: int = 0  # REST polls answered without a quote (c == 0)


class FinnhubFeed:
    """Latest prices from Finnhub, kept fresh by a websocket thread and a REST poll thread."""

    def __init__(
        self, symbols: Sequence[str], api_key: str, *,
        rest_url: str = "https://finnhub.io/api/v1", ws_url: str = "wss://ws.finnhub.io",
        timeout_s: float = 10.0, stale_s: float = 10.0, poll_s: float = 15.0, watchdog_s: float = WATCHDOG_S,
        reconnect_delays: Callable[[], Iterator[float]] = backoff_delays, healthy_s: float = HEALTHY_S,
        rate_per_s: float = RATE_PER_S, burst: int = BURST,
        clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_deviation: float = 0.1, reanchor_after: int = 5,
    ) -> None:  # fmt: skip
        """``reconnect_delays`` makes a fresh backoff schedule (seconds); ``sleep`` waits out each delay
        (tests inject one that records them); ``clock`` (monotonic seconds) also times ``healthy_s``."""
        self.symbols = list(symbols)
        self._subscribed = frozenset(self.symbols)
        self._key = api_key.strip()
        self._rest_url, self._ws_url = rest_url.rstrip("/"), ws_url
        self._timeout_s, self._stale_s, self._poll_s, self._watchdog_s = timeout_s, stale_s, poll_s, watchdog_s
        self._delays, self._healthy_s, self._clock, self._wall = reconnect_delays, healthy_s, clock, wall
        self._sleep = sleep
        self._bucket = TokenBucket(rate_per_s, burst, clock)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._client: Any = None
        self._latest: dict[str, Latest] = {}
        self._last_news = -math.inf
        self._connected = self._rest_failing = False
        self._fatal = self._last_error = ""
        self._trades = self._price_updates = self._connects = self._watchdogs = 0
        self._errors = self._polls = self._poll_failures = 0
        self._rejected = self._unsubscribed = self._late = self._rest_empty = 0
        # the normaliser's rule for prints: one further than max_deviation from the price held is
        # rejected, until reanchor_after such prints in a row say the level really moved
        self._max_dev, self._reanchor_after = max_deviation, reanchor_after
        self._deviants: dict[str, int] = {}

    def start(self) -> None:
        """One REST quote per symbol, synchronously (DataError on any failure), then the threads."""
        if not self._key:
            raise DataError(SOURCE, "FINNHUB_API_KEY is not set (environment or .env)", exit_code=2)
        if self._threads:
            raise RuntimeError("FinnhubFeed.start called twice")
        client = finnhub.Client(self._key)
        client.API_URL = self._rest_url  # instance attribute: the class default points at production
        client.DEFAULT_TIMEOUT = self._timeout_s
        self._client = client
        for sym in self.symbols:
            self._bucket.acquire(self._stop)
            error: DataError | None = None
            try:
                quote = call_with_deadline(functools.partial(client.quote, sym), self._timeout_s + 1.0)
            except Exception as exc:
                error = self._describe(exc, sym)
            else:
                if not self._apply_quote(sym, quote):
                    error = DataError(SOURCE, f"no quote for {sym}: unknown symbol or not covered by this API key", 2)
            if error is not None:  # raised outside ``except``: the original (with the key in its URL) is not chained
                client.close()
                raise error
        self._threads = [
            threading.Thread(target=self._run_ws, name="finnhub-ws", daemon=True),
            threading.Thread(target=self._run_poll, name="finnhub-rest", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop both threads; a REST request in flight is abandoned (daemon thread) after ``timeout``."""
        self._stop.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(_cancel_all, loop)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._client is not None and not any(t.is_alive() for t in self._threads):
            self._client.close()
        with self._lock:
            self._connected = False

    def latest(self, symbol: str) -> Latest | None:
        with self._lock:
            return self._latest.get(symbol)

    def prices(self) -> dict[str, float]:
        with self._lock:
            return {sym: v.price for sym, v in self._latest.items()}

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    def stats(self) -> FeedStats:
        with self._lock:
            return FeedStats(
                self._trades, self._price_updates, self._connects, max(0, self._connects - 1), self._watchdogs,
                self._errors, self._polls, self._poll_failures, self._last_error,
                self._rejected, self._unsubscribed, self._late, self._rest_empty,
            )  # fmt: skip

    def state(self) -> str:
        """``down``: fatal error, or no websocket and REST failing; ``stale``: no news for ``stale_s``."""
        return self._status()[0]

    def reason(self) -> str:
        """Why the state is not ``live`` (empty when it is); never contains the key."""
        return self._status()[1]

    def _status(self) -> tuple[str, str]:
        with self._lock:
            if self._fatal:
                return "down", self._fatal
            if not self._connected and self._rest_failing:
                return "down", f"websocket not connected and REST failing: {self._last_error}"
            age = self._clock() - self._last_news
            if age > self._stale_s:
                return "stale", "no trade or quote update yet" if math.isinf(age) else f"no update for {age:.0f} s"
            return "live", ""

    def _apply(self, sym: str, price: float, ts_ms: int, changed: float, strict: bool) -> bool:
        """Keep the newest price by exchange time (caller holds the lock); a late, older print is dropped."""
        cur = self._latest.get(sym)
        if cur is not None and (ts_ms <= cur.ts_ms if strict else ts_ms < cur.ts_ms):
            return False
        self._latest[sym] = Latest(price, ts_ms, changed)
        self._last_news = max(self._last_news, changed)
        return True

    def _apply_quote(self, sym: str, quote: Any) -> bool:
        """A REST quote; False when it carries no data (``c == 0 and t == 0``, or not a quote at all)."""
        try:
            price, t = float(quote.get("c") or 0.0), int(quote.get("t") or 0)
        except (AttributeError, TypeError, ValueError):
            return False
        if not (math.isfinite(price) and price > 0 and t > 0):
            return False
        # news as old as the quote's own timestamp: a closed market's last price is stale at once
        changed = self._clock() - max(0.0, self._wall() - t)
        with self._lock:
            self._apply(sym, price, t * 1000, changed, strict=True)
        return True

    def _on_message(self, raw: str | bytes) -> bool:
        """Handle one websocket message; False for an error message or one that is not JSON."""
        try:
            msg = json.loads(raw)
        except ValueError:
            self._error("websocket: a message that is not JSON")
            return False
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "trade":
            self._on_trades(msg.get("data"))
        elif kind == "error":
            self._error(f"finnhub: {msg.get('msg')}")
            return False
        # "ping" and anything else: arriving at all is what the watchdog needs
        return True

    def _on_trades(self, data: object) -> None:
        now = self._clock()
        with self._lock:
            for item in data if isinstance(data, list) else ():
                try:
                    sym, price, ts, vol = str(item["s"]), float(item["p"]), int(item["t"]), float(item.get("v") or 0.0)
                except (AttributeError, KeyError, TypeError, ValueError):
                    self._rejected += 1
                    continue
                if sym not in self._subscribed:
                    self._unsubscribed += 1
                    continue
                if not (math.isfinite(price) and price > 0):
                    self._rejected += 1
                    continue
                held = self._latest.get(sym)
                if held is not None and abs(price - held.price) > self._max_dev * held.price:
                    self._deviants[sym] = self._deviants.get(sym, 0) + 1
                    if self._deviants[sym] < self._reanchor_after:
                        self._rejected += 1
                        continue
                self._deviants[sym] = 0
                if vol > 0:
                    self._trades += 1
                else:  # v == 0: a price update without a trade (FX, some crypto)
                    self._price_updates += 1
                if not self._apply(sym, price, ts, now, strict=False):
                    self._late += 1

    def _error(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = redact(message, self._key)

    def _describe(self, exc: BaseException, sym: str) -> DataError:
        """A REST failure as the DataError ``start`` raises; the text is redacted."""
        if isinstance(exc, finnhub.FinnhubAPIException):
            code = exc.status_code
            if code == 401:
                return DataError(SOURCE, "invalid API key (HTTP 401 from finnhub.io)", 2)
            if code == 429:
                return DataError(SOURCE, "rate limited by finnhub.io (HTTP 429): try again in a minute", 1)
            if code == 403:
                return DataError(SOURCE, f"this API key has no access to quotes for {sym} (HTTP 403)", 2)
            return DataError(SOURCE, f"HTTP {code} from finnhub.io for {sym}: {redact(str(exc.message), self._key)}", 1)
        if isinstance(exc, requests.Timeout | TimeoutError):
            return DataError(SOURCE, f"cannot reach finnhub.io: no answer within {self._timeout_s:g} s", 1)
        text = redact(str(exc), self._key)
        if isinstance(exc, requests.RequestException):
            found = _ERRNO_RE.search(text)
            return DataError(SOURCE, f"cannot reach finnhub.io: {found.group(0) if found else text[:200]}", 1)
        return DataError(SOURCE, f"unexpected answer from finnhub.io for {sym}: {text[:200]}", 1)

    def _run_poll(self) -> None:
        gap = self._poll_s / max(1, len(self.symbols))  # round robin: each symbol every poll_s
        due, i = self._clock() + gap, 0
        while not self._stop.wait(max(0.0, due - self._clock())):
            due = max(due + gap, self._clock())
            if not self._bucket.acquire(self._stop):
                return
            sym, i = self.symbols[i % len(self.symbols)], i + 1
            self._poll(sym)

    def _poll(self, sym: str) -> None:
        try:
            quote = self._client.quote(sym)
        except Exception as exc:  # every failure is recorded; the thread must outlive it
            code = exc.status_code if isinstance(exc, finnhub.FinnhubAPIException) else 0
            self._error(f"REST: {self._describe(exc, sym).message}")
            with self._lock:
                self._polls += 1
                self._poll_failures += 1
                self._rest_failing = code != 429  # a 429 means the service is there
                self._fatal = "invalid API key" if code == 401 else self._fatal
            if code == 429:  # the limit is per minute: the next calls would be refused too
                self._stop.wait(RATE_LIMITED_PAUSE_S)
            return
        empty = not self._apply_quote(sym, quote)
        with self._lock:
            self._polls += 1
            self._rest_empty += empty  # an answer without a quote (c == 0): the service is there, the price not
            self._rest_failing = False

    def _run_ws(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # stop() cancelled the main task
            asyncio.run(self._ws_main())

    async def _ws_main(self) -> None:
        self._loop = asyncio.get_running_loop()
        sep = "&" if "?" in self._ws_url else "?"
        url = f"{self._ws_url}{sep}token={urlquote(self._key, safe='')}"
        delays = self._delays()
        while not self._stop.is_set():
            healthy = False
            try:
                async with connect(
                    url, open_timeout=self._timeout_s, close_timeout=1.0, ping_interval=20, ping_timeout=20,
                    logger=_WS_LOG,
                ) as ws:  # fmt: skip
                    opened = self._clock()
                    with self._lock:
                        self._connected = True
                        self._connects += 1
                    for sym in self.symbols:  # subscriptions do not survive a reconnect
                        await ws.send(json.dumps({"type": "subscribe", "symbol": sym}))
                    healthy = await self._read(ws, opened)
            except InvalidStatus as exc:
                if exc.response.status_code == 401:
                    self._fatal = "invalid API key"
                    return
                self._error(f"websocket handshake: HTTP {exc.response.status_code}")  # 429: retried with backoff
            except InvalidURI:
                self._fatal = f"invalid websocket URL {redact(self._ws_url, self._key)!r}"
                return
            except (OSError, TimeoutError, WebSocketException) as exc:
                self._error(f"websocket: {type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._connected = False
            # only a connection that worked for a while starts the backoff over: one that is refused,
            # closed or silenced early, or answers with an error, is one more failure in a row
            if healthy:
                delays = self._delays()
            await self._sleep(next(delays))

    async def _read(self, ws: ClientConnection, opened: float) -> bool:
        """Messages until the connection closes or goes silent. True when it was healthy: a message
        arrived ``healthy_s`` or more after ``opened`` (feed clock) and after the last error message."""
        since, healthy = opened, False
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), self._watchdog_s)
            except TimeoutError:
                with self._lock:
                    self._watchdogs += 1
                return healthy  # leaving ``async with`` closes it; the caller reconnects
            except ConnectionClosed:
                return healthy
            now = self._clock()
            if not self._on_message(raw):
                since = now
            elif now - since >= self._healthy_s:
                healthy = True


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()
