"""Orders, their explicit state machine, and fills.

An :class:`OrderRequest` is what a strategy wants; an :class:`Order` is that request once it has a
lifecycle. Orders are immutable: each transition returns a new ``Order``, so a published event can
never be changed behind a subscriber's back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from thunes.domain.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from thunes.domain.identifiers import ClientOrderId, Symbol, VenueOrderId

__all__ = ["Fill", "IllegalTransitionError", "Order", "OrderRequest", "OverfillError"]

ZERO = Decimal(0)
_MARKET = OrderType.MARKET  # a global read: cheaper than the enum's attribute on every order

# Allowed status transitions (Binance enums.md, Order status). A terminal status has none.
_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


class IllegalTransitionError(ValueError):
    """A status change the order state machine forbids (e.g. FILLED -> CANCELED)."""


class OverfillError(ValueError):
    """A fill that would take the executed quantity past the order quantity."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as a strategy or the risk engine wants it placed.

    ``quantity`` is in the base asset. A MARKET order may give ``quote_quantity`` instead
    (Binance ``quoteOrderQty``). ``price`` is required for LIMIT and LIMIT_MAKER.
    """

    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    order_type: OrderType
    quantity: Decimal | None = None
    price: Decimal | None = None
    quote_quantity: Decimal | None = None
    time_in_force: TimeInForce | None = None

    def __post_init__(self) -> None:
        # Written out, fields read once (no loop over names): every order builds one or two of these.
        market, price, quantity, quote = self.order_type is _MARKET, self.price, self.quantity, self.quote_quantity
        if not market and price is None:
            raise ValueError(f"{self.order_type.value} order needs a price")
        if market and price is not None:
            raise ValueError("MARKET order takes no price")
        if (quantity is None) == (quote is None):
            raise ValueError("give exactly one of quantity and quote_quantity")
        if quote is not None and not market:
            raise ValueError("quote_quantity is only valid for MARKET orders")
        if quantity is not None and (not quantity.is_finite() or quantity <= 0):
            raise ValueError(f"quantity must be a positive finite number, got {quantity}")
        if price is not None and (not price.is_finite() or price <= 0):
            raise ValueError(f"price must be a positive finite number, got {price}")
        if quote is not None and (not quote.is_finite() or quote <= 0):
            raise ValueError(f"quote_quantity must be a positive finite number, got {quote}")

    def with_values(self, *, quantity: Decimal | None = None, price: Decimal | None = None) -> OrderRequest:
        """A copy with normalised quantity and/or price (``self`` when they already are exactly these:
        same value and same digits, so what is sent does not change)."""
        if _same(quantity, self.quantity) and _same(price, self.price):
            return self
        return replace(
            self,
            quantity=self.quantity if quantity is None else quantity,
            price=self.price if price is None else price,
        )


def _same(new: Decimal | None, old: Decimal | None) -> bool:
    """``new`` leaves ``old`` as it is: nothing given, or the very same number and representation."""
    return new is None or new is old or (old is not None and new.compare_total(old) == 0)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution against an order. ``commission`` is charged in ``commission_asset``."""

    client_order_id: ClientOrderId
    trade_id: str
    symbol: Symbol
    side: Side
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str
    liquidity: Liquidity
    ts_ns: int

    def __post_init__(self) -> None:
        if self.price <= 0 or self.quantity <= 0:
            raise ValueError("fill price and quantity must be positive")
        if self.commission < 0:
            raise ValueError("commission must be >= 0")

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class Order:
    """An order with its lifecycle. Create with :meth:`from_request`; change only via transitions."""

    request: OrderRequest
    status: OrderStatus = OrderStatus.NEW
    venue_order_id: VenueOrderId | None = None
    filled_quantity: Decimal = ZERO
    cumulative_quote: Decimal = ZERO
    reject_reason: str | None = None
    updated_ns: int = 0

    @classmethod
    def from_request(cls, request: OrderRequest, ts_ns: int) -> Order:
        return cls(request=request, updated_ns=ts_ns)

    @property
    def client_order_id(self) -> ClientOrderId:
        return self.request.client_order_id

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted fill price, or ``None`` before the first fill."""
        return self.cumulative_quote / self.filled_quantity if self.filled_quantity else None

    @property
    def remaining_quantity(self) -> Decimal | None:
        """Base quantity still to fill (``None`` for quote-quantity MARKET orders)."""
        q = self.request.quantity
        return None if q is None else q - self.filled_quantity

    def transition(self, status: OrderStatus, ts_ns: int, *, reason: str | None = None) -> Order:
        """Move to ``status``; raises :class:`IllegalTransitionError` if the state machine forbids it."""
        if status not in _TRANSITIONS[self.status]:
            raise IllegalTransitionError(
                f"order {self.client_order_id}: {self.status.value} -> {status.value} is not allowed"
            )
        return replace(self, status=status, updated_ns=ts_ns, reject_reason=reason or self.reject_reason)

    def accept(self, venue_order_id: VenueOrderId, ts_ns: int) -> Order:
        """Record the venue's order id; only an open order can be acknowledged."""
        if not self.is_open:
            raise IllegalTransitionError(f"order {self.client_order_id}: cannot accept a {self.status.value} order")
        return replace(self, venue_order_id=venue_order_id, updated_ns=ts_ns)

    def apply_fill(self, fill: Fill, *, complete: bool | None = None) -> Order:
        """Add ``fill``; the order becomes FILLED when fully executed, else PARTIALLY_FILLED.

        For quote-quantity MARKET orders the base size is unknown up front, so the caller says
        whether the venue reported the order ``complete``.
        """
        if fill.client_order_id != self.client_order_id or fill.side is not self.request.side:
            raise ValueError(f"fill {fill.trade_id} does not belong to order {self.client_order_id}")
        filled = self.filled_quantity + fill.quantity
        target = self.request.quantity
        if target is not None and filled > target:
            raise OverfillError(f"order {self.client_order_id}: fill takes executed {filled} past {target}")
        done = complete if complete is not None else (target is not None and filled == target)
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        moved = self.transition(status, fill.ts_ns)
        return replace(moved, filled_quantity=filled, cumulative_quote=self.cumulative_quote + fill.notional)
