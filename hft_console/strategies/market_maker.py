"""A market maker: quotes both sides around the micro-price, skewed by inventory.

The reservation price follows Avellaneda and Stoikov ("High-frequency trading in a limit order book",
Quantitative Finance 8(3), 2008) in its inventory-skew form: r = micro-price - skew x q, where the
micro-price weighs the NBBO by the opposite side's size, ``(bid x ask size + ask x bid size) /
(bid size + ask size)``, q is the inventory in units of ``mm_quote_qty`` and skew ``mm_skew_ticks``
ticks per unit. The quotes sit ``mm_half_spread_ticks`` either side of r, rounded outward to the
tick grid and never through the NBBO (a quote that would take is no quote: the orders are POST_ONLY).
A side whose fill would take the position past ``mm_max_inventory`` is not quoted. The quotes change
at most once per ``mm_requote_ms`` per symbol; the order flow turns a change into a post, a replace
or a cancel (execution/resting_flow.py ``requote``).

Flatten (the operator's flatten-then-halt) withdraws every quote; the position is then closed with
takes (``take``).
"""

from __future__ import annotations

import math

from hft_console.settings import StrategySettings

Quotes = tuple[int, int, int, int]  # bid price in ticks, bid shares, ask price in ticks, ask shares
NO_QUOTES: Quotes = (0, 0, 0, 0)


class MarketMaker:
    name = "market-maker"
    quoting = True
    rests = True

    def __init__(self, n_symbols: int, cfg: StrategySettings, tick: float) -> None:
        self.cfg = cfg
        inv = 1 / tick
        self.inv_tick = float(round(inv)) if abs(inv - round(inv)) < 1e-9 else inv
        self.wanted: list[Quotes] = [NO_QUOTES] * n_symbols
        self.next_ok_ns = [0] * n_symbols
        self.requote_ns = int(cfg.mm_requote_ms * 1e6)
        self.skew, self.half, self.qty, self.cap = (
            cfg.mm_skew_ticks / cfg.mm_quote_qty, cfg.mm_half_spread_ticks, cfg.mm_quote_qty, cfg.mm_max_inventory,
        )  # fmt: skip
        self.paused = False
        self.feed_paused = False  # set by the engine while a live feed is stale or down
        self.flatten = False

    @property
    def trading(self) -> bool:
        """Whether it may quote or take: flattening, or neither paused nor feed-paused."""
        return self.flatten or not (self.paused or self.feed_paused)

    def on_book(self, sym: int, t_ns: int, bid: float, bid_size: int, ask: float, ask_size: int, position: int) -> bool:
        """Update ``wanted[sym]`` from the NBBO; True when it changed (and the requote interval passed)."""
        if self.flatten or self.paused or self.feed_paused or bid >= ask:
            quotes = NO_QUOTES
        else:
            inv = self.inv_tick
            r = (bid * ask_size + ask * bid_size) / (bid_size + ask_size) * inv - self.skew * position
            half, qty, cap = self.half, self.qty, self.cap
            bid_t = min(math.floor(r - half + 1e-9), round(ask * inv) - 1)
            ask_t = max(math.ceil(r + half - 1e-9), round(bid * inv) + 1)
            if ask_t <= bid_t:  # r on a tick with no half-spread: never quote a locked market of our own
                ask_t = bid_t + 1
            quotes = (bid_t, qty if position + qty <= cap else 0, ask_t, qty if position - qty >= -cap else 0)
        if quotes == self.wanted[sym] or (t_ns < self.next_ok_ns[sym] and quotes is not NO_QUOTES):
            return False
        self.wanted[sym] = quotes
        self.next_ok_ns[sym] = t_ns + self.requote_ns
        return True

    def take(self, position: int, working: int) -> int:
        """Shares to take now (signed): under flatten, the position once no order of ours is working."""
        return -position if self.flatten and position and not working else 0
