"""Feature computation over market data: pure numeric code, no I/O."""

from thunes.features.ohlcv import OHLCV, OHLCVError, to_ticks

__all__ = ["OHLCV", "OHLCVError", "to_ticks"]
