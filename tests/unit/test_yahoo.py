from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import requests
from requests.adapters import BaseAdapter
from requests.models import PreparedRequest, Response

from hft_console.market import yahoo
from hft_console.market.bars import Bars, clean_bars
from hft_console.market.source import DataError
from hft_console.market.yahoo import YahooMarket, cache_path, fetch_bars, open_yahoo, read_cache
from tests.conftest import make_settings

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "yahoo"
CHART = FIXTURES / "chart_AAPL_1m_1d.json"
T0_NS = 1_748_871_000 * 10**9  # 2025-06-02 13:30 UTC, the fixtures' first bar
BAR_NS = 10**9


class FakeYahoo(BaseAdapter):
    """Yahoo as yfinance sees it: recorded chart JSON, a crumb, 404 for everything else; or a failure."""

    def __init__(self, charts: dict[str, bytes] | None = None, fail: BaseException | None = None, status: int = 0):
        super().__init__()
        self.charts, self.fail, self.status = charts or {}, fail, status
        self.refusals: dict[str, tuple[int, bytes]] = {}  # by the chart request's range
        self.urls: list[str] = []

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> Response:
        url = request.url or ""
        self.urls.append(url)
        if self.fail is not None:
            raise self.fail
        path = urlsplit(url).path
        if self.status:
            return self.reply(request, self.status, b"Too Many Requests")
        if path.startswith("/v8/finance/chart/"):
            refusal = self.refusals.get(parse_qs(urlsplit(url).query).get("range", [""])[0])
            if refusal is not None:
                return self.reply(request, *refusal)
            body = self.charts.get(path.rsplit("/", 1)[-1])
            if body is not None:
                return self.reply(request, 200, body)
            error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
            return self.reply(request, 404, json.dumps({"chart": {"result": None, "error": error}}).encode())
        if path.endswith("/getcrumb"):
            return self.reply(request, 200, b"crumb")
        return self.reply(request, 404, b"Not Found")

    @staticmethod
    def reply(request: PreparedRequest, status: int, body: bytes) -> Response:
        r = Response()
        r.status_code, r._content, r.url, r.request, r.encoding = status, body, request.url or "", request, "utf-8"
        return r

    def close(self) -> None:
        pass

    def session(self) -> requests.Session:
        s = requests.Session()
        s.mount("https://", self)
        s.mount("http://", self)
        return s


@pytest.fixture(autouse=True)
def isolated_yfinance(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """yfinance keeps a process-wide session (with its crumb), an lru cache of GETs and cache databases
    bound on first use: every test starts from none of them and leaves none behind."""
    import yfinance.base
    import yfinance.cache as yc
    import yfinance.data as yd

    location = yc._TzDBManager.get_location()

    def reset() -> None:
        yd.SingletonMeta._instances.pop(yd.YfData, None)
        yd.YfData.cache_get.cache_clear()
        yc._TzCacheManager._tz_cache = None
        yc._CookieCacheManager._Cookie_cache = None
        yc._ISINCacheManager._isin_cache = None

    monkeypatch.setattr(yahoo, "_yf_cache_dir", None)
    monkeypatch.setattr(yfinance.base, "_tz_info_fetch_ctr", 0)
    reset()
    yield
    reset()
    yc.set_cache_location(location)


def offline() -> FakeYahoo:
    return FakeYahoo(fail=requests.ConnectionError("[Errno 101] Network is unreachable"))


def copy_fixtures(cache_dir: Path) -> None:
    (cache_dir / "yahoo").mkdir(parents=True)
    for sym in ("AAPL", "MSFT"):
        shutil.copy(FIXTURES / f"{sym}_1m_5d.csv", cache_path(cache_dir, sym, "1m", "5d"))


def fixture_bars(tmp_path: Path) -> dict[str, Bars]:
    copy_fixtures(tmp_path)
    return fetch_bars(["AAPL", "MSFT"], "1m", "5d", tmp_path, 5.0, offline().session())


def market(bars: dict[str, Bars], seed: int = 3, **flags: Any) -> YahooMarket:
    s = make_settings(**flags)
    return YahooMarket(["AAPL", "MSFT"], s.venues, s.market, seed, bars, 1.0, "yahoo:1m/5d")


def test_yfinance_parses_the_recorded_chart_offline(tmp_path: Path) -> None:
    fake = FakeYahoo({"AAPL": CHART.read_bytes()})
    bars = fetch_bars(["AAPL"], "1m", "1d", tmp_path, 5.0, fake.session())["AAPL"]

    quote = json.loads(CHART.read_text())["chart"]["result"][0]["indicators"]["quote"][0]
    # the recorded last minute has no trades (all null): it reaches cleaning, which drops and counts it
    assert len(bars) == 30 and bars.rejected == 1 and bars.rejected_by_reason == {"missing": 1}
    assert bars.filled == 0 and bars.cut == 0 and bars.own is not None and bars.own.all()
    cached = cache_path(tmp_path, "AAPL", "1m", "1d").read_text().splitlines()
    assert len(cached) == 32 and cached[-1].endswith(",nan,nan,nan,nan,0.0")  # the cache keeps what Yahoo sent
    assert bars.ts_ns.dtype == np.int64 and bars.ts_ns[0] == T0_NS
    assert np.all(np.diff(bars.ts_ns) == 60 * 10**9)
    for field in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(bars, field), np.array(quote[field][:30], dtype=float))
    last_chart = [parse_qs(urlsplit(u).query) for u in fake.urls if "/v8/finance/chart/AAPL" in u][-1]
    assert last_chart["range"] == ["1d"] and last_chart["interval"] == ["1m"]
    assert (tmp_path / "yfinance" / "tkr-tz.db").exists()  # yfinance's caches stay under cache_dir
    assert not any(p.suffix == ".tmp" for p in (tmp_path / "yahoo").iterdir())


def test_the_cache_answers_without_the_network(tmp_path: Path) -> None:
    first = fetch_bars(["AAPL"], "1m", "1d", tmp_path, 5.0, FakeYahoo({"AAPL": CHART.read_bytes()}).session())
    path = cache_path(tmp_path, "AAPL", "1m", "1d")
    assert path.read_text().splitlines()[0] == "ts_ns,open,high,low,close,volume"

    dead = offline()
    second = fetch_bars(["AAPL"], "1m", "1d", tmp_path, 5.0, dead.session())
    assert dead.urls == []
    for field in ("ts_ns", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(first["AAPL"], field), getattr(second["AAPL"], field))


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError("[Errno 101] Network is unreachable"),
        OSError(101, "Network is unreachable"),
        TimeoutError("timed out"),
    ],
)
def test_offline_is_a_quick_one_line_data_error(tmp_path: Path, error: BaseException) -> None:
    fake = FakeYahoo(fail=error)
    with pytest.raises(DataError) as caught:
        fetch_bars(["AAPL", "MSFT"], "1m", "5d", tmp_path, 5.0, fake.session())
    # quick by construction, not by a stopwatch: no request retried, nothing tried after the first symbol
    assert fake.urls and len(set(fake.urls)) == len(fake.urls) and not any("MSFT" in u for u in fake.urls)
    e = caught.value
    assert e.source == "yahoo" and e.exit_code == 1
    assert "cannot reach Yahoo Finance for AAPL" in e.message and "network" in e.message
    assert "Traceback" not in e.message and "\n" not in e.message
    assert not (tmp_path / "yahoo").exists()


def test_rate_limit_and_unknown_symbol_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="rate-limited the request for AAPL; wait"):
        fetch_bars(["AAPL"], "1m", "5d", tmp_path, 5.0, FakeYahoo(status=429).session())
    with pytest.raises(DataError) as caught:
        fetch_bars(["ZZZZ"], "1m", "5d", tmp_path, 5.0, FakeYahoo().session())
    assert "ZZZZ" in caught.value.message and yahoo.NO_BARS_HINT in caught.value.message


def test_a_range_yahoo_refuses_carries_yahoos_reason(tmp_path: Path) -> None:
    reason = (
        "1m data not available for startTime=1745000000 and endTime=1748900000. "
        "Only 7 days worth of 1m granularity data are allowed to be fetched per request."
    )
    refusal = json.dumps({"chart": {"result": None, "error": {"code": "Unprocessable Entity", "description": reason}}})
    fake = FakeYahoo({"AAPL": CHART.read_bytes()})
    # the timezone lookup (range=1d) is answered; the 1m request over a month is refused with HTTP 422
    fake.refusals["1mo"] = (422, refusal.encode())
    with pytest.raises(DataError) as caught:
        fetch_bars(["AAPL"], "1m", "1mo", tmp_path, 5.0, fake.session())
    e = caught.value
    assert e.exit_code == 1 and "no bars for AAPL at 1m over 1mo" in e.message and "Only 7 days" in e.message
    assert e.message.endswith(yahoo.NO_BARS_HINT)


def test_an_empty_frame_names_symbol_interval_and_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    import yfinance as yf

    class EmptyTicker:
        def __init__(self, symbol: str, session: object = None) -> None:
            pass

        def history(self, **kwargs: Any) -> pd.DataFrame:
            return pd.DataFrame(columns=["Open", "High", "Low", "Close", "Volume"])

    monkeypatch.setattr(yf, "Ticker", EmptyTicker)
    with pytest.raises(DataError) as caught:
        fetch_bars(["AAPL"], "1m", "5d", tmp_path, 5.0)
    assert caught.value.message == (
        "no bars for AAPL at 1m over 5d: unknown symbol or range Yahoo does not serve; "
        "1m bars exist only for the last 30 days"
    )


def test_a_stuck_fetch_is_abandoned_at_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yfinance as yf

    release = threading.Event()

    class StuckTicker:
        def __init__(self, symbol: str, session: object = None) -> None:
            pass

        def history(self, **kwargs: Any) -> None:
            release.wait(60)

    monkeypatch.setattr(yf, "Ticker", StuckTicker)
    try:
        with pytest.raises(DataError, match=r"did not answer for AAPL within 0\.3 s"):
            fetch_bars(["AAPL"], "1m", "5d", tmp_path, 0.1)
        assert not release.is_set()  # it gave up while the request was still stuck, not after it returned
    finally:
        release.set()


def test_fixture_bars_are_cleaned_counted_and_aligned(tmp_path: Path) -> None:
    bars = fixture_bars(tmp_path)
    aapl, msft = bars["AAPL"], bars["MSFT"]
    # AAPL's 12th minute has a high below its close: dropped, counted, and filled flat to keep the timeline
    assert aapl.rejected == 1 and aapl.filled == 1 and msft.rejected == 0 and msft.filled == 0
    assert len(aapl) == len(msft) == 30 and np.array_equal(aapl.ts_ns, msft.ts_ns)
    assert aapl.open[11] == aapl.high[11] == aapl.low[11] == aapl.close[11] == aapl.close[10]
    assert aapl.volume[11] == 0
    assert np.all(aapl.high >= np.maximum(aapl.open, aapl.close))
    assert np.all(aapl.low <= np.minimum(aapl.open, aapl.close))


def test_bad_rows_are_dropped_and_nothing_left_is_an_error() -> None:
    nan = float("nan")
    raw = Bars(
        np.array([3, 1, 2, 2, 4, 5], dtype=np.int64),
        np.array([10.0, 10.0, 10.0, 10.0, nan, -1.0]),
        np.array([11.0, 11.0, 11.0, 11.0, 11.0, 11.0]),
        np.array([9.0, 9.0, 9.0, 9.0, 9.0, 9.0]),
        np.array([10.5, 10.5, 10.5, 10.7, 10.5, 10.5]),
        np.array([100.0, 100.0, -5.0, 100.0, 100.0, 100.0]),
    )
    kept = clean_bars("AAPL", raw, "test")
    assert kept.ts_ns.tolist() == [1, 2, 3] and kept.rejected == 3 and kept.close[1] == 10.7
    with pytest.raises(DataError, match="no valid bars for AAPL in test: all 1 rows rejected"):
        clean_bars("AAPL", raw.take(np.array([5])), "test")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("time,o,h,l,c,v\n1,2,3,1,2,5\n", "header is"),
        ("ts_ns,open,high,low,close,volume\n1,2,3,1,2\n", "row 2 has 5 fields"),
        ("ts_ns,open,high,low,close,volume\n1,2,3,1,two,5\n", "row 2 is not numeric"),
        ("", "an empty file"),
        ("ts_ns,open,high,low,close,volume\n", "no bars for AAPL in cache file"),
    ],
)
def test_a_bad_cache_file_is_exit_2_naming_it(tmp_path: Path, text: str, complaint: str) -> None:
    path = cache_path(tmp_path, "AAPL", "1m", "5d")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        fetch_bars(["AAPL"], "1m", "5d", tmp_path, 5.0, offline().session())
    assert caught.value.exit_code == 2 and str(path) in caught.value.message and complaint in caught.value.message
    with pytest.raises(DataError):
        read_cache(tmp_path / "missing.csv")


def full_path(m: YahooMarket) -> np.ndarray:
    """Fair prices at every grid point of the session, in one call from the start."""
    prices, flow = m._advance_grid(m.n_bars * BAR_NS // m.grid_ns)
    assert not flow.any()
    return prices


def test_the_path_stays_in_each_bar_and_runs_open_high_low_close(tmp_path: Path) -> None:
    bars = fixture_bars(tmp_path)
    m = market(bars)
    prices = full_path(m)
    per_bar = BAR_NS // m.grid_ns
    assert m.n_bars == 30 and m.quality["bars_dropped"] == 1 and m.label == "yahoo:1m/5d" and m.duration_s == 30.0
    assert np.allclose(m.hist_price[:, -1], [bars["AAPL"].open[0], bars["MSFT"].open[0]])
    for s, sym in enumerate(("AAPL", "MSFT")):
        b = bars[sym]
        # grid point i is the price at (i + 1) * grid: a bar's span is [k * per_bar - 1, (k + 1) * per_bar - 1)
        span = np.concatenate([[b.open[0]], prices[s]])[: m.n_bars * per_bar].reshape(m.n_bars, per_bar)
        assert np.all(span >= b.low[:, None]) and np.all(span <= b.high[:, None])
        assert np.array_equal(span[:, 0], b.open) and np.array_equal(span[:, -1], b.close)
        assert np.array_equal(span.max(axis=1), b.high) and np.array_equal(span.min(axis=1), b.low)
        # the extreme nearer the open comes first (a flat bar has none)
        moved = b.high > b.low
        high_first = b.high - b.open <= b.open - b.low
        first_high, first_low = (span == b.high[:, None]).argmax(axis=1), (span == b.low[:, None]).argmax(axis=1)
        assert np.array_equal((first_high < first_low)[moved], high_first[moved])
        wide = b.high - b.low > 0.1
        assert np.all(np.abs(np.diff(span[wide], axis=1)).sum(axis=1) > 2 * (b.high - b.low)[wide])  # not just lines


def test_the_path_is_seeded_and_does_not_depend_on_batch_sizes(tmp_path: Path) -> None:
    bars = fixture_bars(tmp_path)
    whole = full_path(market(bars, seed=3))
    assert np.array_equal(whole, full_path(market(bars, seed=3)))
    assert not np.array_equal(whole, full_path(market(bars, seed=4)))
    # the path generator asked for irregular pieces (crossing bar edges) gives the same path
    m, pieces = market(bars, seed=3), []
    for n in (1, 7, 20, 972, 1, 999, 500, 500):
        pieces.append(m._advance_grid(n)[0])
        m.t_ns += n * m.grid_ns
    assert m.t_ns == 3 * BAR_NS
    assert np.array_equal(np.concatenate(pieces, axis=1), whole[:, : 3 * BAR_NS // m.grid_ns])


def test_quotes_are_valid_and_the_replay_ends(tmp_path: Path) -> None:
    bars = fixture_bars(tmp_path)
    m = market(bars, market__bad_tick_rate=0.05)
    end = m.n_bars * BAR_NS
    t, lo, hi = 0, min(bars["AAPL"].low), max(bars["AAPL"].high)
    while t < end - BAR_NS:
        t += 250_000_000
        batch = m.next_batch(t)
        bid, ask = np.array(batch.bid), np.array(batch.ask)
        assert len(batch) > 0 and batch.injected_bad == {}
        assert np.all(np.isfinite(bid)) and np.all(bid > 0) and np.all(ask > bid)
        assert min(batch.bid_size) > 0 and min(batch.ask_size) > 0
        ts = np.array(batch.ts)
        assert np.all(np.diff(ts) >= 0) and ts.min() >= t - 250_000_000 and ts.max() < t
        aapl = np.array(batch.stream) < len(m.venues)
        mid = (bid[aapl] + ask[aapl]) / 2
        assert np.all(mid > lo - 0.05) and np.all(mid < hi + 0.05)
    assert not m.exhausted
    m.next_batch(end)
    assert m.exhausted
    m.next_batch(end + BAR_NS)
    assert np.array_equal(m.fundamental(), [bars["AAPL"].close[-1], bars["MSFT"].close[-1]])


def test_open_yahoo_builds_the_session_source_from_settings(tmp_path: Path) -> None:
    copy_fixtures(tmp_path)
    s = make_settings(data__cache_dir=str(tmp_path), data__yahoo_interval="1m", data__yahoo_period="5d")
    m = open_yahoo(s, s.venues, seed=5, session=offline().session())
    assert isinstance(m, YahooMarket) and m.label == "yahoo:1m/5d" and m.symbols == ["AAPL", "MSFT"]
    assert m.cfg.bad_tick_rate == 0.0 and m.feed_state == "sim" and m.n_bars == 30
