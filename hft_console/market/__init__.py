"""Phase 1: market data sources and their normalisation."""

from hft_console.market.normalizer import REJECT_REASONS, Normalizer
from hft_console.market.synthetic import SyntheticMarket, TickBatch

__all__ = ["REJECT_REASONS", "Normalizer", "SyntheticMarket", "TickBatch"]
