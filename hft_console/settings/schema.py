"""What the settings are: one frozen dataclass per config section, each field with the rule it is
checked against when the settings load (``load.py``), and the rules for the ``[[venues]]`` tables,
which load straight into the domain's ``VenueSpec``/``LatencySpec``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from hft_console.domain import QUEUE_MODELS, VENUE_KINDS, VenueSpec

MODES = ("fast", "balanced", "production")
LOG_LEVELS = ("quiet", "normal", "verbose", "debug")
CLOCKS = ("wall", "sim")
THEMES = ("default", "colour-blind")  # the console's colours (ui/theme.py)
INFERENCE_BACKENDS = ("jit", "numpy")
STRATEGIES = ("imbalance", "market-maker")
POSTING_RULES = ("best-rebate", "shortest-queue")
EXECUTORS = ("local", "ray")  # compute/executor.py's
DATA_SOURCES = ("synthetic", "replay:PATH", "lobster:PATH", "hftbacktest:PATH.npz", "yahoo", "finnhub")
YAHOO_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d")
YAHOO_PERIODS = ("1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max")
SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
FLAG_NAMES = {  # settings whose command-line flag is not named after the key
    "session.duration_s": "--duration",
    "data.source": "--data",
    "backtest.duration_s": "--duration",
    "compute.address": "--ray-address",
}
ENV_KEYS = {
    "TRADING_MODE": "session.mode",
    "TRADING_SYMBOLS": "session.symbols",
    "MAX_POSITION_SIZE": "risk.max_position",
    "LOG_LEVEL": "session.log_level",
}


class SettingsError(ValueError):
    """A value that cannot be used: where it came from (``source``: a file, ``--flag``, ``environment
    NAME``), its dotted ``key``, the ``value`` and what was ``expected``. The command line exits 2."""

    def __init__(self, source: str, key: str, value: object, expected: str) -> None:
        self.source, self.key, self.value, self.expected = source, key, value, expected
        super().__init__(f"{source}: {key} = {value!r}: expected {expected}")


@dataclass(frozen=True)
class Rule:
    """The check one value must pass: a number within [lo, hi] (``lo`` excluded when ``lo_open``),
    or a string among ``choices``; a bare ``Rule()`` checks the type only."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] | None = None


def rule(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A settings field (no default) carrying its ``Rule``; ``rules_of`` reads it back."""
    return field(metadata={"rule": Rule(lo, hi, lo_open, choices)})


@dataclass(frozen=True)
class SessionSettings:
    mode: str = rule(choices=MODES)
    duration_s: float = rule(0, 7 * 86400, lo_open=True)
    symbols: list[str] = rule()
    log_level: str = rule(choices=LOG_LEVELS)
    seed: int = rule(0, 2**63 - 1)
    router: str = rule()
    clock: str = rule(choices=CLOCKS)
    skip_backtest: bool = rule()
    run_dir: str = rule()
    inference: str = rule(choices=INFERENCE_BACKENDS)
    online_learning: bool = rule()
    online_explore: float = rule(0, 0.5)
    post_router: str = rule(choices=POSTING_RULES)
    theme: str = rule(choices=THEMES)


@dataclass(frozen=True)
class MarketSettings:
    ticks_per_s_per_symbol: int = rule(1, 1_000_000)
    batch_ms: float = rule(1, 1000)
    bad_tick_rate: float = rule(0, 0.5)
    annual_vol: float = rule(0, 5, lo_open=True)
    vol_of_vol: float = rule(0, 5)
    vol_half_life_s: float = rule(0.01, 86400)
    tail_df: float = rule(2.1, 1000)
    flow_half_life_ms: float = rule(1, 60_000)
    flow_drift_bps_per_s: float = rule(0, 1000)
    flow_size_skew: float = rule(0, 5)
    tick_size: float = rule(0.0001, 1)
    grid_us: int = rule(10, 100_000)
    fade_tau_us: float = rule(0.001, 1e9)
    snipe_per_tick: float = rule(0, 100)
    miss_penalty_ticks: float = rule(0, 100)
    impact_coef: float = rule(0, 10)
    impact_adv_shares: float = rule(1, 1e12)
    trades_per_s_per_symbol: float = rule(0, 1_000_000)
    trade_size_mean_shares: float = rule(1, 1e9)
    trade_flow_skew: float = rule(0, 20)


@dataclass(frozen=True)
class DataSettings:
    source: str = rule()
    record: str = rule()
    cache_dir: str = rule()
    timeout_s: float = rule(0, 120, lo_open=True)
    yahoo_interval: str = rule(choices=YAHOO_INTERVALS)
    yahoo_period: str = rule(choices=YAHOO_PERIODS)
    bar_s: float = rule(0.01, 86400)
    finnhub_stale_s: float = rule(0.1, 3600)
    finnhub_poll_s: float = rule(1, 3600)
    finnhub_rest_url: str = rule()
    finnhub_ws_url: str = rule()
    l3_venue: str = rule()
    l3_max_anomalies: int = rule(0, 1_000_000_000)


@dataclass(frozen=True)
class BacktestSettings:
    scenarios: int = rule(1, 1_000_000)
    duration_s: float = rule(0, 86400, lo_open=True)
    routers: str = rule()
    strategies: str = rule()
    workers: int = rule(0, 256)
    vol_sigma: float = rule(0, 3)
    congested_share: float = rule(0, 1)
    degraded_share: float = rule(0, 1)
    startup_scenarios: int = rule(1, 10_000)
    startup_duration_s: float = rule(0, 3600, lo_open=True)


@dataclass(frozen=True)
class ComputeSettings:
    """Where backtest scenarios, evaluation batches and training runs go (``compute/``)."""

    executor: str = rule(choices=EXECUTORS)
    address: str = rule()  # a Ray cluster to join; empty: RAY_ADDRESS, else a local instance


@dataclass(frozen=True)
class NormalizerSettings:
    max_deviation: float = rule(0, 1, lo_open=True)
    min_price: float = rule(0, 1e9, lo_open=True)
    max_price: float = rule(0, 1e9, lo_open=True)
    reanchor_after: int = rule(1, 1_000_000)
    max_spread: float = rule(0, 2, lo_open=True)


@dataclass(frozen=True)
class StrategySettings:
    name: str = rule(choices=STRATEGIES)
    order_qty: int = rule(1, 1_000_000)
    entry_threshold: float = rule(0, 1, lo_open=True)
    exit_threshold: float = rule(-1, 1)
    ema_half_life_ms: float = rule(0.001, 3_600_000)
    cooldown_ms: float = rule(0, 3_600_000)
    limit_slippage_ticks: int = rule(0, 100)
    join: str = rule(choices=("take", "post", "peg"))
    passive_ttl_ms: float = rule(0.001, 3_600_000)
    mm_quote_qty: int = rule(1, 1_000_000)
    mm_half_spread_ticks: float = rule(0, 1000)
    mm_skew_ticks: float = rule(0, 1000)
    mm_max_inventory: int = rule(1, 1e12)
    mm_requote_ms: float = rule(0, 3_600_000)


@dataclass(frozen=True)
class RiskSettings:
    max_position: int = rule(1, 1e12)
    max_notional: float = rule(0, 1e13, lo_open=True)
    max_order_qty: int = rule(1, 1e12)
    max_orders_per_s: int = rule(1, 1_000_000)
    max_loss: float = rule(0, 1e13, lo_open=True)
    max_price_deviation_bps: float = rule(0, 10_000, lo_open=True)


@dataclass(frozen=True)
class EngineSettings:
    snapshot_hz: float = rule(1, 60)
    status_interval_s: float = rule(0.1, 3600)
    trades_kept: int = rule(10, 100_000)
    latency_bucket_s: float = rule(0.01, 3600)
    latency_buckets: int = rule(1, 1000)
    latency_window: int = rule(8, 100_000)


@dataclass(frozen=True)
class AlertSettings:
    """Operator alerts (``engine/alerts.py``): each fires once when its condition starts to hold, and again
    only after it cleared. A threshold of 0 turns that alert off."""

    loss: float = rule(0, 1e13)  # $: total P&L below -loss
    latency_p99_us: float = rule(0, 1e8)  # a venue's round-trip p99 (its sliding window) above this
    latency_p99_us_by_venue: dict[str, float] = rule(0, 1e8)  # venue name -> its own threshold (0: off there)
    latency_min_samples: int = rule(1, 100_000)  # round trips the window needs before its p99 counts
    fill_rate_below: float = rule(0, 1)  # takes' shares filled / sent over the window below this
    fill_rate_window_s: float = rule(0, 86400, lo_open=True)  # session seconds the fill rate is measured over
    fill_rate_min_orders: int = rule(1, 1_000_000)  # take answers the window needs before its fill rate counts
    feed_stale_s: float = rule(0, 86400)  # a symbol without a quote on any venue this long, or the feed stale/down
    queue_ahead_above: int = rule(0, 1e12)  # shares ahead of a working order at its price above this


#: the checks on a ``[[venues]]`` table, one per ``VenueSpec`` field (``latency``: its own table)
VENUE_RULES: dict[str, Rule] = {
    "name": Rule(),
    "taker_fee": Rule(-0.01, 0.01),
    "maker_rebate": Rule(-0.01, 0.01),
    "share": Rule(0, 1, lo_open=True),
    "spread_ticks": Rule(1, 100),
    "depth_shares": Rule(1, 1e9),
    "depth_levels": Rule(1, 20),
    "feed_delay_us": Rule(0, 1e7),
    "reject_prob": Rule(0, 1),
    "latency": Rule(),
    "kind": Rule(choices=VENUE_KINDS),
    "queue_model": Rule(choices=QUEUE_MODELS),
    "queue_power": Rule(0.1, 10),
    "midpoint_share": Rule(0, 1),
    "hidden_liquidity_mean_shares": Rule(0, 1e9),
    "hidden_liquidity_zero_prob": Rule(0, 1),
}

#: the checks on a ``[venues.latency]`` table, one per ``LatencySpec`` field
LATENCY_RULES: dict[str, Rule] = {
    "median_us": Rule(0, 1e7, lo_open=True),
    "sigma": Rule(0, 3),
    "jitter_us": Rule(0, 1e6),
    "spike_prob": Rule(0, 1),
    "spike_mult_min": Rule(1, 1000),
    "spike_mult_max": Rule(1, 1000),
    "congested_mult": Rule(1, 1000),
    "congested_spike_prob": Rule(0, 1),
    "calm_to_congested_per_s": Rule(0, 100),
    "congested_to_calm_per_s": Rule(0, 100),
    "outage_per_hour": Rule(0, 3600),
    "outage_mean_s": Rule(0, 86400, lo_open=True),
    "outage_timeout_us": Rule(0, 1e8, lo_open=True),
    "speed_bump_us": Rule(0, 1e6),
    "cancel_median_us": Rule(0, 1e7),
    "replace_median_us": Rule(0, 1e7),
}


@dataclass(frozen=True)
class Settings:
    """Every setting of a session, validated. ``venues`` are the domain's venue type, as the engine,
    the backtest's regimes and the learning environment use them. ``sources``: dotted key -> where its
    value came from (``config/default.toml``, ``--flag``, ``environment NAME``, ...)."""

    session: SessionSettings
    market: MarketSettings
    normalizer: NormalizerSettings
    strategy: StrategySettings
    risk: RiskSettings
    risk_caps: RiskSettings
    engine: EngineSettings
    data: DataSettings
    backtest: BacktestSettings
    compute: ComputeSettings
    alerts: AlertSettings
    venues: list[VenueSpec]
    finnhub_api_key: str = field(default="", repr=False)
    sources: dict[str, str] = field(default_factory=dict, repr=False)


SECTIONS: dict[str, type] = {
    "session": SessionSettings,
    "market": MarketSettings,
    "normalizer": NormalizerSettings,
    "strategy": StrategySettings,
    "risk": RiskSettings,
    "risk_caps": RiskSettings,
    "engine": EngineSettings,
    "data": DataSettings,
    "backtest": BacktestSettings,
    "compute": ComputeSettings,
    "alerts": AlertSettings,
}


def rules_of(cls: type) -> dict[str, Rule]:
    """Field name -> ``Rule`` of a section dataclass (declared with ``rule``)."""
    return {f.name: f.metadata["rule"] for f in fields(cls)}
