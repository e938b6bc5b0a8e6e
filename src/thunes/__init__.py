"""THUNES: a crypto trading system whose backtests and live trading share one engine core."""

__all__ = ["__version__"]

__version__ = "0.1.0"
