"""Typed settings: config/default.toml < mode or --config file < .env < environment < flags.

Every value is validated once, at start. A bad value raises ``SettingsError`` naming where it came
from, the key, the value and what was expected; the command line turns that into exit status 2.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from hft_console.domain import LatencySpec, VenueSpec

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - tomli only where tomllib is missing
    import tomli as tomllib  # type: ignore[import-not-found, no-redef]

MODES = ("fast", "balanced", "production")
LOG_LEVELS = ("quiet", "normal", "verbose", "debug")
CLOCKS = ("wall", "sim")
INFERENCE_BACKENDS = ("jit", "numpy")
STRATEGIES = ("imbalance",)
DATA_SOURCES = ("synthetic", "replay:PATH", "yahoo", "finnhub")
YAHOO_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d")
YAHOO_PERIODS = ("1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max")
SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
FLAG_NAMES = {  # settings whose command-line flag is not named after the key
    "session.duration_s": "--duration",
    "data.source": "--data",
    "backtest.duration_s": "--duration",
}
ENV_KEYS = {
    "TRADING_MODE": "session.mode",
    "TRADING_SYMBOLS": "session.symbols",
    "MAX_POSITION_SIZE": "risk.max_position",
    "LOG_LEVEL": "session.log_level",
}


class SettingsError(ValueError):
    def __init__(self, source: str, key: str, value: object, expected: str) -> None:
        self.source, self.key, self.value, self.expected = source, key, value, expected
        super().__init__(f"{source}: {key} = {value!r}: expected {expected}")


def rule(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    return field(metadata={"lo": lo, "hi": hi, "lo_open": lo_open, "choices": choices})


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


@dataclass(frozen=True)
class BacktestSettings:
    scenarios: int = rule(1, 1_000_000)
    duration_s: float = rule(0, 86400, lo_open=True)
    routers: str = rule()
    workers: int = rule(0, 256)
    vol_sigma: float = rule(0, 3)
    congested_share: float = rule(0, 1)
    degraded_share: float = rule(0, 1)
    startup_scenarios: int = rule(1, 10_000)
    startup_duration_s: float = rule(0, 3600, lo_open=True)


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
class LatencySettings:
    median_us: float = rule(0, 1e7, lo_open=True)
    sigma: float = rule(0, 3)
    jitter_us: float = rule(0, 1e6)
    spike_prob: float = rule(0, 1)
    spike_mult_min: float = rule(1, 1000)
    spike_mult_max: float = rule(1, 1000)
    congested_mult: float = rule(1, 1000)
    congested_spike_prob: float = rule(0, 1)
    calm_to_congested_per_s: float = rule(0, 100)
    congested_to_calm_per_s: float = rule(0, 100)
    outage_per_hour: float = rule(0, 3600)
    outage_mean_s: float = rule(0, 86400, lo_open=True)
    outage_timeout_us: float = rule(0, 1e8, lo_open=True)
    speed_bump_us: float = rule(0, 1e6)


@dataclass(frozen=True)
class VenueSettings:
    name: str = rule()
    taker_fee: float = rule(-0.01, 0.01)
    maker_rebate: float = rule(-0.01, 0.01)
    share: float = rule(0, 1, lo_open=True)
    spread_ticks: int = rule(1, 100)
    depth_shares: int = rule(1, 1e9)
    depth_levels: int = rule(1, 20)
    staleness_us: float = rule(0, 1e7)
    reject_prob: float = rule(0, 1)
    latency: LatencySettings = rule()


@dataclass(frozen=True)
class Settings:
    session: SessionSettings
    market: MarketSettings
    normalizer: NormalizerSettings
    strategy: StrategySettings
    risk: RiskSettings
    risk_caps: RiskSettings
    engine: EngineSettings
    data: DataSettings
    backtest: BacktestSettings
    venues: list[VenueSettings]
    finnhub_api_key: str = field(default="", repr=False)
    sources: dict[str, str] = field(default_factory=dict, repr=False)

    def venue_specs(self) -> list[VenueSpec]:
        return [
            VenueSpec(
                name=v.name,
                taker_fee=v.taker_fee,
                maker_rebate=v.maker_rebate,
                share=v.share,
                spread_ticks=v.spread_ticks,
                depth_shares=v.depth_shares,
                depth_levels=v.depth_levels,
                staleness_us=v.staleness_us,
                reject_prob=v.reject_prob,
                latency=LatencySpec(**{f.name: getattr(v.latency, f.name) for f in fields(v.latency)}),
            )
            for v in self.venues
        ]


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
}


def config_dir() -> Path:
    """Where the shipped config files live: inside the wheel, or the checkout's top-level config/."""
    packaged = Path(__file__).with_name("config")
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / "config"


def read_toml(path: Path, source: str) -> dict[str, Any]:
    try:
        # utf-8-sig: an editor's byte-order mark is not a TOML statement
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise SettingsError(source, "--config", str(path), "an existing TOML file") from None
    except IsADirectoryError:
        raise SettingsError(source, "--config", str(path), "a TOML file, not a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(source, "(file)", str(path), f"valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise SettingsError(source, "(file)", str(path), "a UTF-8 TOML text file") from None
    except OSError as exc:
        raise SettingsError(source, "--config", str(path), f"a readable file ({exc.strerror})") from None


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; '#' comments and optional quotes. Only the keys we know are used."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for raw in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():  # a BOM is not part of a key
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _describe(hint: Any, meta: dict[str, Any]) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(meta["choices"])
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    text = names.get(hint, "a list of symbols")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        text += f" {'>' if meta.get('lo_open') else '>='} {lo:g} and <= {hi:g}"
    return text


def _coerce(value: Any, hint: Any, meta: dict[str, Any], source: str, key: str) -> Any:
    """Check one leaf value. Strings from the environment or flags are parsed to the hinted type."""
    expected = _describe(hint, meta)
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise SettingsError(source, key, value, expected)
        return value
    if hint in (int, float):
        if isinstance(value, str):
            try:
                value = int(value) if hint is int else float(value)
            except ValueError:
                raise SettingsError(source, key, value, expected) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(source, key, value, expected)
        if hint is int and isinstance(value, float):
            if not value.is_integer():
                raise SettingsError(source, key, value, expected)
            value = int(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise SettingsError(source, key, value, expected)
        lo, hi = meta.get("lo"), meta.get("hi")
        too_low = lo is not None and (value <= lo if meta.get("lo_open") else value < lo)
        if too_low or (hi is not None and value > hi):
            raise SettingsError(source, key, value, expected)
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise SettingsError(source, key, value, expected)
        if meta.get("choices") and value not in meta["choices"]:
            raise SettingsError(source, key, value, expected)
        return value
    return _coerce_symbols(value, source, key)


def _coerce_symbols(value: Any, source: str, key: str) -> list[str]:
    expected = "a comma-separated list of ticker symbols like AAPL,MSFT"
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise SettingsError(source, key, value, expected)
    out: list[str] = []
    for item in items:
        sym = item.strip().upper() if isinstance(item, str) else None
        if not sym or not SYMBOL_RE.match(sym) or sym in out:
            raise SettingsError(source, key, value, expected + " (distinct, 1-10 characters)")
        out.append(sym)
    return out


@dataclass
class Layered:
    """Leaf values with the source each one came from, merged in precedence order."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def merge(self, table: dict[str, Any], source: str) -> None:
        for section, body in table.items():
            if section == "venues":
                if not isinstance(body, list) or not body:
                    raise SettingsError(source, "venues", body, "a non-empty array of [[venues]] tables")
                self.values["venues"], self.sources["venues"] = body, source
                continue
            if section not in SECTIONS:
                raise SettingsError(source, section, "…", "a known section: " + ", ".join([*SECTIONS, "venues"]))
            if not isinstance(body, dict):
                raise SettingsError(source, section, body, "a table")
            for key, value in body.items():
                self.set(f"{section}.{key}", value, source)

    def set(self, dotted: str, value: Any, source: str) -> None:
        section, _, key = dotted.partition(".")
        known = {f.name for f in fields(SECTIONS[section])}
        if key not in known:
            raise SettingsError(source, dotted, value, f"a known key of [{section}]: " + ", ".join(sorted(known)))
        self.values[dotted], self.sources[dotted] = value, source


def _build(cls: type, get: Any, prefix: str, sources: dict[str, str]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        dotted = f"{prefix}.{f.name}"
        source = sources.get(dotted, sources.get(prefix, "config"))
        if f.name not in get:
            raise SettingsError(source, dotted, None, "a value (the key is missing)")
        if hints[f.name] is LatencySettings:
            kwargs[f.name] = get[f.name]
            continue
        kwargs[f.name] = _coerce(get[f.name], hints[f.name], dict(f.metadata), source, dotted)
    return cls(**kwargs)


def _build_venues(raw: list[Any], source: str) -> list[VenueSettings]:
    venues: list[VenueSettings] = []
    for i, body in enumerate(raw):
        where = f"venues[{i}]"
        if not isinstance(body, dict):
            raise SettingsError(source, where, body, "a [[venues]] table")
        lat = body.get("latency")
        if not isinstance(lat, dict):
            raise SettingsError(source, f"{where}.latency", lat, "a [venues.latency] table")
        for table, cls, prefix in ((body, VenueSettings, where), (lat, LatencySettings, f"{where}.latency")):
            unknown = set(table) - {f.name for f in fields(cls)}
            if unknown:
                raise SettingsError(source, f"{prefix}.{sorted(unknown)[0]}", "…", "a known venue key")
        latency = _build(LatencySettings, lat, f"{where}.latency", {f"{where}.latency": source})
        if latency.spike_mult_max < latency.spike_mult_min:
            raise SettingsError(source, f"{where}.latency.spike_mult_max", latency.spike_mult_max, ">= spike_mult_min")
        venue = _build(VenueSettings, {**body, "latency": latency}, where, {where: source})
        if not venue.name.strip() or venue.name in {v.name for v in venues}:
            raise SettingsError(source, f"{where}.name", venue.name, "a non-empty name, distinct from other venues")
        venues.append(venue)
    return venues


def load_settings(
    flags: dict[str, Any],
    environ: dict[str, str] | None = None,
    dotenv_path: Path | None = Path(".env"),
    router_names: tuple[str, ...] = (),
) -> Settings:
    """Resolve every layer. ``flags`` holds dotted keys (``session.mode``) set on the command line."""
    environ = dict(os.environ if environ is None else environ)
    dotenv = read_dotenv(dotenv_path) if dotenv_path is not None else {}
    layers = Layered()
    layers.merge(read_toml(config_dir() / "default.toml", "config/default.toml"), "config/default.toml")

    mode_value = flags.get("session.mode") or environ.get("TRADING_MODE") or dotenv.get("TRADING_MODE")
    mode = str(mode_value or layers.values["session.mode"])
    if mode not in MODES:
        where = "--mode" if flags.get("session.mode") else "TRADING_MODE"
        raise SettingsError(where, "session.mode", mode, "one of " + ", ".join(MODES))
    config_path = flags.pop("config", None)
    if config_path:
        layers.merge(read_toml(Path(config_path), str(config_path)), str(config_path))
    else:
        layers.merge(read_toml(config_dir() / f"{mode}.toml", f"config/{mode}.toml"), f"config/{mode}.toml")

    for origin, table in ((".env", dotenv), ("environment", environ)):
        for name, dotted in ENV_KEYS.items():
            if name in table and table[name] != "":
                layers.set(dotted, table[name], f"{origin} {name}")
    key = environ.get("FINNHUB_API_KEY") or dotenv.get("FINNHUB_API_KEY") or ""
    for dotted, value in flags.items():
        if value is not None:
            flag = FLAG_NAMES.get(dotted, "--" + dotted.split(".", 1)[1].replace("_", "-"))
            layers.set(dotted, value, flag)

    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        body = {k.split(".", 1)[1]: v for k, v in layers.values.items() if k.startswith(section + ".")}
        built[section] = _build(cls, body, section, layers.sources)
    venues = _build_venues(layers.values.get("venues", []), layers.sources.get("venues", "config"))
    if len(venues) < 1:
        raise SettingsError(layers.sources.get("venues", "config"), "venues", [], "at least one venue")
    session: SessionSettings = built["session"]
    if router_names and session.router not in router_names:
        raise SettingsError(
            layers.sources["session.router"], "session.router", session.router, "one of " + ", ".join(router_names)
        )
    _check_caps(built["risk"], built["risk_caps"], layers.sources)
    norm: NormalizerSettings = built["normalizer"]
    if norm.min_price >= norm.max_price:
        raise SettingsError(
            layers.sources["normalizer.max_price"], "normalizer.max_price", norm.max_price, "> normalizer.min_price"
        )
    _check_data(built["data"], built["backtest"], layers.sources, router_names)
    if built["data"].source == "finnhub" and session.clock != "wall":
        where = layers.sources.get("session.clock", "config")
        raise SettingsError(where, "session.clock", session.clock, "wall with data.source = finnhub (a live feed)")
    return Settings(**built, venues=venues, finnhub_api_key=key, sources=layers.sources)


def _check_data(data: DataSettings, bt: BacktestSettings, sources: dict[str, str], routers: tuple[str, ...]) -> None:
    src = data.source
    if src not in ("synthetic", "yahoo", "finnhub") and not (src.startswith("replay:") and len(src) > 7):
        expected = "one of " + ", ".join(DATA_SOURCES)
        raise SettingsError(sources.get("data.source", "config"), "data.source", src, expected)
    if data.record and not data.record.endswith((".csv", ".parquet")):
        raise SettingsError(sources.get("data.record", "config"), "data.record", data.record, "a .csv or .parquet path")
    names = [r.strip() for r in bt.routers.split(",") if r.strip()]
    bad = [r for r in names if r != "all" and routers and r not in routers]
    if bad:
        raise SettingsError(
            sources.get("backtest.routers", "config"), "backtest.routers", bt.routers,
            "a comma-separated list of: all, " + ", ".join(routers),
        )  # fmt: skip


def _check_caps(risk: RiskSettings, caps: RiskSettings, sources: dict[str, str]) -> None:
    for f in fields(RiskSettings):
        value, cap = getattr(risk, f.name), getattr(caps, f.name)
        if value > cap:
            dotted = f"risk.{f.name}"
            raise SettingsError(
                sources.get(dotted, "config"), dotted, value, f"<= the hard cap risk_caps.{f.name} = {cap:g}"
            )
