"""Pick and open the session's market data source (``--data`` / ``data.source``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hft_console.market.recorder import RecordingMarket
from hft_console.market.replay import ReplayMarket
from hft_console.market.source import MarketSource
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
