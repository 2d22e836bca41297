"""hft-console: an operator console and headless engine for a simulated multi-venue HFT desk."""

__version__ = "0.1.0"
