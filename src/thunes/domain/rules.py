"""Exchange rules: round and check an order against every symbol filter before it is sent.

This is the -1013 guard: an order that passes :func:`check_order` satisfies every filter exactly as
``filters.md`` (Binance spot API docs) states it, so the venue can never answer
``Filter failure: <NAME>``. Rounding follows SPEC §1: limit prices round toward the passive side
(BUY down, SELL up), quantities always round down to the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from thunes.domain.enums import OrderType, Side
from thunes.domain.instrument import FilterName, Instrument, LotSizeFilter
from thunes.domain.orders import OrderRequest
from thunes.domain.quick_init import quick_init

__all__ = [
    "MarketContext",
    "ValidationResult",
    "Violation",
    "check_order",
    "floor_to_step",
    "normalize_order",
    "round_price",
    "round_quantity",
]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken filter; ``reason_code`` is the risk denial code ``FILTERS_<NAME>`` (SPEC §2)."""

    filter: FilterName
    message: str

    @property
    def reason_code(self) -> str:
        return f"FILTERS_{self.filter.value}"


@quick_init
@dataclass(frozen=True, slots=True)
class MarketContext:
    """What the filters need beyond the order itself.

    ``reference_price`` is the venue's average price over ``avgPriceMins`` (``GET /api/v3/avgPrice``);
    it prices MARKET orders for the notional filters and anchors the percent-price bands.
    ``open_orders`` counts this account's open orders on the symbol; ``base_position`` is free +
    locked base balance plus open BUY quantity (MAX_POSITION).
    """

    reference_price: Decimal | None = None
    open_orders: int = 0
    base_position: Decimal = ZERO


@quick_init
@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Either a normalised order (no violations) or the list of filters it breaks."""

    order: OrderRequest
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``value``; ``step == 0`` leaves it unchanged."""
    if step == 0:
        return value
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` not below ``value``; ``step == 0`` leaves it unchanged."""
    if step == 0:
        return value
    return (value / step).to_integral_value(ROUND_CEILING) * step


def round_price(instrument: Instrument, price: Decimal, side: Side) -> Decimal:
    """Round to the tick toward the passive side: BUY down, SELL up (SPEC §1)."""
    tick = instrument.price_filter.tick_size
    rounded = floor_to_step(price, tick) if side is Side.BUY else ceil_to_step(price, tick)
    return rounded.normalize() if rounded else rounded


def round_quantity(instrument: Instrument, quantity: Decimal, order_type: OrderType) -> Decimal:
    """Round down to LOT_SIZE's step, and for MARKET orders to MARKET_LOT_SIZE's step too."""
    rounded = floor_to_step(quantity, instrument.lot_size.step_size)
    market = instrument.market_lot_size
    if order_type is OrderType.MARKET and market is not None:
        rounded = floor_to_step(rounded, market.step_size)
    return rounded.normalize() if rounded else rounded


def _on_step(value: Decimal, step: Decimal) -> bool:
    return step == 0 or value % step == 0


def _price_filter(instrument: Instrument, price: Decimal) -> list[Violation]:
    f = instrument.price_filter
    out: list[Violation] = []
    if f.min_price > 0 and price < f.min_price:
        out.append(Violation(FilterName.PRICE_FILTER, f"price {price} < minPrice {f.min_price}"))
    if f.max_price > 0 and price > f.max_price:
        out.append(Violation(FilterName.PRICE_FILTER, f"price {price} > maxPrice {f.max_price}"))
    if not _on_step(price, f.tick_size):
        out.append(Violation(FilterName.PRICE_FILTER, f"price {price} is not a multiple of tickSize {f.tick_size}"))
    return out


def _lot_filter(name: FilterName, f: LotSizeFilter, qty: Decimal) -> list[Violation]:
    # For MARKET_LOT_SIZE a zero bound means "no bound" (it is published as all zeros when unused).
    market = name is FilterName.MARKET_LOT_SIZE
    out: list[Violation] = []
    if qty < f.min_qty:
        out.append(Violation(name, f"quantity {qty} < minQty {f.min_qty}"))
    if not (market and f.max_qty == 0) and qty > f.max_qty:
        out.append(Violation(name, f"quantity {qty} > maxQty {f.max_qty}"))
    if not _on_step(qty, f.step_size):
        out.append(Violation(name, f"quantity {qty} is not a multiple of stepSize {f.step_size}"))
    return out


def _percent_price(instrument: Instrument, side: Side, price: Decimal, ref: Decimal) -> list[Violation]:
    out: list[Violation] = []
    by_side = instrument.percent_price_by_side
    if by_side is not None:
        up, down = (
            (by_side.bid_multiplier_up, by_side.bid_multiplier_down)
            if side is Side.BUY
            else (by_side.ask_multiplier_up, by_side.ask_multiplier_down)
        )
        if price > ref * up or price < ref * down:
            out.append(
                Violation(
                    FilterName.PERCENT_PRICE_BY_SIDE,
                    f"{side.value} price {price} outside [{ref * down}, {ref * up}] around average {ref}",
                )
            )
    legacy = instrument.percent_price
    if legacy is not None and (price > ref * legacy.multiplier_up or price < ref * legacy.multiplier_down):
        out.append(Violation(FilterName.PERCENT_PRICE, f"price {price} outside the band around average {ref}"))
    return out


def _notional(instrument: Instrument, order_type: OrderType, notional: Decimal | None) -> list[Violation]:
    """NOTIONAL and MIN_NOTIONAL; ``notional`` is None when a MARKET order has no reference price."""
    market = order_type is OrderType.MARKET
    checks: list[tuple[FilterName, str, Decimal]] = []  # (filter, bound kind, bound)
    if instrument.notional is not None:
        f = instrument.notional
        if not market or f.apply_min_to_market:
            checks.append((FilterName.NOTIONAL, "min", f.min_notional))
        if not market or f.apply_max_to_market:
            checks.append((FilterName.NOTIONAL, "max", f.max_notional))
    if instrument.min_notional is not None and (not market or instrument.min_notional.apply_to_market):
        checks.append((FilterName.MIN_NOTIONAL, "min", instrument.min_notional.min_notional))
    out: list[Violation] = []
    for name, kind, bound in checks:
        if notional is None:
            out.append(Violation(name, "MARKET order notional unknown: no reference (average) price given"))
        elif kind == "min" and notional < bound:
            out.append(Violation(name, f"notional {notional} < minNotional {bound}"))
        elif kind == "max" and notional > bound:
            out.append(Violation(name, f"notional {notional} > maxNotional {bound}"))
    return out


def _order_notional(request: OrderRequest, ctx: MarketContext) -> Decimal | None:
    if request.quote_quantity is not None:
        return request.quote_quantity
    assert request.quantity is not None  # OrderRequest guarantees one of the two
    price = request.price if request.price is not None else ctx.reference_price
    return None if price is None else price * request.quantity


def _quantity_rules(instrument: Instrument, request: OrderRequest, ctx: MarketContext) -> list[Violation]:
    qty = request.quantity
    if qty is None:  # quoteOrderQty MARKET: the venue sizes it within LOT_SIZE (rest-api.md)
        return []
    out = _lot_filter(FilterName.LOT_SIZE, instrument.lot_size, qty)
    if request.order_type is OrderType.MARKET and instrument.market_lot_size is not None:
        out += _lot_filter(FilterName.MARKET_LOT_SIZE, instrument.market_lot_size, qty)
    max_position = instrument.max_position
    if max_position is not None and request.side is Side.BUY and ctx.base_position + qty > max_position.max_position:
        out.append(
            Violation(FilterName.MAX_POSITION, f"position {ctx.base_position + qty} > maxPosition {max_position}")
        )
    return out


def check_order(
    instrument: Instrument, request: OrderRequest, ctx: MarketContext | None = None
) -> tuple[Violation, ...]:
    """Every filter the order breaks, as the venue would judge it (no rounding)."""
    ctx = ctx or MarketContext()
    out: list[Violation] = []
    if request.price is not None:
        out += _price_filter(instrument, request.price)
        if ctx.reference_price is not None:
            out += _percent_price(instrument, request.side, request.price, ctx.reference_price)
    out += _quantity_rules(instrument, request, ctx)
    out += _notional(instrument, request.order_type, _order_notional(request, ctx))
    limit = instrument.max_num_orders
    if limit is not None and ctx.open_orders + 1 > limit.max_num_orders:
        out.append(Violation(FilterName.MAX_NUM_ORDERS, f"{ctx.open_orders} open orders, limit {limit.max_num_orders}"))
    return tuple(out)


def normalize_order(
    instrument: Instrument, request: OrderRequest, ctx: MarketContext | None = None
) -> ValidationResult:
    """Round price and quantity per SPEC §1, then check every filter on the rounded order."""
    quantity = request.quantity
    if quantity is not None:
        quantity = round_quantity(instrument, quantity, request.order_type)
    price = request.price
    if price is not None:
        price = round_price(instrument, price, request.side)
    if quantity is not None and quantity <= 0:
        violation = Violation(
            FilterName.LOT_SIZE, f"quantity {request.quantity} rounds to zero at step {instrument.step_size}"
        )
        return ValidationResult(request, (violation,))
    if price is not None and price <= 0:
        violation = Violation(
            FilterName.PRICE_FILTER, f"price {request.price} rounds to zero at tick {instrument.tick_size}"
        )
        return ValidationResult(request, (violation,))
    normalised = request.with_values(quantity=quantity, price=price)
    return ValidationResult(normalised, check_order(instrument, normalised, ctx))
