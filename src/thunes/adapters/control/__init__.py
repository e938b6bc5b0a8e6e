"""The control API (SPEC §2, §5): an authenticated HTTP API on loopback to operate a running trader.

aiohttp serves it here; the bodies are pydantic models shared with the CLI's client, and the
OpenAPI 3.1 document is generated from the same route table the server registers.
"""

from thunes.adapters.control.models import (
    ControlResult,
    ErrorBody,
    KillSwitchOffRequest,
    KillSwitchOnRequest,
    KillSwitchView,
    OperatorAction,
    OrdersBody,
    OrderView,
    PortfolioBody,
    PortfolioLine,
    PositionsBody,
    PositionView,
    PriceSource,
    StatusBody,
    StopEntryRequest,
    ViewSource,
)
from thunes.adapters.control.openapi import ROUTES, Route, openapi_schema
from thunes.adapters.control.server import (
    DEFAULT_HOST,
    ControlBackend,
    ControlEndpointError,
    ControlServer,
    build_app,
)

__all__ = [
    "DEFAULT_HOST",
    "ROUTES",
    "ControlBackend",
    "ControlEndpointError",
    "ControlResult",
    "ControlServer",
    "ErrorBody",
    "KillSwitchOffRequest",
    "KillSwitchOnRequest",
    "KillSwitchView",
    "OperatorAction",
    "OrderView",
    "OrdersBody",
    "PortfolioBody",
    "PortfolioLine",
    "PositionView",
    "PositionsBody",
    "PriceSource",
    "Route",
    "StatusBody",
    "StopEntryRequest",
    "ViewSource",
    "build_app",
    "openapi_schema",
]
