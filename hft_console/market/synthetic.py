"""The embedded synthetic multi-venue market, generated in vectorised batches with numpy.

Per symbol there is one fundamental price: a log price driven by Student-t returns (fat tails) whose
volatility follows a mean-reverting log-volatility process (clustering), plus a drift from a hidden
order-flow pressure. Each venue quotes around the current fundamental with its own spread and
displayed size, and its quotes reach us ``feed_delay_us`` late: a batch holds every update *delivered*
in its time span, stamped with the time we see it, so the engine's picture of each venue is one feed
delay old. Order-flow pressure tilts the quoted sizes, so the consolidated book imbalance carries real,
noisy information about the next moves.

Others trade too: ``trades_per_s_per_symbol`` prints per symbol over the lit venues (by share), at the
venue's touch, whose aggressor is a buyer with probability 1 / (1 + exp(-``trade_flow_skew`` x pressure)).
Takers arrive more on the side the price is about to move to, so a resting order fills more often
just before the price moves against it: adverse selection comes out of the flow, it is not assumed.
Dark venues show nothing and print nothing here.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from hft_console.domain import VenueSpec
from hft_console.rng import rng_for
from hft_console.settings import MarketSettings

START_PRICES = {
    "AAPL": 175.0, "MSFT": 380.0, "GOOGL": 140.0, "AMZN": 180.0, "NVDA": 120.0, "TSLA": 240.0,
    "META": 480.0, "SPY": 520.0, "QQQ": 440.0, "JPM": 190.0, "NFLX": 620.0, "AMD": 160.0,
}  # fmt: skip
SECONDS_PER_YEAR = 252 * 6.5 * 3600
CHUNK_MS = 1000  # market time generated at once, whatever the engine's batch: batch_ms never changes the ticks
BAD_KINDS = ("nan", "nonpositive", "crossed", "absurd", "duplicate", "out_of_order")


def start_price(symbol: str) -> float:
    """Known tickers start near a familiar level; any other symbol gets a stable made-up one."""
    return START_PRICES.get(symbol, 20.0 + zlib.crc32(symbol.encode()) % 480)


@dataclass(slots=True)
class TickBatch:
    """Quotes in feed order, as arrays. ``stream`` = symbol_index * n_venues + venue_index."""

    ts: np.ndarray  # int64 ns
    stream: np.ndarray  # int64
    bid: np.ndarray  # float64
    ask: np.ndarray
    bid_size: np.ndarray  # int64
    ask_size: np.ndarray
    injected_bad: dict[str, int]
    trades: int = 0  # trade prints seen in this batch
    prints: TradePrints | None = None  # the prints themselves, where the source has them

    def __len__(self) -> int:
        return int(self.ts.size)


@dataclass(slots=True)
class TradePrints:
    """Others' trades in feed order, as arrays: what fills a resting order (venues/queue.py).
    ``side`` is the aggressor's: +1 a buyer lifted the offer, -1 a seller hit the bid."""

    ts: np.ndarray  # int64 ns, when we see the print
    stream: np.ndarray  # int64, symbol_index * n_venues + venue_index
    price: np.ndarray  # float64
    size: np.ndarray  # int64 shares
    side: np.ndarray  # int64 +1 / -1

    def __len__(self) -> int:
        return int(self.ts.size)


def no_prints() -> TradePrints:
    empty = np.zeros(0, dtype=np.int64)
    return TradePrints(empty, empty, np.zeros(0), empty, empty)


def merge_delivered(ahead: list[np.ndarray], cols: list[np.ndarray]) -> list[np.ndarray]:
    """``ahead`` and a newly generated chunk ``cols`` as one set of columns in delivery order (column 0):
    a slow venue's last updates of one chunk are delivered after a fast venue's first of the next."""
    if not ahead:
        return cols
    out = [np.concatenate([a, c]) for a, c in zip(ahead, cols, strict=True)]
    if cols[0].size and ahead[0].size and cols[0][0] < ahead[0][-1]:
        order = np.argsort(out[0], kind="stable")
        out = [c[order] for c in out]
    return out


def ar1(x0: np.ndarray, phi: float, eps: np.ndarray) -> np.ndarray:
    """x[k] = phi * x[k-1] + eps[k] along the last axis, vectorised (blocks keep phi^-k bounded)."""
    n = eps.shape[-1]
    if phi <= 1e-12:
        return eps.copy()
    out = np.empty_like(eps)
    block = max(1, min(n, int(20 / max(-math.log(phi), 1e-12)) if phi < 1 else n))
    start, prev = 0, x0
    while start < n:
        stop = min(n, start + block)
        k = np.arange(1, stop - start + 1)
        powers = phi**k
        acc = np.cumsum(eps[..., start:stop] / powers, axis=-1)
        out[..., start:stop] = powers * (prev[..., None] + acc)
        prev = out[..., stop - 1]
        start = stop
    return out


class SyntheticMarket:
    """The generated market. Subclasses replace ``_advance_grid`` (the fair-price path) and keep the
    venue quoting, which is how Yahoo bars and Finnhub trades become venue quotes."""

    label = "synthetic"
    #: the venues' books are generated here: synthetic fade, sniping, depth and impact apply, and the
    #: feed is delayed (False for recorded data)
    generated = True
    #: generate in fixed chunks of market time (the same seed gives the same ticks for any batch length);
    #: False: generate exactly what each batch asks for (a live feed, whose prices must not be read ahead)
    chunked = True

    def __init__(self, symbols: list[str], venues: list[VenueSpec], cfg: MarketSettings, seed: int) -> None:
        self.symbols, self.venues, self.cfg = symbols, venues, cfg
        self.rng = rng_for(seed, "market.synthetic")
        self.n_sym, self.n_ven = len(symbols), len(venues)
        self.grid_ns = cfg.grid_us * 1000
        dt = cfg.grid_us / 1e6
        self.sigma_step = cfg.annual_vol / math.sqrt(SECONDS_PER_YEAR) * math.sqrt(dt)
        self.phi_vol = math.exp(-math.log(2) * dt / cfg.vol_half_life_s)
        self.phi_flow = math.exp(-math.log(2) * dt * 1000 / cfg.flow_half_life_ms)
        self.drift_step = cfg.flow_drift_bps_per_s * 1e-4 * dt
        self.t_scale = math.sqrt((cfg.tail_df - 2) / cfg.tail_df)
        self.log_price = np.log([start_price(s) for s in symbols])
        self.log_vol = np.zeros(self.n_sym)
        self.flow = np.zeros(self.n_sym)
        self.chunk_ns = self.grid_ns * math.ceil(CHUNK_MS * 1_000_000 / self.grid_ns) if self.chunked else 0
        self.stale_steps = 2  # grid steps of history a chunk's first quotes may look back to
        # history must reach from the start of the batch being served (orders arriving anywhere in it ask
        # for the fair price) to the end of what has been generated ahead
        ahead_ns = max(cfg.batch_ms * 1_000_000, self.chunk_ns) + self.chunk_ns
        self.lookback = math.ceil(ahead_ns / self.grid_ns) + self.stale_steps + 2
        self.hist_price = np.repeat(np.exp(self.log_price)[:, None], self.lookback, axis=1)
        self.hist_flow = np.zeros((self.n_sym, self.lookback))
        lit = np.array([v.kind != "dark" for v in venues])
        share = np.array([v.share for v in venues], dtype=float) * lit
        self.stream_p = np.tile(share / share.sum(), self.n_sym) / self.n_sym if share.sum() > 0 else None
        self.delay_ns = np.array([int(v.feed_delay_us * 1000) for v in venues], dtype=np.int64)
        self.spread = np.array([v.spread_ticks for v in venues])
        self.depth = np.array([v.depth_shares for v in venues], dtype=float)
        self.lot = np.where(self.depth >= 100, 100, 1)
        inv = 1 / cfg.tick_size
        self.inv_tick = round(inv) if abs(inv - round(inv)) < 1e-9 else None
        self.t_ns = 0  # end of the generated fair-price path (ahead of what was served when chunked)
        self.served_ns = 0  # end of the market time handed to the engine
        self._ahead: list[np.ndarray] = []  # generated, not yet served: ts, stream, bid, ask, sizes, bad kind
        self._ahead_tr: list[np.ndarray] = []  # trade prints generated, not yet served: ts, stream, price, size, side

    @property
    def feed_state(self) -> str:
        return "sim"

    @property
    def exhausted(self) -> bool:
        return False

    def close(self) -> None:
        return None

    def fundamental(self) -> np.ndarray:
        """The fundamental price per symbol at the end of the market time served so far (what quotes
        chase); for diagnostics and oracles."""
        return np.array([self.fundamental_at(s, self.served_ns) for s in range(self.n_sym)])

    def _advance_grid(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng, cfg = self.rng, self.cfg
        vol_eps = rng.standard_normal((self.n_sym, n)) * cfg.vol_of_vol * math.sqrt(1 - self.phi_vol**2)
        log_vol = ar1(self.log_vol, self.phi_vol, vol_eps)
        flow_eps = rng.standard_normal((self.n_sym, n)) * math.sqrt(1 - self.phi_flow**2)
        flow = ar1(self.flow, self.phi_flow, flow_eps)
        shocks = rng.standard_t(cfg.tail_df, (self.n_sym, n)) * self.t_scale
        scale = self.sigma_step * np.exp(log_vol - 0.5 * cfg.vol_of_vol**2)
        steps = scale * shocks + self.drift_step * flow
        log_price = self.log_price[:, None] + np.cumsum(steps, axis=1)
        self.log_vol, self.flow, self.log_price = log_vol[:, -1], flow[:, -1], log_price[:, -1]
        return np.exp(log_price), flow

    def next_batch(self, t1_ns: int) -> TickBatch:
        """Every quote update and trade print delivered in [served_ns, t1_ns), then move on to t1_ns.

        Chunked: ticks are generated in chunks of ``chunk_ns`` and handed out by the time the feed
        delivered them, so the sequence of ticks does not depend on how the engine slices time."""
        if self.chunked:
            while self.t_ns < t1_ns:
                self._generate(self.t_ns + self.chunk_ns)
        elif t1_ns > self.t_ns:
            self._generate(t1_ns)
        self.served_ns = max(self.served_ns, t1_ns)
        prints = self._serve_prints(t1_ns)
        cols = self._ahead
        if not cols:
            empty = np.zeros(0, dtype=np.int64)
            return TickBatch(empty, empty, np.zeros(0), np.zeros(0), empty, empty, {}, len(prints), prints)
        cut = int(np.searchsorted(cols[0], t1_ns, side="left"))
        out = [c[:cut] for c in cols]
        self._ahead = [c[cut:] for c in cols] if cut < cols[0].size else []
        _, ts, stream, bid, ask, bid_sz, ask_sz, bad = out
        kinds = np.bincount(bad[bad >= 0], minlength=len(BAD_KINDS)) if bad.size else np.zeros(len(BAD_KINDS))
        injected = {name: int(k) for name, k in zip(BAD_KINDS, kinds.tolist(), strict=True) if k}
        return TickBatch(ts, stream, bid, ask, bid_sz, ask_sz, injected, len(prints), prints)

    def _serve_prints(self, t1_ns: int) -> TradePrints:
        cols = self._ahead_tr
        if not cols:
            return no_prints()
        cut = int(np.searchsorted(cols[0], t1_ns, side="left"))
        out = [c[:cut] for c in cols]
        self._ahead_tr = [c[cut:] for c in cols] if cut < cols[0].size else []
        return TradePrints(*out)

    def _generate(self, t1_ns: int) -> None:
        """Generate the fair-price path, every quote update and every trade print in [t_ns, t1_ns)
        into ``_ahead`` and ``_ahead_tr``, in the order they are delivered."""
        t0 = self.t_ns
        n_grid = max(1, -(-(t1_ns - t0) // self.grid_ns))
        price, flow = self._advance_grid(n_grid)
        back = self.stale_steps
        prices = np.concatenate([self.hist_price[:, -back:], price], axis=1)
        flows = np.concatenate([self.hist_flow, flow], axis=1)
        self.hist_price = np.concatenate([self.hist_price, price], axis=1)[:, -self.lookback :]
        self.hist_flow = flows[:, -self.lookback :]
        flows = flows[:, -(back + n_grid) :]
        self.t_ns = t1_ns
        if self.stream_p is None:
            return
        rng = self.rng
        rate = self.cfg.ticks_per_s_per_symbol * self.n_sym
        n = int(rng.poisson(rate * (t1_ns - t0) / 1e9))
        ts = np.sort(rng.integers(t0, t1_ns, n))
        stream = rng.choice(self.stream_p.size, n, p=self.stream_p)
        sym, ven = np.divmod(stream, self.n_ven)
        # the latest grid price at or before the quote's time: never one from the future
        g = np.clip(((ts - t0) // self.grid_ns).astype(np.int64) + back - 1, 0, prices.shape[1] - 1)
        mid, pressure = prices[sym, g], flows[sym, g]
        spread = self.spread[ven] + (rng.random(n) < 0.08)
        bid_t = np.floor(mid / self.cfg.tick_size - spread / 2 + 0.5)
        ask_t = bid_t + spread
        lots = self.depth[ven] / self.lot[ven]
        noise = rng.lognormal(0.0, 0.5, (2, n))
        tilt = np.exp(self.cfg.flow_size_skew * pressure)
        bid_sz = (np.maximum(1, np.rint(lots * noise[0] * tilt)) * self.lot[ven]).astype(np.int64)
        ask_sz = (np.maximum(1, np.rint(lots * noise[1] / tilt)) * self.lot[ven]).astype(np.int64)
        bid, ask = self._prices(bid_t), self._prices(ask_t)
        seen = ts + self.delay_ns[ven]  # the time the feed delivers each update: what batches are cut on
        order = np.argsort(seen, kind="stable")
        cols = [c[order] for c in (seen, seen, stream, bid, ask, bid_sz, ask_sz)]
        cols.append(np.full(n, -1, dtype=np.int64))
        if self.cfg.bad_tick_rate > 0 and n:
            self._corrupt(cols)
        cols = [cols[0], cols[1].astype(np.int64), cols[2].astype(np.int64), *cols[3:5],
                cols[5].astype(np.int64), cols[6].astype(np.int64), cols[7]]  # fmt: skip
        self._ahead = merge_delivered(self._ahead, cols)
        self._ahead_tr = merge_delivered(self._ahead_tr, self._prints(t0, t1_ns, prices, flows))

    def _prices(self, ticks: np.ndarray) -> np.ndarray:
        return ticks / self.inv_tick if self.inv_tick else ticks * self.cfg.tick_size

    def _prints(self, t0: int, t1_ns: int, prices: np.ndarray, flows: np.ndarray) -> list[np.ndarray]:
        """Others' trades in [t0, t1_ns): ts (delivered), stream, price, size, aggressor side."""
        cfg, rng, stream_p = self.cfg, self.rng, self.stream_p
        assert stream_p is not None  # only called when some venue quotes
        n = int(rng.poisson(cfg.trades_per_s_per_symbol * self.n_sym * (t1_ns - t0) / 1e9))
        ts = np.sort(rng.integers(t0, t1_ns, n))
        stream = rng.choice(stream_p.size, n, p=stream_p) if n else np.zeros(0, dtype=np.int64)
        sym, ven = np.divmod(stream, self.n_ven)
        g = np.clip(((ts - t0) // self.grid_ns).astype(np.int64) + self.stale_steps - 1, 0, prices.shape[1] - 1)
        mid, pressure = prices[sym, g], flows[sym, g]
        side = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-cfg.trade_flow_skew * pressure)), 1, -1)
        bid_t = np.floor(mid / cfg.tick_size - self.spread[ven] / 2 + 0.5)
        price = self._prices(np.where(side > 0, bid_t + self.spread[ven], bid_t))
        lot = self.lot[ven]
        mean_lots = np.maximum(cfg.trade_size_mean_shares / lot, 1.0)
        size = (np.maximum(1, np.rint(mean_lots * rng.lognormal(-0.32, 0.8, n))) * lot).astype(np.int64)
        seen = ts + self.delay_ns[ven]
        order = np.argsort(seen, kind="stable")
        return [seen[order], stream[order].astype(np.int64), price[order], size[order], side[order].astype(np.int64)]

    def _corrupt(self, cols: list[np.ndarray]) -> None:
        """Damage a few ticks the way real feeds do, so the normaliser has something to reject; each
        damaged row's kind (an index into BAD_KINDS) goes in the last column."""
        ts, bid, ask, bad = cols[1], cols[3], cols[4], cols[7]
        n = ts.size
        k = int(self.rng.binomial(n, self.cfg.bad_tick_rate))
        if k == 0:
            return
        idx = np.sort(self.rng.choice(n, size=min(k, n), replace=False))
        kinds = self.rng.integers(0, len(BAD_KINDS), idx.size)
        bad[idx[kinds != 4]] = kinds[kinds != 4]
        bid[idx[kinds == 0]] = np.nan
        sel = idx[kinds == 1]
        bid[sel] = -np.abs(bid[sel])
        sel = idx[kinds == 2]
        bid[sel], ask[sel] = ask[sel] + self.cfg.tick_size, bid[sel].copy()
        sel = idx[kinds == 3]
        bid[sel], ask[sel] = bid[sel] * 10, ask[sel] * 10
        sel = idx[kinds == 5]
        ts[sel] -= 1_000_000_000  # a second late: older than anything the feed has delivered
        dup = idx[kinds == 4] + 1
        for j, col in enumerate(cols):
            cols[j] = np.insert(col, dup, col[dup - 1])
        cols[7][dup + np.arange(dup.size)] = 4  # the inserted copies are the duplicates

    def fundamental_at(self, sym: int, t_ns: int) -> float:
        """Fundamental price of ``sym`` at ``t_ns`` within the kept history (clamped at its ends)."""
        back = -(-(self.t_ns - t_ns) // self.grid_ns)  # ceil: the grid price at or before t_ns
        idx = self.lookback - 1 - int(back)
        return float(self.hist_price[sym, min(max(idx, 0), self.lookback - 1)])
