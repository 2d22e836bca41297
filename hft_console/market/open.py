"""Pick and open the session's market data source (``--data`` / ``data.source``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hft_console.market.hftbacktest_npz import HftBacktestMarket
from hft_console.market.lobster import LobsterMarket, default_venue, lobster_sources
from hft_console.market.recorder import RecordingMarket
from hft_console.market.replay import ReplayMarket
from hft_console.market.source import DataError, MarketSource
from hft_console.market.synthetic import SyntheticMarket
from hft_console.market.yahoo import open_yahoo
from hft_console.settings import Settings


def symbols_explicit(settings: Settings) -> bool:
    """True when the operator named the symbols (flag, environment, .env), not just the config."""
    source = settings.sources.get("session.symbols", "config")
    return source.startswith(("--", "environment", ".env"))


def data_quality(market: object) -> dict[str, Any]:
    """What the source dropped, filled in or otherwise changed: its optional ``quality`` (see
    ``MarketSource``), looked up through wrappers such as the recorder (``inner``); ``{}`` when it has
    none. A copy: summary.json and the backtest report take it as ``data_quality``."""
    while market is not None:
        quality = getattr(market, "quality", None)
        if quality is not None:
            return dict(quality)
        market = getattr(market, "inner", None)
    return {}


def l3_books(market: object, venue: str) -> Any:
    """The source's rebuilt order books (symbol index -> book) for ``venue``, looked up through
    wrappers such as the recorder; None when the source has no market-by-order data there."""
    while market is not None:
        books = getattr(market, "l3_books", None)
        if books is not None:
            return books(venue)
        market = getattr(market, "inner", None)
    return None


def data_stats(market: object) -> dict[str, Any]:
    """summary.json ``data``: the source's ``data_stats`` (messages, book checks) where it has one,
    else its label only."""
    label = getattr(market, "label", "")
    while market is not None:
        stats = getattr(market, "data_stats", None)
        if stats is not None:
            return dict(stats)
        market = getattr(market, "inner", None)
    return {"source": label}


def open_source(settings: Settings, seed: int) -> MarketSource:
    """The configured source, wrapped in a recorder when ``data.record`` is set. Raises DataError."""
    specs = settings.venues
    names = [v.name for v in specs]
    symbols = list(settings.session.symbols)
    src = settings.data.source
    market: MarketSource
    if src.startswith("replay:"):
        market = ReplayMarket(
            Path(src.removeprefix("replay:")),
            symbols if symbols_explicit(settings) else None,
            names,
            tick=settings.market.tick_size,
            rules=settings.normalizer,
        )
    elif src.startswith("lobster:"):
        venue = settings.data.l3_venue or default_venue(names)
        market = LobsterMarket(
            lobster_sources(src.removeprefix("lobster:"), venue),
            symbols if symbols_explicit(settings) else None,
            names,
            {v.name: int(v.feed_delay_us * 1000) for v in specs},
            settings.market.tick_size,
            settings.data.l3_max_anomalies,
            [v.name for v in specs if v.kind == "dark"],
        )
    elif src.startswith("hftbacktest:"):
        paths = [Path(p) for p in src.removeprefix("hftbacktest:").split(",") if p]
        if symbols_explicit(settings) and len(symbols) != len(paths):
            raise DataError(
                "hftbacktest", f"{len(paths)} file(s) and {len(symbols)} symbol(s); expected one symbol per file", 2
            )
        market = HftBacktestMarket(
            paths,
            symbols if symbols_explicit(settings) else [p.name.split(".")[0].split("_")[0].upper() for p in paths],
            names,
            settings.data.l3_venue or default_venue(names),
            tick=settings.market.tick_size,
            rules=settings.normalizer,
        )
    elif src == "yahoo":
        market = open_yahoo(settings, specs, seed)
    elif src == "finnhub":
        from hft_console.market.finnhub.market import open_finnhub  # imports finnhub-python and websockets

        market = open_finnhub(settings, specs, seed)
    else:
        market = SyntheticMarket(symbols, specs, settings.market, seed)
    if settings.data.record:
        try:
            market = RecordingMarket(market, Path(settings.data.record), names)
        except Exception:
            market.close()
            raise
    return market
