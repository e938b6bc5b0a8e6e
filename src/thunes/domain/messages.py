"""Commands (imperative: what someone wants done) and events (past tense: what happened).

All are immutable; every one carries ``ts_ns`` from the injected clock, never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from thunes.domain.enums import Side
from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol, VenueId, VenueOrderId
from thunes.domain.orders import Fill, OrderRequest

__all__ = [
    "AmendOrder",
    "CancelOrder",
    "Command",
    "DenialReason",
    "Event",
    "ExitRetrying",
    "OrderAccepted",
    "OrderAmended",
    "OrderCanceled",
    "OrderDenied",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "SubmitOrder",
]


class DenialReason(StrEnum):
    """Why the risk gate refused an order before it reached the venue (SPEC §2)."""

    KILL_SWITCH = "KILL_SWITCH"
    TRADING_HALTED = "TRADING_HALTED"
    DAILY_LOSS = "DAILY_LOSS"
    ORDER_NOTIONAL = "ORDER_NOTIONAL"
    POSITION_LIMIT = "POSITION_LIMIT"
    DUPLICATE_POSITION = "DUPLICATE_POSITION"
    COOL_DOWN = "COOL_DOWN"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    RATE_LIMIT = "RATE_LIMIT"
    EXIT_INFEASIBLE = "EXIT_INFEASIBLE"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    FILTERS = "FILTERS"


@dataclass(frozen=True, slots=True)
class Command:
    ts_ns: int
    strategy_id: StrategyId
    venue: VenueId


@dataclass(frozen=True, slots=True)
class SubmitOrder(Command):
    """Place ``request`` on ``venue``."""

    request: OrderRequest


@dataclass(frozen=True, slots=True)
class CancelOrder(Command):
    """Cancel the open order ``client_order_id``."""

    symbol: Symbol
    client_order_id: ClientOrderId


@dataclass(frozen=True, slots=True)
class AmendOrder(Command):
    """Reduce an open order's quantity keeping its queue priority (Binance amend/keepPriority)."""

    symbol: Symbol
    client_order_id: ClientOrderId
    new_quantity: Decimal


@dataclass(frozen=True, slots=True)
class Event:
    ts_ns: int
    venue: VenueId
    client_order_id: ClientOrderId


@dataclass(frozen=True, slots=True)
class OrderDenied(Event):
    """The risk gate refused the order; it never reached the venue. ``detail`` names the filter;
    ``symbol`` and ``side`` say what was refused (the audit trail records them)."""

    reason: DenialReason
    detail: str = ""
    symbol: Symbol | None = None
    side: Side | None = None


@dataclass(frozen=True, slots=True)
class OrderSubmitted(Event):
    """Journaled and sent to the venue; the answer is not known yet."""

    request: OrderRequest


@dataclass(frozen=True, slots=True)
class OrderAccepted(Event):
    venue_order_id: VenueOrderId


@dataclass(frozen=True, slots=True)
class OrderRejected(Event):
    """The venue refused the order; ``code`` is the venue's error code (e.g. -2010)."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class OrderFilled(Event):
    fill: Fill
    complete: bool


@dataclass(frozen=True, slots=True)
class OrderCanceled(Event):
    pass


@dataclass(frozen=True, slots=True)
class OrderExpired(Event):
    pass


@dataclass(frozen=True, slots=True)
class OrderAmended(Event):
    new_quantity: Decimal


@dataclass(frozen=True, slots=True)
class ExitRetrying(Event):
    """An exit (a SELL of a held position) failed, never placed (given up, or refused): the trader
    tries again under ``next_client_order_id`` after ``wait_bars`` bars; ``round`` counts the
    failures of this exit so far. ``client_order_id`` is the round that failed."""

    symbol: Symbol
    next_client_order_id: ClientOrderId
    round: int
    wait_bars: int
    reason: str
