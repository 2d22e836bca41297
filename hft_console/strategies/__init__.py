"""What asks for orders."""

from hft_console.strategies.imbalance import ImbalanceStrategy

__all__ = ["ImbalanceStrategy"]
