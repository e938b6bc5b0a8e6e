"""What a venue tells us about an order, and the three ways a venue call can fail.

Every venue adapter maps its vendor's payloads to :class:`OrderReport` and its vendor's
exceptions to exactly one of :class:`RetryableVenueError` (try again after ``delay_s``; the
outcome of a write is *unknown*), :class:`RejectedByVenueError` (a business answer, becomes an event)
and :class:`FatalVenueError` (stop and alert: bad keys, permissions, configuration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from thunes.domain.enums import OrderStatus, OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol, VenueOrderId
from thunes.domain.orders import Fill

__all__ = ["FatalVenueError", "OrderReport", "RejectedByVenueError", "RetryableVenueError", "VenueError"]


@dataclass(frozen=True, slots=True)
class OrderReport:
    """An order as the venue reports it (REST answer, lookup or user-data update)."""

    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId
    symbol: Symbol
    side: Side
    order_type: OrderType
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    cumulative_quote: Decimal
    price: Decimal | None
    ts_ns: int
    fills: tuple[Fill, ...] = field(default=())


class VenueError(Exception):
    """Base of the three venue failures; ``code`` is the venue's own error code when it gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RetryableVenueError(VenueError):
    """Transient: timeouts, 5xx, 429/418, disconnects. A write's outcome is unknown: look it up."""

    def __init__(self, message: str, code: int | None = None, delay_s: float = 1.0) -> None:
        super().__init__(message, code)
        self.delay_s = delay_s


class RejectedByVenueError(VenueError):
    """The venue refused the request (filters, balance, unknown order): an outcome, not a fault."""


class FatalVenueError(VenueError):
    """Nothing will work until a person acts: credentials, permissions, unsupported configuration."""
