"""Finnhub's websocket reconnect backoff against a local server on 127.0.0.1 (it starts over only after
a healthy connection), and the schedule and token bucket themselves. The delays the feed chooses are
recorded by an injected sleep and the feed's clock is moved by the test, so nothing depends on how
fast this machine is."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.server import ServerConnection

from hft_console.market.feedkit import TokenBucket, backoff_delays
from hft_console.market.finnhub.feed import HEALTHY_S
from tests.unit.test_finnhub import RestServer, SkewedClock, WsServer, make_feed, trade, wait_for


@pytest.fixture
def rest() -> Iterator[RestServer]:
    server = RestServer()
    yield server
    server.close()


class RecordedSleep:
    """The feed's backoff sleep: records each delay the feed chose and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def test_a_server_that_answers_with_an_error_and_closes_is_retried_ever_more_slowly(rest: RestServer) -> None:
    """Finnhub's answer to a bad subscription or a second connection per key: accept, one error, close.
    Each such connection is a failure, so the waits grow 1, 2, 4 ... 60 s (they were 1 s forever)."""

    async def error_then_close(ws: ServerConnection, n: int) -> None:
        await wait_for(lambda: len(server.subscribes()) >= 2 * n)  # answering the subscriptions
        await ws.send(json.dumps({"type": "error", "msg": "Too many connections"}))
        await ws.close()

    sleep = RecordedSleep()
    server = WsServer(error_then_close)
    async with server as ws_url:
        feed = make_feed(rest.url, ws_url, reconnect_delays=backoff_delays, sleep=sleep)
        await asyncio.to_thread(feed.start)
        try:
            await wait_for(lambda: len(sleep.delays) >= 8)
        finally:
            await asyncio.to_thread(feed.stop)
    assert sleep.delays[:8] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert server.connections >= 8 and feed.stats().errors >= 8  # every error message was read


async def test_the_backoff_starts_over_only_after_a_healthy_connection(rest: RestServer) -> None:
    clock, sleep = SkewedClock(), RecordedSleep()

    async def script(ws: ServerConnection, n: int) -> None:
        if n == 6:
            await ws.wait_closed()
            return
        # the feed reads its clock when the connection opens, then subscribes: wait for that
        await wait_for(lambda: len(server.subscribes()) >= 2 * n)
        if n == 1:  # an error message at once
            await ws.send(json.dumps({"type": "error", "msg": "Invalid subscription"}))
        elif n == 2:  # data, but closed at once
            await ws.send(trade(("AAPL", 190.0, 1)))
        elif n == 3:  # still delivering healthy_s after it opened: healthy
            clock.skew += HEALTHY_S
            await ws.send(trade(("AAPL", 190.5, 1)))
        elif n == 4:  # data, then an error message healthy_s later: the error is what counts
            await ws.send(trade(("AAPL", 191.0, 1)))
            await wait_for(lambda: feed.prices()["AAPL"] == 191.0)  # read before the clock moves on
            clock.skew += HEALTHY_S
            await ws.send(json.dumps({"type": "error", "msg": "Internal error"}))
        elif n == 5:  # data flowing again after a long silence that ended with an error: still failing
            clock.skew += HEALTHY_S
            await ws.send(json.dumps({"type": "error", "msg": "Internal error"}))
            await ws.send(trade(("AAPL", 191.5, 1)))
        await ws.close()

    server = WsServer(script)
    async with server as ws_url:
        feed = make_feed(rest.url, ws_url, reconnect_delays=backoff_delays, sleep=sleep, clock=clock)
        await asyncio.to_thread(feed.start)
        try:
            await wait_for(lambda: server.connections >= 6 and feed.connected)
        finally:
            await asyncio.to_thread(feed.stop)
    # waits after connections 1..5: fail, fail, healthy (start over), fail, fail
    assert sleep.delays == [1, 2, 1, 2, 4]
    assert feed.stats().connects == 6 and feed.stats().reconnects == 5


def test_token_bucket_and_backoff() -> None:
    now = [0.0]
    bucket = TokenBucket(1.0, 5, clock=lambda: now[0])
    assert [bucket.take() for _ in range(6)] == [0.0] * 5 + [1.0]
    now[0] = 0.5
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 1.0
    assert bucket.take() == 0.0
    assert list(itertools.islice(backoff_delays(), 8)) == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_print_ten_times_away_is_rejected_until_the_level_is_confirmed() -> None:
    """The normaliser's deviation rule on live prints: a fat-finger print never moves the quotes; a
    real move is trusted after reanchor_after prints in a row."""
    feed = make_feed("http://127.0.0.1:9/api/v1", max_deviation=0.1, reanchor_after=3)

    def trade(price: float, t: int) -> None:
        feed._on_message(json.dumps({"type": "trade", "data": [{"s": "AAPL", "p": price, "t": t, "v": 100}]}))

    trade(190.0, 1)
    trade(1900.0, 2)
    assert feed.prices()["AAPL"] == 190.0 and feed.stats().prints_rejected == 1
    trade(190.5, 3)
    assert feed.prices()["AAPL"] == 190.5
    for t in (4, 5, 6):  # the level really moved: the third print in a row is trusted
        trade(250.0, t)
    assert feed.prices()["AAPL"] == 250.0 and feed.stats().prints_rejected == 3
