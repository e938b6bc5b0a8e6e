"""Prometheus metrics (SPEC §5): the metric set fed by the engine's bus, and its HTTP endpoint.

prometheus_client and the endpoint's aiohttp server are imported here and nowhere else.
"""

from thunes.adapters.metrics.prometheus import (
    BREAKER_STATE_CODES,
    LATENCY_BUCKETS,
    TRADING_STATE_CODES,
    StreamCounters,
    TradingMetrics,
    denial_code,
)
from thunes.adapters.metrics.server import DEFAULT_HOST, MetricsEndpointError, MetricsServer, build_app

__all__ = [
    "BREAKER_STATE_CODES",
    "DEFAULT_HOST",
    "LATENCY_BUCKETS",
    "TRADING_STATE_CODES",
    "MetricsEndpointError",
    "MetricsServer",
    "StreamCounters",
    "TradingMetrics",
    "build_app",
    "denial_code",
]
