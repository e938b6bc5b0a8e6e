"""Exchange rules: round and check an order against every symbol filter before it is sent.

This is the -1013 guard: an order that passes :func:`check_order` satisfies every filter exactly as
``filters.md`` (Binance spot API docs) states it, so the venue can never answer
``Filter failure: <NAME>``. Rounding follows SPEC §1: limit prices round toward the passive side
(BUY down, SELL up), quantities always round down to the step.

Every computation is exact for any finite ``Decimal`` (:mod:`thunes.domain.exact`), whatever its digits
or the thread's decimal context; a value that is NaN, infinite or beyond exact reach breaks the filter
it meets (a violation, never an exception).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from thunes.domain import exact
from thunes.domain.enums import OrderType, Side
from thunes.domain.exact import TRAPPING as _T
from thunes.domain.instrument import FilterName, Instrument, LotSizeFilter
from thunes.domain.orders import OrderRequest

__all__ = [
    "MarketContext",
    "ValidationResult",
    "Violation",
    "check_order",
    "floor_to_step",
    "normalize_order",
    "round_order",
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


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Either a normalised order (no violations) or the list of filters it breaks."""

    order: OrderRequest
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``value``; ``step == 0`` or a non-finite ``value`` leaves it.

    Raises :class:`~thunes.domain.exact.OutOfRangeError` only for magnitudes no order has (``1e20000``).
    """
    if step == 0 or not value.is_finite():
        return value
    try:  # the exact result when the trapping context returns one (nearly always), else the wide path
        rest = _T.remainder(value, step)
        if not rest:
            return value
        below = _T.subtract(value, rest)
        return below if value > 0 else _T.subtract(below, step)
    except ArithmeticError:
        return exact.floor_div(value, step)[0]


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` not below ``value``; ``step == 0`` or a non-finite ``value`` leaves it."""
    if step == 0 or not value.is_finite():
        return value
    return floor_to_step(value.copy_negate(), step).copy_negate()


def _normalized(value: Decimal) -> Decimal:
    """Trailing zeros stripped, exactly; zero and non-finite values as they are."""
    if not value or not value.is_finite():
        return value
    try:
        return _T.normalize(value)
    except ArithmeticError:
        return exact.normalize(value)


def round_price(instrument: Instrument, price: Decimal, side: Side) -> Decimal:
    """Round to the tick toward the passive side: BUY down, SELL up (SPEC §1)."""
    tick = instrument.price_filter.tick_size
    return _normalized(floor_to_step(price, tick) if side is Side.BUY else ceil_to_step(price, tick))


def round_quantity(instrument: Instrument, quantity: Decimal, order_type: OrderType) -> Decimal:
    """Round down to LOT_SIZE's step, and for MARKET orders to MARKET_LOT_SIZE's step too."""
    rounded = floor_to_step(quantity, instrument.lot_size.step_size)
    market = instrument.market_lot_size
    if order_type is OrderType.MARKET and market is not None and market.step_size:  # step 0 rounds nothing
        rounded = floor_to_step(rounded, market.step_size)
    return _normalized(rounded)


def _on_step(value: Decimal, step: Decimal) -> bool:
    """Exactly a multiple of ``step`` (0: no step rule); too far apart to tell counts as off it."""
    if not step:
        return True
    try:
        return not _T.remainder(value, step)
    except ArithmeticError:
        return exact.is_multiple(value, step)


def _product(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` exactly (finite operands)."""
    try:
        return _T.multiply(a, b)
    except ArithmeticError:
        return exact.multiply(a, b)


def _not_finite(name: FilterName, what: str, value: Decimal) -> Violation:
    """The violation for a value no filter can judge (NaN, infinite)."""
    return Violation(name, f"{what} {value} is not a finite number")


def _price_filter(instrument: Instrument, price: Decimal) -> list[Violation]:
    f = instrument.price_filter
    if not price.is_finite():
        return [_not_finite(FilterName.PRICE_FILTER, "price", price)]
    out: list[Violation] = []
    if f.min_price > 0 and price < f.min_price:
        out.append(Violation(FilterName.PRICE_FILTER, f"price {price} < minPrice {f.min_price}"))
    if f.max_price > 0 and price > f.max_price:
        out.append(Violation(FilterName.PRICE_FILTER, f"price {price} > maxPrice {f.max_price}"))
    try:  # _on_step inlined: this runs for every order
        on_step = not f.tick_size or not _T.remainder(price, f.tick_size)
    except ArithmeticError:
        on_step = _on_step(price, f.tick_size)
    if not on_step:
        out.append(Violation(FilterName.PRICE_FILTER, f"price {price} is not a multiple of tickSize {f.tick_size}"))
    return out


def _lot_filter(name: FilterName, f: LotSizeFilter, qty: Decimal) -> list[Violation]:
    # For MARKET_LOT_SIZE a zero bound means "no bound" (it is published as all zeros when unused).
    market = name is FilterName.MARKET_LOT_SIZE
    if not qty.is_finite():
        return [_not_finite(name, "quantity", qty)]
    out: list[Violation] = []
    if qty < f.min_qty:
        out.append(Violation(name, f"quantity {qty} < minQty {f.min_qty}"))
    if not (market and f.max_qty == 0) and qty > f.max_qty:
        out.append(Violation(name, f"quantity {qty} > maxQty {f.max_qty}"))
    try:  # _on_step inlined: this runs for every order
        on_step = not f.step_size or not _T.remainder(qty, f.step_size)
    except ArithmeticError:
        on_step = _on_step(qty, f.step_size)
    if not on_step:
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
        _band(out, FilterName.PERCENT_PRICE_BY_SIDE, f"{side.value} price", price, ref, up, down)
    legacy = instrument.percent_price
    if legacy is not None:
        _band(out, FilterName.PERCENT_PRICE, "price", price, ref, legacy.multiplier_up, legacy.multiplier_down)
    return out


def _band(
    out: list[Violation], name: FilterName, what: str, price: Decimal, ref: Decimal, up: Decimal, down: Decimal
) -> None:
    """``ref * down <= price <= ref * up``, with exact products; an unusable average breaks the band."""
    if not (price.is_finite() and ref.is_finite()):
        out.append(_not_finite(name, "average price", ref))
        return
    try:
        try:  # _product inlined: this runs for every limit order
            low, high = _T.multiply(ref, down), _T.multiply(ref, up)
        except ArithmeticError:
            low, high = exact.multiply(ref, down), exact.multiply(ref, up)
    except exact.OutOfRangeError as e:
        out.append(Violation(name, f"average price {ref} out of range: {e}"))
        return
    if price > high or price < low:
        out.append(Violation(name, f"{what} {price} outside [{low}, {high}] around average {ref}"))


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
    unusable = notional is not None and not notional.is_finite()
    for name, kind, bound in checks:
        if notional is None:
            out.append(Violation(name, "MARKET order notional unknown: no reference (average) price given"))
        elif unusable:
            out.append(Violation(name, f"notional {notional} is not a finite number"))
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
    if price is None:
        return None
    if not (price.is_finite() and request.quantity.is_finite()):
        return Decimal("NaN")  # judged unusable by every notional rule
    try:
        return _product(price, request.quantity)
    except exact.OutOfRangeError:
        return Decimal("NaN")


def _quantity_rules(instrument: Instrument, request: OrderRequest, ctx: MarketContext) -> list[Violation]:
    qty = request.quantity
    if qty is None:  # quoteOrderQty MARKET: the venue sizes it within LOT_SIZE (rest-api.md)
        return []
    out = _lot_filter(FilterName.LOT_SIZE, instrument.lot_size, qty)
    if request.order_type is OrderType.MARKET and instrument.market_lot_size is not None:
        out += _lot_filter(FilterName.MARKET_LOT_SIZE, instrument.market_lot_size, qty)
    max_position = instrument.max_position
    if max_position is not None and request.side is Side.BUY:
        position = _sum(ctx.base_position, qty)
        if position is None:
            text = f"position {ctx.base_position} + {qty} is not a finite number"
            out.append(Violation(FilterName.MAX_POSITION, text))
        elif position > max_position.max_position:
            out.append(Violation(FilterName.MAX_POSITION, f"position {position} > maxPosition {max_position}"))
    return out


def _sum(a: Decimal, b: Decimal) -> Decimal | None:
    """``a + b`` exactly, or None when either is not finite or they are too far apart to add exactly."""
    if not (a.is_finite() and b.is_finite()):
        return None
    try:
        return exact.add(a, b)
    except exact.OutOfRangeError:
        return None


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


def round_order(instrument: Instrument, request: OrderRequest) -> OrderRequest | Violation:
    """``request`` with price and quantity rounded per SPEC §1 (``request`` itself when they already are,
    digits included), or the violation when they cannot be (out of range, rounds to zero)."""
    quantity = request.quantity
    if quantity is not None:
        try:
            quantity = round_quantity(instrument, quantity, request.order_type)
        except exact.OutOfRangeError as e:
            return Violation(FilterName.LOT_SIZE, f"quantity {request.quantity} out of range: {e}")
    price = request.price
    if price is not None:
        try:
            price = round_price(instrument, price, request.side)
        except exact.OutOfRangeError as e:
            return Violation(FilterName.PRICE_FILTER, f"price {request.price} out of range: {e}")
    if quantity is not None and quantity <= 0:
        return Violation(
            FilterName.LOT_SIZE, f"quantity {request.quantity} rounds to zero at step {instrument.step_size}"
        )
    if price is not None and price <= 0:
        return Violation(
            FilterName.PRICE_FILTER, f"price {request.price} rounds to zero at tick {instrument.tick_size}"
        )
    return request.with_values(quantity=quantity, price=price)


def normalize_order(
    instrument: Instrument, request: OrderRequest, ctx: MarketContext | None = None
) -> ValidationResult:
    """Round price and quantity per SPEC §1, then check every filter on the rounded order."""
    rounded = round_order(instrument, request)
    if isinstance(rounded, Violation):
        return ValidationResult(request, (rounded,))
    return ValidationResult(rounded, check_order(instrument, rounded, ctx))
