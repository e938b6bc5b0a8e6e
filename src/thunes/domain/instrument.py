"""Instruments and the Binance spot symbol filters that constrain every order on them.

Field names follow ``filters.md`` (Binance spot API docs); a value of zero disables the rule where
the docs say so (PRICE_FILTER minPrice/maxPrice/tickSize, MARKET_LOT_SIZE stepSize).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from thunes.domain.enums import OrderType
from thunes.domain.identifiers import Symbol

__all__ = [
    "FilterName",
    "Instrument",
    "LotSizeFilter",
    "MaxNumOrdersFilter",
    "MaxPositionFilter",
    "MinNotionalFilter",
    "NotionalFilter",
    "PercentPriceBySideFilter",
    "PercentPriceFilter",
    "PriceFilter",
]

ZERO = Decimal(0)


class FilterName(StrEnum):
    """Filter names exactly as Binance reports them in ``Filter failure: <NAME>``."""

    PRICE_FILTER = "PRICE_FILTER"
    PERCENT_PRICE = "PERCENT_PRICE"
    PERCENT_PRICE_BY_SIDE = "PERCENT_PRICE_BY_SIDE"
    LOT_SIZE = "LOT_SIZE"
    MARKET_LOT_SIZE = "MARKET_LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    NOTIONAL = "NOTIONAL"
    MAX_NUM_ORDERS = "MAX_NUM_ORDERS"
    MAX_POSITION = "MAX_POSITION"


@dataclass(frozen=True, slots=True)
class PriceFilter:
    """PRICE_FILTER: ``price >= minPrice``, ``price <= maxPrice``, ``price % tickSize == 0``; 0 disables."""

    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class LotSizeFilter:
    """LOT_SIZE or MARKET_LOT_SIZE: ``minQty <= quantity <= maxQty`` and ``quantity % stepSize == 0``."""

    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal


@dataclass(frozen=True, slots=True)
class MinNotionalFilter:
    """Legacy MIN_NOTIONAL: ``price * quantity >= minNotional`` (MARKET only when ``applyToMarket``)."""

    min_notional: Decimal
    apply_to_market: bool
    avg_price_mins: int


@dataclass(frozen=True, slots=True)
class NotionalFilter:
    """NOTIONAL: ``minNotional <= price * quantity <= maxNotional``, per-bound opt-in for MARKET orders."""

    min_notional: Decimal
    apply_min_to_market: bool
    max_notional: Decimal
    apply_max_to_market: bool
    avg_price_mins: int


@dataclass(frozen=True, slots=True)
class PercentPriceFilter:
    """Legacy PERCENT_PRICE: ``avg * multiplierDown <= price <= avg * multiplierUp``."""

    multiplier_up: Decimal
    multiplier_down: Decimal
    avg_price_mins: int


@dataclass(frozen=True, slots=True)
class PercentPriceBySideFilter:
    """PERCENT_PRICE_BY_SIDE: a price band around the average price, different for BUY and SELL."""

    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int


@dataclass(frozen=True, slots=True)
class MaxNumOrdersFilter:
    """MAX_NUM_ORDERS: open orders allowed per symbol for one account."""

    max_num_orders: int


@dataclass(frozen=True, slots=True)
class MaxPositionFilter:
    """MAX_POSITION: base balance (free + locked) plus open BUY quantity must stay <= maxPosition."""

    max_position: Decimal


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable spot symbol with every filter that the order validator enforces.

    ``None`` means the venue publishes no such filter for the symbol.
    """

    symbol: Symbol
    base_asset: str
    quote_asset: str
    status: str
    base_precision: int
    quote_precision: int
    order_types: frozenset[OrderType]
    quote_order_qty_market_allowed: bool
    price_filter: PriceFilter
    lot_size: LotSizeFilter
    market_lot_size: LotSizeFilter | None = None
    min_notional: MinNotionalFilter | None = None
    notional: NotionalFilter | None = None
    percent_price: PercentPriceFilter | None = None
    percent_price_by_side: PercentPriceBySideFilter | None = None
    max_num_orders: MaxNumOrdersFilter | None = None
    max_position: MaxPositionFilter | None = None
    unknown_filters: tuple[str, ...] = field(default=())

    @property
    def is_trading(self) -> bool:
        return self.status == "TRADING"

    @property
    def tick_size(self) -> Decimal:
        return self.price_filter.tick_size

    @property
    def step_size(self) -> Decimal:
        return self.lot_size.step_size

    def min_notional_for(self, order_type: OrderType) -> Decimal:
        """The smallest notional an order of this type may have (0 when unconstrained)."""
        is_market = order_type is OrderType.MARKET
        floor = ZERO
        if self.notional is not None and (not is_market or self.notional.apply_min_to_market):
            floor = max(floor, self.notional.min_notional)
        if self.min_notional is not None and (not is_market or self.min_notional.apply_to_market):
            floor = max(floor, self.min_notional.min_notional)
        return floor
