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


class OrderType(StrEnum):
    """What a child order asks of its venue; the journal's ``orders.order_type``."""

    IOC = "IOC"  # marketable limit, immediate-or-cancel: takes what is there, the rest is cancelled
    LIMIT = "LIMIT"  # rests at its price until filled, cancelled or its time in force ends
    POST_ONLY = "POST_ONLY"  # a LIMIT the venue refuses (POST_ONLY_WOULD_CROSS) if it would take on arrival
    MID_PEG = "MID_PEG"  # rests pegged to the venue's midpoint (venues that offer it)


class TimeInForce(StrEnum):
    """How long an order may live; the journal's ``orders.tif``."""

    IOC = "IOC"
    DAY = "DAY"  # until the session ends
    GTC = "GTC"  # until cancelled (a simulated session ends it too: EXPIRED)


class Liquidity(StrEnum):
    """Which side of a trade a fill was on; the journal's ``fills.liquidity``."""

    MAKER = "MAKER"  # our resting order was hit
    TAKER = "TAKER"  # our order took displayed (or hidden) liquidity on arrival


class OrderStatus(StrEnum):
    """Where a child order stands as the desk knows it (FIX OrdStatus names); the journal stores the value.

    ``PENDING_*`` are the desk's own states while a message is on its way; every other state is what
    the venue last answered. A replace keeps the order id (the new price and size apply from
    ``REPLACED``); a cancel or replace the venue refuses leaves the order as it was."""

    PENDING_NEW = "PENDING_NEW"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    PENDING_REPLACE = "PENDING_REPLACE"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"  # its time in force ended, or the session did while it was still working


_S = OrderStatus
_LIVE = frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.PENDING_REPLACE, _S.CANCELED, _S.EXPIRED})
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_NEW: frozenset({_S.ACCEPTED, _S.REJECTED, _S.PENDING_CANCEL, _S.EXPIRED}),
    _S.ACCEPTED: _LIVE,
    _S.PARTIALLY_FILLED: _LIVE,
    _S.REPLACED: _LIVE,
    # a fill while a cancel or replace travels keeps the pending state; the answer settles it. A cancel
    # refused before the order's own answer came (its venue never got it) leaves it PENDING_NEW (FIX:
    # OrderCancelReject with OrdStatus Pending New); that answer, a timeout, settles it
    _S.PENDING_CANCEL: frozenset(
        {
            _S.PENDING_CANCEL,
            _S.PENDING_NEW,
            _S.ACCEPTED,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.REJECTED,
            _S.EXPIRED,
        }
    ),
    _S.PENDING_REPLACE: frozenset(
        {
            _S.PENDING_REPLACE,
            _S.PENDING_CANCEL,
            _S.REPLACED,
            _S.ACCEPTED,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.EXPIRED,
        }
    ),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}
"""The states each state may move to. No fill before ACCEPTED (PENDING_NEW cannot reach a filled
state), nothing after a final state (FILLED, CANCELED, REJECTED, EXPIRED)."""

FINAL_STATES = frozenset({_S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED})


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
    HALT_SYMBOL = "halt_symbol"  # args: symbol
    FLATTEN_SYMBOL = "flatten_symbol"  # args: symbol
    RESUME_SYMBOL = "resume_symbol"  # args: symbol
    ORDER = "order"  # args: symbol, side, qty, type, limit, venue (execution/manual.py parse_order)
    ACK_ALERTS = "ack_alerts"  # args: ids (a list of alert ids; none: every alert) (engine/alerts.py)


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """Order-entry latency of one venue, one way, in microseconds.

    Each message kind has its own body median: ``median_us`` for a new order (and every answer),
    ``cancel_median_us`` and ``replace_median_us`` for a cancel and a replace (0: as a new order). The
    body is lognormal around the median; ``jitter_us`` adds uniform noise; a spike multiplies
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
    cancel_median_us: float = 0.0
    replace_median_us: float = 0.0


VENUE_KINDS = ("lit", "inverted", "speed-bump", "dark")
QUEUE_MODELS = ("risk-averse", "power", "log")


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
    feed_delay_us: float  # how late the venue's market data reaches us: we see its book as it was then
    reject_prob: float  # chance the venue rejects an order for its own reasons
    latency: LatencySpec
    kind: str = "lit"  # one of VENUE_KINDS: lit (maker-taker), inverted, speed-bump, dark (midpoint pool)
    queue_model: str = "risk-averse"  # one of QUEUE_MODELS (venues/queue.py)
    queue_power: float = 2.0  # the exponent of the ``power`` queue model
    midpoint_share: float = 0.0  # speed-bump venues: share of takers filled at the midpoint (hidden pegs)
    hidden_liquidity_mean_shares: float = 0.0  # dark: mean hidden size an order meets (exponential)
    hidden_liquidity_zero_prob: float = 0.0  # dark: chance an order meets no hidden liquidity at all


@dataclass(slots=True)
class Order:
    """A child order handed to one venue. ``limit`` is its price (a MID_PEG's cap); ``qty`` its size
    (a replace changes both); ``queue_ahead``/``level_total`` are shares ahead of it and displayed at
    its price as of the venue's last report (resting orders; ``level_total`` -1 behind the touch, not shown)."""

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
    status: OrderStatus = OrderStatus.PENDING_NEW
    decision: int = -1  # the router's decision number, so its answer can teach the router
    order_type: OrderType = OrderType.IOC
    tif: TimeInForce = TimeInForce.IOC
    queue_ahead: int = 0
    level_total: int = 0
    accepted_ns: int = 0  # engine time we learned it was accepted (0: not yet)
    queue_at_entry: int = -1  # queue ahead when it joined the book (-1: never rested)

    def to(self, status: OrderStatus) -> None:
        """Move to ``status``; raises InvalidTransition when ORDER_TRANSITIONS does not allow it."""
        if status not in ORDER_TRANSITIONS[self.status]:
            raise InvalidTransition(f"order {self.order_id}: {self.status} -> {status} is not allowed")
        self.status = status

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def resting(self) -> bool:
        return self.tif is not TimeInForce.IOC


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
    liquidity: Liquidity = Liquidity.TAKER


@dataclass(slots=True)
class Command:
    """An operator command; the engine applies it between events and journals it."""

    kind: str  # a CommandKind value; anything else is refused (and journaled) as an unknown command
    args: dict[str, object] = field(default_factory=dict)
    source: str = "operator"
    submitted_ns: int = field(default_factory=time.perf_counter_ns)  # wall clock, to measure reaction
