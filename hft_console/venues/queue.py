"""Where a resting order stands in its price level's queue, from what a venue's feed shows.

The feed shows each venue's displayed size at the touch, never our place in it, so the place is
estimated the way hftbacktest does (``hftbacktest/src/backtest/models/queue.rs``, 0.9.x): on joining,
everything displayed at our price is ahead of us (our own order is not in the displayed size); a trade
at our price eats the queue ahead first and reaches us only when it is gone; a level that shrinks
without a trade lost shares to cancels, and the models differ in who cancelled:

- **risk-averse** (the default): only cancels that must have been ahead move us: queue ahead becomes
  at most the new level size. Conservative: it never credits us with a cancel that may have been behind.
- **power** / **log**: a shrink of ``d`` shares (less what trades took since the last update) came from
  behind us with probability ``p = f(behind) / (f(behind) + f(ahead))``, ``f(x) = x**n`` or
  ``log(1 + x)``; queue ahead drops by ``(1 - p) d``, and by more when the part from behind is larger
  than what was behind.

Queue ahead is never below zero and never above the displayed level; a level that grows grew behind us.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hft_console.domain import QUEUE_MODELS


@dataclass(slots=True)
class QueuePosition:
    """One resting order's estimated place: ``ahead`` shares ahead of it (a float: the probabilistic
    models move it by expected shares), ``traded`` shares traded at its price since the last level
    update (so a trade is not counted again as a cancel when the level shows it)."""

    ahead: float
    traded: float = 0.0

    @property
    def shares_ahead(self) -> int:
        """Queue ahead in whole shares, as reported: never negative."""
        return max(0, math.ceil(self.ahead - 1e-9))


class QueueModel:
    """The risk-averse model; subclasses estimate who cancelled (see the module docstring)."""

    name = "risk-averse"

    def join(self, level_shares: int) -> QueuePosition:
        """A new order at a level showing ``level_shares``: all of them are ahead."""
        return QueuePosition(float(max(0, level_shares)))

    def on_trade(self, q: QueuePosition, shares: int) -> int:
        """``shares`` traded at our price: they take the queue ahead first. Returns how many of them
        reached us (0 while shares remain ahead); the caller fills at most its remaining size."""
        q.ahead -= shares
        q.traded += shares
        if q.ahead >= 0:
            return 0
        reached = math.floor(-q.ahead + 1e-9)
        q.ahead = 0.0
        return reached

    def on_level(self, q: QueuePosition, before: int, after: int) -> None:
        """The displayed size at our price went from ``before`` to ``after`` shares."""
        q.traded = 0.0
        q.ahead = max(0.0, min(q.ahead, float(after)))


class ProbQueueModel(QueueModel):
    """A cancel was behind us with probability f(behind) / (f(behind) + f(ahead))."""

    def __init__(self, name: str, power: float = 2.0) -> None:
        self.name = name
        self.power = power

    def f(self, x: float) -> float:
        x = max(x, 0.0)
        return math.log1p(x) if self.name == "log" else x**self.power

    def on_level(self, q: QueuePosition, before: int, after: int) -> None:
        cancelled = before - after - q.traded  # shares the level lost that no trade explains
        q.traded = 0.0
        if cancelled <= 0:
            q.ahead = max(0.0, min(q.ahead, float(after)))
            return
        ahead = q.ahead
        behind = max(0.0, before - ahead)
        fa, fb = self.f(ahead), self.f(behind)
        p_behind = fb / (fa + fb) if fa + fb > 0 else 1.0
        estimate = ahead - (1.0 - p_behind) * cancelled + min(behind - p_behind * cancelled, 0.0)
        q.ahead = max(0.0, min(estimate, float(after)))


def queue_model(name: str, power: float = 2.0) -> QueueModel:
    """The model called ``name`` (one of ``domain.QUEUE_MODELS``); ValueError for another name."""
    if name == "risk-averse":
        return QueueModel()
    if name in ("power", "log"):
        return ProbQueueModel(name, power)
    raise ValueError(f"unknown queue model {name!r}: expected one of {', '.join(QUEUE_MODELS)}")
