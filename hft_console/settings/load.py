"""Loading the settings: config/default.toml < mode or --config file < .env < environment < flags.

Every value is validated once, at start, against its ``Rule`` (``schema.py``). A bad value raises
``SettingsError`` naming where it came from, the key, the value and what was expected; the command
line turns that into exit status 2.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from hft_console.domain import LatencySpec, VenueSpec
from hft_console.settings.schema import (
    DATA_SOURCES,
    ENV_KEYS,
    FLAG_NAMES,
    LATENCY_RULES,
    MODES,
    SECTIONS,
    SYMBOL_RE,
    VENUE_RULES,
    BacktestSettings,
    DataSettings,
    NormalizerSettings,
    RiskSettings,
    Rule,
    SessionSettings,
    Settings,
    SettingsError,
    rules_of,
)

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - tomli only where tomllib is missing
    import tomli as tomllib  # type: ignore[import-not-found, no-redef]

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # hft_console/

#: venue keys that were renamed: a config still using the old name is told the new one
RENAMED_VENUE_KEYS = {"staleness_us": "feed_delay_us"}
#: keys a dark venue does not use (it quotes nothing), filled in when its table leaves them out
DARK_UNUSED: dict[str, Any] = {"spread_ticks": 1, "depth_shares": 1, "depth_levels": 1, "feed_delay_us": 0.0}


def config_dir() -> Path:
    """Where the shipped config files live: inside the wheel (``hft_console/config``), or the
    checkout's top-level ``config/``."""
    packaged = PACKAGE_DIR / "config"
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / "config"


def read_toml(path: Path, source: str) -> dict[str, Any]:
    """The file's tables; SettingsError (named after ``source``) when it is missing or not TOML."""
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


def describe(hint: Any, r: Rule) -> str:
    """What a value of type ``hint`` under rule ``r`` must be, as an error message says it."""
    if r.choices:
        return "one of " + ", ".join(r.choices)
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
             dict[str, float]: "a table of venue = number"}  # fmt: skip
    text = names.get(hint, "a list of symbols")
    if r.lo is not None and r.hi is not None:
        text += f" {'>' if r.lo_open else '>='} {r.lo:g} and <= {r.hi:g}"
    return text


def coerce(value: Any, hint: Any, r: Rule, source: str, key: str) -> Any:
    """Check one leaf value. Strings from the environment or flags are parsed to the hinted type."""
    expected = describe(hint, r)
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
        too_low = r.lo is not None and (value <= r.lo if r.lo_open else value < r.lo)
        if too_low or (r.hi is not None and value > r.hi):
            raise SettingsError(source, key, value, expected)
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise SettingsError(source, key, value, expected)
        if r.choices and value not in r.choices:
            raise SettingsError(source, key, value, expected)
        return value
    if hint == dict[str, float]:
        if not isinstance(value, dict):
            raise SettingsError(source, key, value, expected)
        return {str(k): coerce(v, float, r, source, f"{key}.{k}") for k, v in value.items()}
    return coerce_symbols(value, source, key)


def coerce_symbols(value: Any, source: str, key: str) -> list[str]:
    """A list or comma-separated text of distinct ticker symbols, upper-cased."""
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


def build(cls: type, rules: dict[str, Rule], get: Any, prefix: str, sources: dict[str, str]) -> Any:
    """``cls`` from the table ``get``, every field checked against its rule (a ``LatencySpec`` field
    is taken as built). ``prefix``: the table's dotted name, for error messages and ``sources``."""
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        dotted = f"{prefix}.{f.name}"
        source = sources.get(dotted, sources.get(prefix, "config"))
        if f.name not in get:
            if f.default is not MISSING:  # an optional venue key (kind, queue model, per-message medians)
                kwargs[f.name] = f.default
                continue
            raise SettingsError(source, dotted, None, "a value (the key is missing)")
        if hints[f.name] is LatencySpec:
            kwargs[f.name] = get[f.name]
            continue
        kwargs[f.name] = coerce(get[f.name], hints[f.name], rules[f.name], source, dotted)
    return cls(**kwargs)


def build_venues(raw: list[Any], source: str) -> list[VenueSpec]:
    """The ``[[venues]]`` tables as ``VenueSpec``s: known keys only, distinct names, spikes min <= max."""
    venues: list[VenueSpec] = []
    for i, body in enumerate(raw):
        where = f"venues[{i}]"
        if not isinstance(body, dict):
            raise SettingsError(source, where, body, "a [[venues]] table")
        lat = body.get("latency")
        if not isinstance(lat, dict):
            raise SettingsError(source, f"{where}.latency", lat, "a [venues.latency] table")
        for old, new in RENAMED_VENUE_KEYS.items():
            if old in body:
                raise SettingsError(source, f"{where}.{old}", body[old], f"{new} instead ({old} was replaced by {new})")
        for table, cls, prefix in ((body, VenueSpec, where), (lat, LatencySpec, f"{where}.latency")):
            unknown = set(table) - {f.name for f in fields(cls)}
            if unknown:
                raise SettingsError(source, f"{prefix}.{sorted(unknown)[0]}", "…", "a known venue key")
        latency = build(LatencySpec, LATENCY_RULES, lat, f"{where}.latency", {f"{where}.latency": source})
        if latency.spike_mult_max < latency.spike_mult_min:
            raise SettingsError(source, f"{where}.latency.spike_mult_max", latency.spike_mult_max, ">= spike_mult_min")
        unused = DARK_UNUSED if body.get("kind") == "dark" else {}
        venue = build(VenueSpec, VENUE_RULES, {**unused, **body, "latency": latency}, where, {where: source})
        if not venue.name.strip() or venue.name in {v.name for v in venues}:
            raise SettingsError(source, f"{where}.name", venue.name, "a non-empty name, distinct from other venues")
        check_kind(venue, where, source)
        venues.append(venue)
    if venues and all(v.kind == "dark" for v in venues):
        names = [v.name for v in venues]
        raise SettingsError(
            source, "venues", names, 'at least one venue that is not dark (kind = "dark" quotes nothing)'
        )
    return venues


def check_kind(v: VenueSpec, where: str, source: str) -> None:
    """What a venue's ``kind`` asks of its other keys. Inverted venues pay the taker and charge the
    maker (Nasdaq BX, Cboe BYX: routing-and-venues.md); a dark venue needs hidden liquidity to meet;
    a key the kind ignores must stay 0, so a venue missing its ``kind`` is not silently lit."""
    if v.kind == "inverted":
        for key in ("taker_fee", "maker_rebate"):
            if getattr(v, key) > 0:
                payer = "pays takers" if key == "taker_fee" else "charges makers"
                raise SettingsError(
                    source, f"{where}.{key}", getattr(v, key), f'<= 0 for kind = "inverted" (it {payer})'
                )
    dark = v.kind == "dark"
    if dark and v.hidden_liquidity_mean_shares <= 0:
        key = f"{where}.hidden_liquidity_mean_shares"
        raise SettingsError(
            source, key, v.hidden_liquidity_mean_shares, '> 0 for kind = "dark" (the hidden size an order meets)'
        )
    ignored = ("midpoint_share",) if dark else ("hidden_liquidity_mean_shares", "hidden_liquidity_zero_prob")
    for key in ignored:
        if getattr(v, key) != 0:
            expected = f'0 for kind = "{v.kind}" (only {"non-dark" if dark else "dark"} venues use it)'
            raise SettingsError(source, f"{where}.{key}", getattr(v, key), expected)


def load_settings(
    flags: dict[str, Any],
    environ: dict[str, str] | None = None,
    dotenv_path: Path | None = Path(".env"),
    router_names: tuple[str, ...] = (),
) -> Settings:
    """Resolve every layer. ``flags`` holds dotted keys (``session.mode``) set on the command line.
    Raises SettingsError for the first value that fails its check or a cross-check."""
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
        built[section] = build(cls, rules_of(cls), body, section, layers.sources)
    venues = build_venues(layers.values.get("venues", []), layers.sources.get("venues", "config"))
    if len(venues) < 1:
        raise SettingsError(layers.sources.get("venues", "config"), "venues", [], "at least one venue")
    check_settings(built, layers.sources, router_names)
    l3_venue = built["data"].l3_venue
    names = [v.name for v in venues]
    if l3_venue and l3_venue not in names:
        where = layers.sources.get("data.l3_venue", "config")
        raise SettingsError(where, "data.l3_venue", l3_venue, "empty or a configured venue: " + ", ".join(names))
    for venue, value in built["alerts"].latency_p99_us_by_venue.items():
        if venue not in names:
            where = layers.sources.get("alerts.latency_p99_us_by_venue", "config")
            dotted = f"alerts.latency_p99_us_by_venue.{venue}"
            raise SettingsError(where, dotted, value, "a key naming a configured venue: " + ", ".join(names))
    return Settings(**built, venues=venues, finnhub_api_key=key, sources=layers.sources)


def check_settings(built: dict[str, Any], sources: dict[str, str], router_names: tuple[str, ...]) -> None:
    """The checks across keys: a known router, risk within its caps, a price band, a data source the
    clock suits. ``built``: section name -> its built dataclass."""
    session: SessionSettings = built["session"]
    if router_names and session.router not in router_names:
        raise SettingsError(
            sources["session.router"], "session.router", session.router, "one of " + ", ".join(router_names)
        )
    check_caps(built["risk"], built["risk_caps"], sources)
    norm: NormalizerSettings = built["normalizer"]
    if norm.min_price >= norm.max_price:
        raise SettingsError(
            sources["normalizer.max_price"], "normalizer.max_price", norm.max_price, "> normalizer.min_price"
        )
    check_data(built["data"], built["backtest"], sources, router_names)
    if built["data"].source == "finnhub" and session.clock != "wall":
        where = sources.get("session.clock", "config")
        raise SettingsError(where, "session.clock", session.clock, "wall with data.source = finnhub (a live feed)")


def check_data(data: DataSettings, bt: BacktestSettings, sources: dict[str, str], routers: tuple[str, ...]) -> None:
    """A known data source, a recording path with a known suffix, backtest routers that exist."""
    src = data.source
    prefixed = any(src.startswith(p) and len(src) > len(p) for p in ("replay:", "lobster:", "hftbacktest:"))
    if src not in ("synthetic", "yahoo", "finnhub") and not prefixed:
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


def check_caps(risk: RiskSettings, caps: RiskSettings, sources: dict[str, str]) -> None:
    """Each risk limit at or under its hard cap (``[risk_caps]``)."""
    for f in fields(RiskSettings):
        value, cap = getattr(risk, f.name), getattr(caps, f.name)
        if value > cap:
            dotted = f"risk.{f.name}"
            raise SettingsError(
                sources.get(dotted, "config"), dotted, value, f"<= the hard cap risk_caps.{f.name} = {cap:g}"
            )
