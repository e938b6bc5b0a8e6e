"""Feature computation over market data: pure numeric code, no I/O."""

from thunes.features.ohlcv import OHLCV, OHLCVError, iter_bars, to_ticks

__all__ = ["OHLCV", "OHLCVError", "iter_bars", "to_ticks"]
