"""Value types shared by every layer. Knows nobody else in the package."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum, StrEnum


class Side(int, Enum):
    BUY = 1
    SELL = -1

    @property
    def label(self) -> str:
        return "BUY" if self is Side.BUY else "SELL"


class EngineState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


Quote = tuple[int, float, float, int, int]
"""One venue's top of book for one symbol: (quote ts_ns, bid, ask, bid size, ask size). A plain tuple:
the per-tick pipeline builds and reads one per tick."""


class OrderStatus(StrEnum):
    """Where a child order stands; the journal stores the value. SENT until its one answer."""

    SENT = "SENT"
    FILLED = "FILLED"
    PARTIAL = "PARTIAL"  # part filled, the rest cancelled (immediate-or-cancel)
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"  # still unanswered when the session had to end


ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.SENT: frozenset(OrderStatus) - {OrderStatus.SENT},
    **{done: frozenset() for done in OrderStatus if done is not OrderStatus.SENT},
}
"""The statuses each status may move to: an order is answered once, and an answer is final."""


class InvalidTransition(ValueError):
    """A state change the transition table does not allow (a programming error, never a market event)."""


class CommandKind(StrEnum):
    """What an operator can ask of the engine; the journal stores the value."""

    HALT = "halt"
    FLATTEN = "flatten"
    RESUME = "resume"
    REDUCE = "reduce"
    SET_LIMIT = "set_limit"
    SET_ROUTER = "set_router"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """Order-entry latency of one venue, one way, in microseconds.

    The body is lognormal around ``median_us``; ``jitter_us`` adds uniform noise; a spike multiplies
    one order's latency; the congested regime multiplies every order's latency while it lasts;
    outages make the venue refuse orders after ``outage_timeout_us``.
    """

    median_us: float
    sigma: float
    jitter_us: float
    spike_prob: float
    spike_mult_min: float
    spike_mult_max: float
    congested_mult: float
    congested_spike_prob: float
    calm_to_congested_per_s: float
    congested_to_calm_per_s: float
    outage_per_hour: float
    outage_mean_s: float
    outage_timeout_us: float
    speed_bump_us: float


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """One venue as configured (``[[venues]]``), checked when the settings load; the backtest's
    regimes (``venues/regimes.py``) derive their variants from it."""

    name: str
    taker_fee: float  # $ per share paid when taking liquidity
    maker_rebate: float  # $ per share received when adding liquidity
    share: float  # relative share of quote updates
    spread_ticks: int  # typical quoted spread
    depth_shares: int  # typical displayed size at the touch
    depth_levels: int  # price levels behind the touch a marketable order may walk
    staleness_us: float  # mean lag of the venue's quote behind the fundamental price
    reject_prob: float  # chance the venue rejects an order for its own reasons
    latency: LatencySpec


@dataclass(slots=True)
class Order:
    """A child order handed to one venue: an immediate-or-cancel marketable limit."""

    order_id: int
    parent_id: int
    symbol: str
    side: Side
    qty: int
    limit: float
    venue: str
    router: str
    ts_ns: int  # engine time the order left us
    decision_mid: float  # consolidated mid when it was decided, for cost accounting
    arrive_ns: int = 0
    filled: int = 0
    status: OrderStatus = OrderStatus.SENT
    decision: int = -1  # the router's decision number, so its answer can teach the router

    def finish(self, status: OrderStatus) -> None:
        """Move to ``status``; raises InvalidTransition when ORDER_TRANSITIONS does not allow it."""
        if status not in ORDER_TRANSITIONS[self.status]:
            raise InvalidTransition(f"order {self.order_id}: {self.status} -> {status} is not allowed")
        self.status = status


@dataclass(frozen=True, slots=True)
class Fill:
    seq: int
    order_id: int
    ts_ns: int  # engine time we learn of the fill (venue response received)
    venue_ts_ns: int  # engine time the venue matched it
    symbol: str
    side: Side
    qty: int
    price: float
    fee: float
    venue: str
    router: str
    trade_pnl: float = 0.0
    total_pnl: float = 0.0
    realized: float = 0.0


@dataclass(slots=True)
class Command:
    """An operator command; the engine applies it between events and journals it."""

    kind: str  # a CommandKind value; anything else is refused (and journaled) as an unknown command
    args: dict[str, object] = field(default_factory=dict)
    source: str = "operator"
    submitted_ns: int = field(default_factory=time.perf_counter_ns)  # wall clock, to measure reaction
