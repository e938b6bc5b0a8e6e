"""Binance spot through ccxt and ccxt.pro: the only package of the project that imports ccxt.

``BinanceClient`` (REST) and ``BinanceStreams`` (WebSocket market and user data) speak domain
types only; every ccxt failure leaves as a ``domain.venue`` error mapped in :mod:`.errors`.
"""

from thunes.adapters.venues.binance.client import BinanceClient
from thunes.adapters.venues.binance.errors import ErrorKind, map_error
from thunes.adapters.venues.binance.exchange import BinanceConfig, Mode
from thunes.adapters.venues.binance.streams import BinanceStreams, StreamSettings, StreamStats, Subscription

__all__ = [
    "BinanceClient",
    "BinanceConfig",
    "BinanceStreams",
    "ErrorKind",
    "Mode",
    "StreamSettings",
    "StreamStats",
    "Subscription",
    "map_error",
]
