"""The domain model: identifiers, money, instruments and filters, orders, fills, positions, events.

Pure: no I/O, no clock calls, nothing else of THUNES imported (an import-linter contract enforces it).
"""

from thunes.domain.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from thunes.domain.exchange_info import ExchangeInfo, ExchangeInfoError, RateLimit, parse_exchange_info
from thunes.domain.identifiers import ClientOrderId, IdentifierError, StrategyId, Symbol, VenueId, VenueOrderId
from thunes.domain.instrument import FilterName, Instrument
from thunes.domain.market import Bar, BookLevel, DepthSnapshot, DepthUpdate, QuoteTick, Timeframe, TradeTick
from thunes.domain.messages import (
    AmendOrder,
    CancelOrder,
    DenialReason,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    SubmitOrder,
)
from thunes.domain.orders import Fill, IllegalTransitionError, Order, OrderRequest, OverfillError
from thunes.domain.position import Position, PositionError
from thunes.domain.rules import MarketContext, ValidationResult, Violation, check_order, normalize_order
from thunes.domain.sizing import EntrySize, is_exit_feasible, size_entry

__all__ = [
    "AmendOrder",
    "Bar",
    "BookLevel",
    "CancelOrder",
    "ClientOrderId",
    "DenialReason",
    "DepthSnapshot",
    "DepthUpdate",
    "EntrySize",
    "ExchangeInfo",
    "ExchangeInfoError",
    "Fill",
    "FilterName",
    "IdentifierError",
    "IllegalTransitionError",
    "Instrument",
    "Liquidity",
    "MarketContext",
    "Order",
    "OrderAccepted",
    "OrderAmended",
    "OrderCanceled",
    "OrderDenied",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderRequest",
    "OrderStatus",
    "OrderSubmitted",
    "OrderType",
    "OverfillError",
    "Position",
    "PositionError",
    "QuoteTick",
    "RateLimit",
    "Side",
    "StrategyId",
    "SubmitOrder",
    "Symbol",
    "TimeInForce",
    "Timeframe",
    "TradeTick",
    "ValidationResult",
    "VenueId",
    "VenueOrderId",
    "Violation",
    "check_order",
    "is_exit_feasible",
    "normalize_order",
    "parse_exchange_info",
    "size_entry",
]
