"""The simulated venue: a Binance-compatible spot matching core over replayed market data.

Pure logic (no sockets): backtests and the RL environment use it in-process; the server in
``thunes.adapters.venues`` exposes the same core over Binance's REST and WebSocket API.
"""

from thunes.simvenue.book import BookSide, DiffResult, L2Book
from thunes.simvenue.capture import (
    WIRE_QTY_UNIT,
    BookTickerEvent,
    CaptureBookReplay,
    CaptureError,
    CaptureEvent,
    DepthDiffEvent,
    ReplayStats,
    SnapshotEvent,
    TradeEvent,
    read_capture,
)
from thunes.simvenue.core import SimVenue
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import AccountUpdate, Balance, ExecutionReport, SimOrder, SimTrade
from thunes.simvenue.slippage import FixedSlippage, Slippage, SlippageModel, SlippageSpec
from thunes.simvenue.validation import OrderParams

__all__ = [
    "WIRE_QTY_UNIT",
    "AccountUpdate",
    "Balance",
    "BookSide",
    "BookTickerEvent",
    "CaptureBookReplay",
    "CaptureError",
    "CaptureEvent",
    "DepthDiffEvent",
    "DiffResult",
    "ExecutionReport",
    "FixedSlippage",
    "L2Book",
    "OrderParams",
    "ReplayStats",
    "SimOrder",
    "SimTrade",
    "SimVenue",
    "Slippage",
    "SlippageModel",
    "SlippageSpec",
    "SnapshotEvent",
    "TradeEvent",
    "VenueError",
    "read_capture",
]
