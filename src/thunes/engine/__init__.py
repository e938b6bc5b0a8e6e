"""The engine: drivers that run strategies against venues. For now, the simple bar backtester."""

from thunes.engine.metrics import Metrics, compute_metrics
from thunes.engine.simple_backtest import BacktestConfig, BacktestResult, Trade, run_backtest

__all__ = ["BacktestConfig", "BacktestResult", "Metrics", "Trade", "compute_metrics", "run_backtest"]
