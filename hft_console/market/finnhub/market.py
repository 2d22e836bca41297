"""Finnhub as a market source: the synthetic venues quote around Finnhub's latest price.

``FinnhubMarket`` holds the feed's price flat as the fair price and lets the synthetic venues quote
around it; nothing is invented on top (no drift, no order-flow pressure). ``open_finnhub`` starts the
feed (fail fast: one REST quote per symbol) and wraps it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hft_console.domain import VenueSpec
from hft_console.market.finnhub.feed import FinnhubFeed
from hft_console.market.synthetic import SyntheticMarket, TickBatch
from hft_console.settings import MarketSettings, Settings


class FinnhubMarket(SyntheticMarket):
    """Venue quotes around Finnhub's latest price, held flat between updates."""

    label = "finnhub"
    chunked = False  # live prices are read as each batch is served, never ahead

    def __init__(
        self, symbols: list[str], venues: list[VenueSpec], cfg: MarketSettings, seed: int, feed: FinnhubFeed
    ) -> None:
        # live prints are clean by construction here; corrupting them would fake normaliser rejects
        super().__init__(symbols, venues, dataclasses.replace(cfg, bad_tick_rate=0.0), seed)
        self.feed = feed
        price = self._live_prices()
        self.log_price = np.log(price)
        self.hist_price = np.repeat(price[:, None], self.lookback, axis=1)
        self._trades_seen = feed.stats().trades

    @property
    def feed_state(self) -> str:
        return self.feed.state()

    @property
    def trades_rejected(self) -> int:
        """Prints that were malformed or carried a bad price (summary.json ``trades.rejected``)."""
        return self.feed.stats().prints_rejected

    @property
    def quality(self) -> dict[str, int]:
        """What the feed dropped or lost (see ``MarketSource``): unusable prints, and reconnects (a gap
        in the prices each time), with the errors that caused them."""
        st = self.feed.stats()
        return {
            "prints_rejected": st.prints_rejected, "prints_unsubscribed": st.prints_unsubscribed,
            "prints_late": st.prints_late, "reconnects": st.reconnects, "watchdog_reconnects": st.watchdog_reconnects,
            "feed_errors": st.errors, "rest_failures": st.rest_failures, "rest_empty": st.rest_empty,
        }  # fmt: skip

    def close(self) -> None:
        self.feed.stop()

    def _live_prices(self) -> np.ndarray:
        latest = self.feed.prices()
        last = self.hist_price[:, -1]
        return np.array([latest.get(sym, float(last[i])) for i, sym in enumerate(self.symbols)])

    def _advance_grid(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        price = self._live_prices()
        self.log_price = np.log(price)
        return np.repeat(price[:, None], n, axis=1), np.zeros((self.n_sym, n))

    def next_batch(self, t1_ns: int) -> TickBatch:
        batch = super().next_batch(t1_ns)
        total = self.feed.stats().trades
        batch.trades, self._trades_seen = total - self._trades_seen, total
        return batch


def open_finnhub(settings: Settings, venues: list[VenueSpec], seed: int) -> FinnhubMarket:
    """The live Finnhub source for a session; raises DataError when Finnhub cannot deliver."""
    d = settings.data
    symbols = list(settings.session.symbols)
    feed = FinnhubFeed(
        symbols, settings.finnhub_api_key, rest_url=d.finnhub_rest_url, ws_url=d.finnhub_ws_url,
        timeout_s=d.timeout_s, stale_s=d.finnhub_stale_s, poll_s=d.finnhub_poll_s,
        max_deviation=settings.normalizer.max_deviation, reanchor_after=settings.normalizer.reanchor_after,
    )  # fmt: skip
    feed.start()
    try:
        return FinnhubMarket(symbols, venues, settings.market, seed, feed)
    except BaseException:
        feed.stop()
        raise
