"""Backtests: the engine on the simulated clock over Monte Carlo scenarios, and their report."""
