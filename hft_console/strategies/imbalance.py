"""Short-horizon order-book-imbalance strategy.

It smooths the consolidated top-of-book imbalance ``(bid size - ask size) / (bid size + ask size)``
at the NBBO with a time-decayed EMA per symbol (half-life ``ema_half_life_ms`` of market time, so
the signal means the same at any tick rate). Above ``entry_threshold`` it wants to be long ``order_qty``
shares, below ``-entry_threshold`` short; it goes flat again when the EMA crosses ``exit_threshold``
back toward zero. It asks for the difference between that target and its position plus the orders
still in flight, at most once per ``cooldown_ms`` per symbol, and never into a locked or crossed
consolidated market. ``flatten`` forces every target to zero (the operator's flatten-then-halt).

With ``join = "post"`` the difference is posted (POST_ONLY at our side's touch of the NBBO) instead of
taken, with ``join = "peg"`` pegged to a venue's midpoint (MID_PEG, capped at the far touch), and either
is cancelled if not filled within ``passive_ttl_ms`` (execution/resting_flow.py ``join``).
"""

from __future__ import annotations

import math

import numpy as np

from hft_console.settings import StrategySettings


class ImbalanceStrategy:
    name = "imbalance"
    quoting = False  # it asks for positions (the market maker quotes)

    def __init__(self, n_symbols: int, cfg: StrategySettings) -> None:
        self.cfg = cfg
        self.ema = [0.0] * n_symbols
        self.last_ns = [0] * n_symbols
        self.decay_per_ns = math.log(2) / (cfg.ema_half_life_ms * 1e6)
        self.target = [0] * n_symbols
        self.next_ok_ns = [0] * n_symbols
        self.cooldown_ns = int(cfg.cooldown_ms * 1e6)
        self.paused = False
        self.feed_paused = False  # set by the engine while a live feed is stale or down
        self.flatten = False
        self.rests = cfg.join != "take"  # joins the book as a maker instead of taking (``join``)

    @property
    def trading(self) -> bool:
        """Whether ``on_book`` may ask for anything: flattening, or neither paused nor feed-paused."""
        return self.flatten or not (self.paused or self.feed_paused)

    def on_book(self, sym: int, t_ns: int, bid: float, bid_size: int, ask: float, ask_size: int, exposure: int) -> int:
        """Signed shares wanted now (0 for nothing). ``exposure`` = position + orders in flight."""
        cfg = self.cfg
        imbalance = (bid_size - ask_size) / (bid_size + ask_size)
        weight = 1.0 - math.exp((self.last_ns[sym] - t_ns) * self.decay_per_ns)
        self.last_ns[sym] = t_ns
        ema = self.ema[sym] + weight * (imbalance - self.ema[sym])
        self.ema[sym] = ema
        target = self.target[sym]
        if ema > cfg.entry_threshold:
            target = cfg.order_qty
        elif ema < -cfg.entry_threshold:
            target = -cfg.order_qty
        elif (target > 0 and ema < cfg.exit_threshold) or (target < 0 and ema > -cfg.exit_threshold):
            target = 0
        self.target[sym] = target
        if self.flatten:
            target = 0
        elif self.paused or self.feed_paused:
            return 0
        delta = target - exposure
        if delta == 0 or t_ns < self.next_ok_ns[sym] or bid >= ask:
            return 0
        self.next_ok_ns[sym] = t_ns + self.cooldown_ns
        return delta

    def signal_batch(self, sym: np.ndarray, ts: np.ndarray, bid_size: np.ndarray, ask_size: np.ndarray) -> np.ndarray:
        """``on_book``'s signal for a batch of book ticks (time order): the target position after each.

        Updates ``ema``, ``last_ns`` and ``target`` to where ``on_book`` would leave them. The EMA is
        the same recursion in closed form (to floating-point rounding): with g_k = exp(lambda t_k),
        g_k ema_k = g_(k-1) ema_(k-1) + (g_k - g_(k-1)) x_k, a cumulative sum per symbol, cut into blocks
        short enough that g stays finite.
        """
        target = np.empty(sym.size, dtype=np.int64)
        imbalance = (bid_size - ask_size) / (bid_size + ask_size)
        lam = self.decay_per_ns
        block_ns = int(600 / lam) if lam > 0 else 1 << 62
        for s in np.unique(sym).tolist():
            rows = np.flatnonzero(sym == s)
            t, x = ts[rows], imbalance[rows]
            ema = np.empty(rows.size)
            prev_t, e, start = self.last_ns[s], self.ema[s], 0
            while start < rows.size:
                stop = max(start + 1, int(np.searchsorted(t, t[start] + block_ns, side="right")))
                tb, xb = t[start:stop], x[start:stop]
                a0 = math.exp((prev_t - int(tb[0])) * lam)
                e0 = e + (1.0 - a0) * (float(xb[0]) - e)
                g = np.exp((tb - tb[0]) * lam)
                acc = np.concatenate(([e0], e0 + np.cumsum(np.diff(g) * xb[1:])))
                ema[start:stop] = acc / g
                e, prev_t, start = float(ema[stop - 1]), int(tb[-1]), stop
            self.ema[s], self.last_ns[s] = e, prev_t
            target[rows] = self._targets(ema, self.target[s])
            self.target[s] = int(target[rows[-1]])
        return target

    def _targets(self, ema: np.ndarray, start: int) -> np.ndarray:
        """The entry/exit state machine over a series: the last entry signal rules until an exit."""
        cfg = self.cfg
        q = cfg.order_qty
        n = ema.size
        setter = np.where(ema > cfg.entry_threshold, q, np.where(ema < -cfg.entry_threshold, -q, 0))
        idx = np.arange(n)
        last_set = np.maximum.accumulate(np.where(setter != 0, idx, -1))
        side = np.where(last_set >= 0, setter[np.maximum(last_set, 0)], start)
        long_exit = np.maximum.accumulate(np.where(ema < cfg.exit_threshold, idx, -1))
        short_exit = np.maximum.accumulate(np.where(ema > -cfg.exit_threshold, idx, -1))
        exited = np.where(side > 0, long_exit > last_set, np.where(side < 0, short_exit > last_set, False))
        return np.where(exited, 0, side)
