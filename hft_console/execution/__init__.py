"""Phase 3: pre-trade risk, the portfolio and P&L."""

from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager

__all__ = ["Portfolio", "RiskManager"]
