"""The Finnhub source against local stand-ins: a recorded-response REST server and a websocket server
speaking Finnhub's trade format, both on 127.0.0.1. No network."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hft_console.market.feedkit import redact
from hft_console.market.finnhub.feed import FinnhubFeed
from hft_console.market.finnhub.market import FinnhubMarket, open_finnhub
from hft_console.market.open import data_quality
from hft_console.market.source import DataError
from tests.conftest import make_settings

DATA = Path(__file__).resolve().parents[1] / "data" / "finnhub"
KEY = "sk-test-c0ffee0ddba11"
AAPL, MSFT = 189.84, 414.67  # the recorded quotes' ``c``
SERVER_LOG = logging.getLogger("tests.finnhub.wsserver")  # the stand-in's own logs print the token it receives
SERVER_LOG.propagate = False


def fast_delays() -> Iterator[float]:
    return itertools.repeat(0.05)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RestServer:
    """Serves ``tests/data/finnhub`` files per symbol: ``routes[symbol] = (status, file)``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str]] = {"AAPL": (200, "quote_AAPL.json"), "MSFT": (200, "quote_MSFT.json")}
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                symbol = parse_qs(urlsplit(self.path).query).get("symbol", [""])[0]
                status, name = outer.routes.get(symbol, (404, "error_401.json"))
                body = (DATA / name).read_bytes()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        if self.url:
            self.url = ""
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def rest() -> Iterator[RestServer]:
    server = RestServer()
    yield server
    server.close()


def make_feed(rest_url: str, ws_url: str = "", key: str = KEY, **kw: Any) -> FinnhubFeed:
    args: dict[str, Any] = {"timeout_s": 1.0, "stale_s": 5.0, "poll_s": 60.0, "reconnect_delays": fast_delays}
    args.update(kw)
    return FinnhubFeed(
        ["AAPL", "MSFT"], key, rest_url=rest_url, ws_url=ws_url or f"ws://127.0.0.1:{closed_port()}", **args
    )


async def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``cond``; the timeout only bounds a hang (a loaded machine may take long, never fails early)."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)


class SkewedClock:
    """The feed's monotonic clock, moved ahead by the test: time-dependent states without real waiting."""

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skew


def trade(*prints: tuple[str, float, float]) -> str:
    now_ms = int(time.time() * 1000)
    data = [{"p": p, "s": s, "t": now_ms, "v": v, "c": ["1"]} for s, p, v in prints]
    return json.dumps({"type": "trade", "data": data})


class WsServer:
    """Records every connection's request path and messages; ``script`` drives each connection."""

    def __init__(self, script: Callable[[ServerConnection, int], Awaitable[None]]) -> None:
        self.script, self.connections = script, 0
        self.paths: list[str] = []
        self.received: list[dict[str, Any]] = []
        self.server: Server | None = None

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.paths.append(ws.request.path if ws.request else "")
        reader = asyncio.create_task(self._read(ws))
        try:
            with contextlib.suppress(ConnectionClosed):
                await self.script(ws, self.connections)
        finally:
            reader.cancel()

    async def _read(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                self.received.append(json.loads(raw))

    def subscribes(self) -> list[str]:
        return [m["symbol"] for m in self.received if m.get("type") == "subscribe"]

    async def __aenter__(self) -> str:
        self.server = await serve(self.handler, "127.0.0.1", 0, process_request=self.process_request, logger=SERVER_LOG)
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        return None


async def hold_open(ws: ServerConnection, n: int) -> None:
    await ws.wait_closed()


def test_rest_quotes_hit_double_slash_path_with_token(rest: RestServer) -> None:
    feed = make_feed(rest.url)
    feed.start()
    try:
        assert feed.prices() == {"AAPL": AAPL, "MSFT": MSFT}
        paths = [urlsplit(p) for p in rest.requests]
        assert {p.path for p in paths} == {"/api/v1//quote"}  # finnhub-python joins API_URL and "/quote"
        assert [parse_qs(p.query)["symbol"][0] for p in paths] == ["AAPL", "MSFT"]
        assert all(parse_qs(p.query)["token"] == [KEY] for p in paths)
        # the recorded quotes are old: news that old is stale at once (a closed market looks like this)
        assert feed.state() == "stale"
    finally:
        feed.stop()


def test_missing_key_is_a_usage_error(rest: RestServer) -> None:
    with pytest.raises(DataError) as err:
        make_feed(rest.url, key="  ").start()
    assert err.value.exit_code == 2
    assert "FINNHUB_API_KEY is not set" in err.value.message
    assert rest.requests == []


def test_unreachable_rest_fails_fast_without_the_key() -> None:
    with pytest.raises(DataError) as err:
        make_feed(f"http://127.0.0.1:{closed_port()}/api/v1").start()
    assert err.value.exit_code == 1
    assert err.value.message.startswith("cannot reach finnhub.io: ")
    assert "refused" in err.value.message.lower()  # fast by construction: refused, no timeout waited out
    assert KEY not in str(err.value) and err.value.__cause__ is None and err.value.__context__ is None


def test_silent_rest_server_times_out_instead_of_hanging() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        t0 = time.monotonic()
        with pytest.raises(DataError, match=r"no answer within 0\.3 s"):
            make_feed(f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1", timeout_s=0.3).start()
        assert time.monotonic() - t0 < 30  # a bound on a hang only: the message says the 0.3 s timeout fired


@pytest.mark.parametrize(
    ("route", "needle", "code"),
    [
        ((401, "error_401.json"), "invalid API key", 2),
        ((429, "error_429.json"), "rate limited", 1),
        ((200, "quote_empty.json"), "no quote for MSFT", 2),
    ],
)
def test_rest_errors_at_start(rest: RestServer, route: tuple[int, str], needle: str, code: int) -> None:
    rest.routes["MSFT"] = route
    with pytest.raises(DataError) as err:
        make_feed(rest.url).start()
    assert needle in err.value.message and err.value.exit_code == code
    assert KEY not in str(err.value)


async def test_trades_pings_reconnect_and_resubscribe(rest: RestServer) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps({"type": "ping"}))
        if n == 1:
            await wait_for(lambda: len(server.subscribes()) >= 2)
            await ws.send(trade(("AAPL", 190.5, 100), ("MSFT", 415.0, 0), ("TSLA", 250.0, 5)))
            # a bad price, no price, and a print older than the price held
            bad = [
                {"s": "AAPL", "p": -1.0, "t": 1, "v": 1},
                {"s": "AAPL", "t": 1},
                {"s": "MSFT", "p": 414.0, "t": 1, "v": 1},
            ]
            await ws.send(json.dumps({"type": "trade", "data": bad}))
            await ws.send(json.dumps({"type": "error", "msg": "Subscribing to too many symbols"}))
            await ws.send("not json")
            await asyncio.sleep(0.05)
            await ws.close()  # the feed must come back and subscribe again
        else:
            await ws.send(trade(("AAPL", 191.0, 10)))
            await ws.wait_closed()

    server = WsServer(script)
    async with server as ws_url:
        feed = make_feed(rest.url, ws_url)
        await asyncio.to_thread(feed.start)
        try:
            # the server may answer before it has read the second connection's subscriptions
            await wait_for(lambda: feed.prices()["AAPL"] == 191.0 and len(server.subscribes()) >= 4)
            stats = feed.stats()
            assert server.connections == 2 and stats.connects == 2 and stats.reconnects == 1
            assert server.subscribes() == ["AAPL", "MSFT", "AAPL", "MSFT"]
            assert all(path == f"/?token={KEY}" for path in server.paths)
            assert feed.prices()["MSFT"] == 415.0  # v == 0: a price update, not a trade
            assert (stats.trades, stats.price_updates) == (3, 1)  # TSLA is not subscribed
            assert (stats.prints_rejected, stats.prints_unsubscribed, stats.prints_late) == (2, 1, 1)
            assert feed.prices()["MSFT"] == 415.0  # the late print was counted, its price not used
            assert stats.errors == 2 and "not JSON" in stats.last_error
            assert feed.state() == "live" and feed.connected
        finally:
            await asyncio.to_thread(feed.stop)
    assert not feed.connected


async def test_watchdog_reconnects_a_silent_connection_but_not_one_with_pings(rest: RestServer) -> None:
    pings = [0]

    async def pinging(ws: ServerConnection, n: int) -> None:
        while True:
            await ws.send(json.dumps({"type": "ping"}))
            pings[0] += 1
            await asyncio.sleep(0.05)

    async with WsServer(pinging) as ws_url:
        # pings every 0.05 s against a 3 s watchdog: only a 60-fold stall of a busy machine could trip it
        feed = make_feed(rest.url, ws_url, watchdog_s=3.0)
        await asyncio.to_thread(feed.start)
        await wait_for(lambda: pings[0] >= 130)  # two watchdog periods of pings
        assert feed.stats().watchdog_reconnects == 0 and feed.stats().connects == 1
        await asyncio.to_thread(feed.stop)

    silent = WsServer(hold_open)
    async with silent as ws_url:
        feed = make_feed(rest.url, ws_url, watchdog_s=0.3)
        await asyncio.to_thread(feed.start)
        try:
            # the second connection is counted when it opens; its subscriptions arrive after
            await wait_for(lambda: silent.connections >= 2 and len(silent.subscribes()) >= 4)
            assert feed.stats().watchdog_reconnects >= 1
            assert silent.subscribes()[:4] == ["AAPL", "MSFT", "AAPL", "MSFT"]
        finally:
            await asyncio.to_thread(feed.stop)


async def test_stale_without_updates_then_down_when_everything_is_gone(rest: RestServer) -> None:
    async def one_trade_then_pings(ws: ServerConnection, n: int) -> None:
        await ws.send(trade(("AAPL", 190.0, 1)))
        while True:  # pings keep the connection up but are not news
            await asyncio.sleep(0.05)
            await ws.send(json.dumps({"type": "ping"}))

    server = WsServer(one_trade_then_pings)
    clock = SkewedClock()
    async with server as ws_url:
        feed = make_feed(rest.url, ws_url, stale_s=30.0, poll_s=0.1, rate_per_s=100.0, clock=clock)
        await asyncio.to_thread(feed.start)
        try:
            await wait_for(lambda: feed.state() == "live")
            clock.skew += 31.0  # the trade is now older than stale_s; pings are no news
            assert feed.state() == "stale" and feed.connected and "no update for" in feed.reason()
            polls = feed.stats().rest_polls
            await server.stop()  # the websocket goes away; REST still answers: stale, not down
            await wait_for(lambda: not feed.connected and feed.stats().rest_polls >= polls + 3)
            assert feed.state() == "stale"
            rest.close()
            await wait_for(lambda: feed.state() == "down")
            assert "REST failing" in feed.reason() and KEY not in feed.reason()
            assert KEY not in feed.stats().last_error
        finally:
            await asyncio.to_thread(feed.stop)


class StatusServer(WsServer):
    """Answers the first ``fail`` handshakes with ``status``."""

    def __init__(self, status: int, fail: int) -> None:
        super().__init__(hold_open)
        self.status, self.fail, self.handshakes = status, fail, 0

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if self.handshakes > self.fail:
            return None
        body = json.dumps({"error": HTTPStatus(self.status).phrase}).encode()
        return Response(self.status, HTTPStatus(self.status).phrase, Headers(), body)


async def test_websocket_401_is_fatal_and_429_is_retried(rest: RestServer) -> None:
    async with StatusServer(401, fail=99) as ws_url:
        feed = make_feed(rest.url, ws_url)
        await asyncio.to_thread(feed.start)
        try:
            await wait_for(lambda: feed.state() == "down")
            assert feed.reason() == "invalid API key"
        finally:
            await asyncio.to_thread(feed.stop)

    throttled = StatusServer(429, fail=2)
    async with throttled as ws_url:
        feed = make_feed(rest.url, ws_url)
        await asyncio.to_thread(feed.start)
        try:
            await wait_for(lambda: feed.connected)
            assert throttled.handshakes == 3 and feed.stats().errors == 2
            assert "HTTP 429" in feed.stats().last_error
        finally:
            await asyncio.to_thread(feed.stop)


async def test_logs_never_carry_the_key(rest: RestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with WsServer(hold_open) as ws_url:
        feed = make_feed(rest.url, ws_url)
        await asyncio.to_thread(feed.start)
        await wait_for(lambda: feed.connected)
        await asyncio.to_thread(feed.stop)
    assert "token=***" in caplog.text  # urllib3 and websockets did log the URLs
    assert KEY not in caplog.text


def test_redact() -> None:
    text = f"Max retries exceeded with url: /api/v1//quote?symbol=AAPL&token={KEY} (refused)"
    assert redact(text) == "Max retries exceeded with url: /api/v1//quote?symbol=AAPL&token=*** (refused)"
    assert redact(f"key {KEY}", KEY) == "key ***"


async def test_market_quotes_around_the_live_price(rest: RestServer) -> None:
    go = asyncio.Event()

    async def script(ws: ServerConnection, n: int) -> None:
        await go.wait()
        await ws.send(trade(("AAPL", 195.0, 100), ("AAPL", 195.0, 50)))  # within max_deviation (5%) of 189.84
        await ws.wait_closed()

    async with WsServer(script) as ws_url:
        settings = make_settings({"FINNHUB_API_KEY": KEY}, data__finnhub_rest_url=rest.url, data__finnhub_ws_url=ws_url)
        market = await asyncio.to_thread(open_finnhub, settings, settings.venues, 7)
        try:
            assert isinstance(market, FinnhubMarket) and market.label == "finnhub" and not market.exhausted
            assert market.cfg.bad_tick_rate == 0.0
            np.testing.assert_allclose(market.fundamental(), [AAPL, MSFT])
            tick, t, trades = settings.market.tick_size, 0, 0
            for want in (AAPL, 195.0):
                if want == 195.0:
                    go.set()
                    await wait_for(lambda: feed_price(market) == 195.0)
                for _ in range(10):
                    t += 20_000_000
                    batch = market.next_batch(t)
                    trades += batch.trades
                bid, ask = np.array(batch.bid), np.array(batch.ask)
                sym = np.array(batch.stream) // market.n_ven
                assert len(batch) > 0 and not batch.injected_bad
                assert np.all(bid < ask) and np.all(bid > 0)
                live = np.where(sym == 0, want, MSFT)
                assert np.all(np.abs((bid + ask) / 2 - live) <= 10 * tick)
                assert market.fundamental_at(0, t) == want
            assert trades == 2
            assert market.feed_state in ("live", "stale")
            assert market.trades_rejected == 0 and data_quality(market) == {
                "prints_rejected": 0, "prints_unsubscribed": 0, "prints_late": 0, "reconnects": 0,
                "watchdog_reconnects": 0, "feed_errors": 0, "rest_failures": 0, "rest_empty": 0,
            }  # fmt: skip
        finally:
            await asyncio.to_thread(market.close)


def feed_price(market: FinnhubMarket) -> float | None:
    latest = market.feed.latest("AAPL")
    return latest.price if latest else None


def test_rest_poll_401_takes_the_feed_down_and_429_does_not(rest: RestServer) -> None:
    # the websocket (no server) fails once and then waits an hour: its error cannot overwrite the REST one
    feed = make_feed(rest.url, poll_s=0.05, rate_per_s=100.0, reconnect_delays=lambda: itertools.repeat(3600.0))
    feed.start()
    try:
        end = time.monotonic() + 30  # a bound on a hang only
        while feed.stats().errors == 0 and time.monotonic() < end:
            time.sleep(0.01)
        rest.routes = {"AAPL": (429, "error_429.json"), "MSFT": (429, "error_429.json")}
        while feed.stats().rest_failures == 0 and time.monotonic() < end:
            time.sleep(0.01)
        assert feed.stats().rest_failures == 1 and feed.state() == "stale"  # paused after a 429, not down
        assert "rate limited" in feed.stats().last_error
    finally:
        feed.stop()
    feed = make_feed(rest.url, poll_s=0.05, rate_per_s=100.0)
    rest.routes = {"AAPL": (200, "quote_AAPL.json"), "MSFT": (200, "quote_MSFT.json")}
    feed.start()
    try:
        rest.routes = {"AAPL": (401, "error_401.json"), "MSFT": (401, "error_401.json")}
        end = time.monotonic() + 30
        while feed.state() != "down" and time.monotonic() < end:
            time.sleep(0.01)
        assert feed.state() == "down" and feed.reason() == "invalid API key"
    finally:
        feed.stop()
