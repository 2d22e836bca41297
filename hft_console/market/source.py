"""What every market data source gives the engine, whatever the data comes from.

The engine pulls quote updates one batch of market time at a time (``next_batch``), asks for the
fair price a venue's fill model trades against (``fundamental_at``), and reads the feed's health
(``feed_state``). Replay ends when its file does (``exhausted``); live feeds never do.
"""

from __future__ import annotations

from typing import Protocol

from hft_console.market.synthetic import TickBatch


class DataError(Exception):
    """A data source cannot deliver: a bad file (exit 2) or an unreachable service (exit 1).

    The message names the source, and the file and row where there is one; never an API key."""

    def __init__(self, source: str, message: str, exit_code: int = 1) -> None:
        self.source, self.message, self.exit_code = source, message, exit_code
        super().__init__(f"{source}: {message}")

    def __reduce__(self) -> tuple[type[DataError], tuple[str, str, int]]:
        """Picklable as itself: a backtest worker's DataError reaches the parent as one line."""
        return (DataError, (self.source, self.message, self.exit_code))


class MarketSource(Protocol):
    """Optional: ``quality``, a dict saying what the source dropped, filled in or otherwise changed in
    its data. Top-level ints are counts of such changes, zero for clean data (e.g. Yahoo's
    ``bars_dropped``, ``bars_cut``, ``bars_filled``; Finnhub's ``prints_rejected``, ``reconnects``);
    nested dicts break them down (by symbol, by reason). summary.json and the backtest report carry it
    as ``data_quality`` (``sources.data_quality``) and the final summary prints the non-zero counts."""

    symbols: list[str]
    #: what the source is, for the banner and the summary (e.g. ``replay:ticks.csv``)
    label: str

    @property
    def generated(self) -> bool:
        """True when the venues' books are generated here (synthetic fade, sniping, depth and impact
        apply, and the feed is delayed); False for recorded books, which bound every take."""
        ...

    @property
    def feed_state(self) -> str:
        """``sim`` for generated or recorded data; ``live``/``stale``/``down`` for a live feed."""
        ...

    def next_batch(self, t1_ns: int) -> TickBatch: ...

    def fundamental_at(self, sym: int, t_ns: int) -> float: ...

    @property
    def exhausted(self) -> bool: ...

    def close(self) -> None: ...
