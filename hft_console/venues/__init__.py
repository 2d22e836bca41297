"""Phase 1: network latency models, simulated venues and the latency monitor."""

from hft_console.venues.latency import LatencyModel
from hft_console.venues.monitor import LatencyMonitor
from hft_console.venues.simulator import Execution, SimVenue

__all__ = ["Execution", "LatencyModel", "LatencyMonitor", "SimVenue"]
