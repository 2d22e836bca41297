"""The command line: the session command (main.py), the backtest/evaluate/train subcommands and the
argument helpers they share."""
