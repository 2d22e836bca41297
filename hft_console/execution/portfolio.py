"""Positions, average cost, realised and unrealised P&L, fees, per-trade P&L and win/loss counts.

Conventions: realised P&L is gross of fees; ``fees`` is what was paid (rebates negative);
``total = realised + unrealised - fees``. A fill's *trade P&L* is the P&L it realised (the part that
closed a position) minus its own fee; a fill that closes something counts as a win when the P&L it
realised beats the share of its fee for the closed shares, and a loss otherwise. Every partial fill
is booked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Booking:
    realized: float  # gross P&L this fill realised
    trade_pnl: float  # realised minus this fill's fee
    closed: int  # shares of an existing position this fill closed


class Portfolio:
    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols
        n = len(symbols)
        self.position = [0] * n
        self.avg_cost = [0.0] * n
        self.realized_by_symbol = [0.0] * n
        self.mark = [0.0] * n
        self.realized = 0.0
        self.fees = 0.0
        self.wins = 0
        self.losses = 0
        self.traded_shares = 0
        self.traded_notional = 0.0
        self.version = 0  # counts fills: positions, average costs, realised P&L and fees change only then

    def apply_fill(self, sym: int, side: int, qty: int, price: float, fee: float) -> Booking:
        if qty <= 0:
            raise ValueError(f"fill quantity must be positive, got {qty}")
        pos, avg = self.position[sym], self.avg_cost[sym]
        realized, closed = 0.0, 0
        if pos == 0 or (pos > 0) == (side > 0):
            new = pos + side * qty
            avg = (avg * abs(pos) + price * qty) / abs(new)
        else:
            closed = min(qty, abs(pos))
            realized = (price - avg) * closed * (1 if pos > 0 else -1)
            new = pos + side * qty
            if new == 0:
                avg = 0.0
            elif (new > 0) != (pos > 0):
                avg = price
        self.position[sym], self.avg_cost[sym] = new, avg
        self.version += 1
        self.realized += realized
        self.realized_by_symbol[sym] += realized
        self.fees += fee
        self.traded_shares += qty
        self.traded_notional += qty * price
        trade_pnl = realized - fee
        if closed:
            # a fill that flips the position pays part of its fee for the new position, not this trade
            if realized - fee * closed / qty > 0:
                self.wins += 1
            else:
                self.losses += 1
        return Booking(realized, trade_pnl, closed)

    def unrealized_for(self, sym: int) -> float:
        pos = self.position[sym]
        return (self.mark[sym] - self.avg_cost[sym]) * pos if pos and self.mark[sym] else 0.0

    @property
    def unrealized(self) -> float:
        unrealized = 0.0  # unrealized_for over every symbol, as one loop: the breaker reads it per tick
        for pos, mark, avg in zip(self.position, self.mark, self.avg_cost, strict=True):
            if pos and mark:
                unrealized += (mark - avg) * pos
        return unrealized

    @property
    def total(self) -> float:
        return self.realized + self.unrealized - self.fees

    @property
    def gross_notional(self) -> float:
        return sum(abs(p) * m for p, m in zip(self.position, self.mark, strict=True))

    @property
    def win_rate(self) -> float:
        closed = self.wins + self.losses
        return self.wins / closed if closed else 0.0
