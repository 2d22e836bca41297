"""Short-horizon order-book-imbalance strategy.

It smooths the consolidated top-of-book imbalance ``(bid size - ask size) / (bid size + ask size)``
at the NBBO with a time-decayed EMA per symbol (half-life ``ema_half_life_ms`` of market time, so
the signal means the same at any tick rate). Above ``entry_threshold`` it wants to be long ``order_qty``
shares, below ``-entry_threshold`` short; it goes flat again when the EMA crosses ``exit_threshold``
back toward zero. It asks for the difference between that target and its position plus the orders
still in flight, at most once per ``cooldown_ms`` per symbol, and never into a locked or crossed
consolidated market. ``flatten`` forces every target to zero (the operator's flatten-then-halt).
"""

from __future__ import annotations

import math

from hft_console.settings import StrategySettings


class ImbalanceStrategy:
    name = "imbalance"

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
