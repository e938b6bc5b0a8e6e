"""``domain/rules.py`` is exact for any finite Decimal: checked against a Fraction oracle and the venue's fast path.

Instruments and orders are drawn with long coefficients (up to 45 digits) and exponents far from 28
digits' reach, and values a hair (``1e-40``) beside every bound, where a 28-digit context rounds onto
the bound. The oracle below reads the filters with ``fractions.Fraction`` (exact by construction) and
shares no code with ``rules.py``. NaN, infinite and huge context values must give violations, never
exceptions; and ``FastFilters`` may only accept what ``check_order`` accepts.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from thunes.domain import ClientOrderId, MarketContext, OrderRequest, OrderType, Side, Symbol, check_order
from thunes.domain.fastfilters import FastFilters
from thunes.domain.instrument import (
    FilterName,
    Instrument,
    LotSizeFilter,
    MaxNumOrdersFilter,
    MaxPositionFilter,
    MinNotionalFilter,
    NotionalFilter,
    PercentPriceBySideFilter,
    PercentPriceFilter,
    PriceFilter,
)
from thunes.domain.rules import ceil_to_step, floor_to_step, normalize_order, round_price, round_quantity

D = Decimal
F = Fraction
COID = ClientOrderId("exact-1")
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ODD = [D("NaN"), D("Infinity"), D("-Infinity"), D("1E+60"), D("1E-60"), D("1E+999"), D("-1")]


# --- strategies --------------------------------------------------------------------------------------


def _long(max_digits: int = 45, low_exp: int = -60, high_exp: int = 30) -> st.SearchStrategy[Decimal]:
    """Positive decimals with up to ``max_digits`` significant digits and a wide exponent."""
    return st.builds(
        lambda c, e: D(f"{c}E{e}"),
        st.integers(1, 10**max_digits - 1),
        st.integers(low_exp, high_exp),
    )


def _step() -> st.SearchStrategy[Decimal]:
    """Exchange-like steps (1, 5 or 25 times a power of ten), sometimes long ones."""
    usual = st.builds(lambda c, e: D(f"{c}E{e}"), st.sampled_from([1, 5, 25]), st.integers(-18, 2))
    return st.one_of(usual, usual, _long(12, -30, 2))


_HAIR_EXP = st.integers(-45, -20)
_HAIR_K = st.integers(1, 9)
_WHERE = st.sampled_from([0, -1, 1])
LONG = _long()
STEP = _step()
ZERO = st.just(D(0))
MIN_PRICE = st.one_of(ZERO, _long(30, -20, 2))
MAX_PRICE = st.one_of(ZERO, _long(30, -10, 8))
MIN_QTY = st.one_of(ZERO, _long(30, -20, 2))
MAX_QTY = _long(30, -5, 10)
MARKET_LOT = st.one_of(
    st.none(), st.builds(LotSizeFilter, ZERO, st.one_of(ZERO, _long(20, -5, 10)), st.one_of(ZERO, _step()))
)
NOTIONAL = st.one_of(
    st.none(),
    st.builds(
        NotionalFilter,
        min_notional=_long(35, -20, 3),
        apply_min_to_market=st.booleans(),
        max_notional=_long(30, 0, 10),
        apply_max_to_market=st.booleans(),
        avg_price_mins=st.just(5),
    ),
)
MIN_NOTIONAL = st.one_of(st.none(), st.builds(MinNotionalFilter, _long(35, -20, 3), st.booleans(), st.just(5)))
BAND = st.tuples(_long(10, -9, 0).map(lambda d: 1 + d), _long(10, -9, 0).map(lambda d: 1 / (1 + d)))
BY_SIDE = st.one_of(st.none(), st.tuples(BAND, BAND))
LEGACY = st.one_of(st.none(), BAND)
MAX_ORDERS = st.one_of(st.none(), st.builds(MaxNumOrdersFilter, st.integers(1, 200)))
MAX_POSITION = st.one_of(st.none(), st.builds(MaxPositionFilter, _long(30, -5, 10)))
ORDER_TYPES = st.sampled_from([OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER])
SIDES = st.sampled_from([Side.BUY, Side.SELL])
ODDS = st.sampled_from(ODD)


def _near(draw: st.DrawFn, anchors: list[Decimal]) -> Decimal:
    """One of ``anchors``, or a hair below or above it: where a 28-digit product or quotient rounds onto it."""
    anchor = anchors[draw(st.integers(0, len(anchors) - 1))] if anchors else D(1)
    hair = D(f"{draw(_HAIR_K) * draw(_WHERE)}E{draw(_HAIR_EXP)}")
    with localcontext() as wide:  # the default 28 digits would round the hair away
        wide.prec = 200
        value = anchor + hair
    return value if value > 0 else anchor


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    tick, step = draw(STEP), draw(STEP)
    min_qty, max_qty = draw(MIN_QTY), draw(MAX_QTY)
    by_side, legacy = draw(BY_SIDE), draw(LEGACY)
    return Instrument(
        symbol=Symbol("EXACTUSDT"),
        base_asset="EXACT",
        quote_asset="USDT",
        status="TRADING",
        base_precision=8,
        quote_precision=8,
        order_types=frozenset({OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER}),
        quote_order_qty_market_allowed=True,
        price_filter=PriceFilter(draw(MIN_PRICE), draw(MAX_PRICE), tick),
        lot_size=LotSizeFilter(min_qty, max(max_qty, min_qty), step),
        market_lot_size=draw(MARKET_LOT),
        min_notional=draw(MIN_NOTIONAL),
        notional=draw(NOTIONAL),
        percent_price=None if legacy is None else PercentPriceFilter(legacy[0], legacy[1], 5),
        percent_price_by_side=None
        if by_side is None
        else PercentPriceBySideFilter(by_side[0][0], by_side[0][1], by_side[1][0], by_side[1][1], 5),
        max_num_orders=draw(MAX_ORDERS),
        max_position=draw(MAX_POSITION),
    )


INSTRUMENTS = instruments()


@st.composite
def orders(draw: st.DrawFn) -> tuple[Instrument, OrderRequest, MarketContext]:
    instrument = draw(INSTRUMENTS)
    pf, lot = instrument.price_filter, instrument.lot_size
    order_type, side = draw(ORDER_TYPES), draw(SIDES)
    # Anchors: the bounds themselves, and quantities whose product with the price lands on a notional bound
    price = draw(LONG) if draw(st.booleans()) else _near(draw, [b for b in (pf.min_price, pf.max_price) if b > 0])
    qty_anchors = [b for b in (lot.min_qty, lot.max_qty, lot.step_size * 7) if b > 0]
    bounds = [f.min_notional for f in (instrument.notional, instrument.min_notional) if f is not None]
    with localcontext() as wide:
        wide.prec = 200
        qty_anchors += [b / price for b in bounds]
    quantity: Decimal | None = draw(LONG) if draw(st.booleans()) else _near(draw, qty_anchors)
    quote = None
    if order_type is OrderType.MARKET and draw(st.booleans()):
        quote, quantity = (draw(LONG) if draw(st.booleans()) else _near(draw, bounds)), None
    pick = draw(st.integers(0, 3))
    reference = [None, draw(LONG), _near(draw, [price]), draw(ODDS)][pick]
    base = [D(0), draw(LONG), draw(ODDS)][draw(st.integers(0, 2))]
    request = OrderRequest(
        COID,
        instrument.symbol,
        side,
        order_type,
        quantity=quantity,
        price=price if order_type.has_price else None,
        quote_quantity=quote,
    )
    return instrument, request, MarketContext(reference, draw(st.integers(0, 200)), base)


ORDERS = orders()


# --- the oracle --------------------------------------------------------------------------------------


def _bad(value: Decimal | None) -> bool:
    return value is not None and not value.is_finite()


def oracle(instrument: Instrument, request: OrderRequest, ctx: MarketContext) -> set[FilterName]:
    """Filters broken, read with Fractions straight from each filter's definition."""
    broken: set[FilterName] = set()
    pf, market = instrument.price_filter, request.order_type is OrderType.MARKET
    ref = ctx.reference_price
    if request.price is not None:
        p = F(request.price)
        if (pf.min_price and p < F(pf.min_price)) or (pf.max_price and p > F(pf.max_price)):
            broken.add(FilterName.PRICE_FILTER)
        if pf.tick_size and p % F(pf.tick_size):
            broken.add(FilterName.PRICE_FILTER)
        if ref is not None:
            bands = []
            if (b := instrument.percent_price_by_side) is not None:
                up, down = (
                    (b.bid_multiplier_up, b.bid_multiplier_down)
                    if request.side is Side.BUY
                    else (
                        b.ask_multiplier_up,
                        b.ask_multiplier_down,
                    )
                )
                bands.append((FilterName.PERCENT_PRICE_BY_SIDE, up, down))
            if (legacy := instrument.percent_price) is not None:
                bands.append((FilterName.PERCENT_PRICE, legacy.multiplier_up, legacy.multiplier_down))
            for name, up, down in bands:
                if _bad(ref) or not F(ref) * F(down) <= p <= F(ref) * F(up):
                    broken.add(name)
    if request.quantity is not None:
        q, lot = F(request.quantity), instrument.lot_size
        if q < F(lot.min_qty) or q > F(lot.max_qty) or (lot.step_size and q % F(lot.step_size)):
            broken.add(FilterName.LOT_SIZE)
        mls = instrument.market_lot_size
        if market and mls is not None:
            outside = q < F(mls.min_qty) or (mls.max_qty and q > F(mls.max_qty))
            if outside or (mls.step_size and q % F(mls.step_size)):
                broken.add(FilterName.MARKET_LOT_SIZE)
        mp = instrument.max_position
        buy = mp is not None and request.side is Side.BUY
        if buy and (_bad(ctx.base_position) or F(ctx.base_position) + q > F(mp.max_position)):  # type: ignore[union-attr]
            broken.add(FilterName.MAX_POSITION)
    notional: Fraction | None
    unusable = False
    if request.quote_quantity is not None:
        notional = F(request.quote_quantity)
    else:
        assert request.quantity is not None
        unit = request.price if request.price is not None else ref
        unusable = unit is None or _bad(unit)
        notional = None if unusable or unit is None else F(unit) * F(request.quantity)
    rules: list[tuple[FilterName, str, Decimal]] = []
    if (n := instrument.notional) is not None:
        if not market or n.apply_min_to_market:
            rules.append((FilterName.NOTIONAL, "min", n.min_notional))
        if not market or n.apply_max_to_market:
            rules.append((FilterName.NOTIONAL, "max", n.max_notional))
    if (mn := instrument.min_notional) is not None and (not market or mn.apply_to_market):
        rules.append((FilterName.MIN_NOTIONAL, "min", mn.min_notional))
    for name, kind, bound in rules:
        if notional is None or (notional < F(bound) if kind == "min" else notional > F(bound)):
            broken.add(name)
    if instrument.max_num_orders is not None and ctx.open_orders + 1 > instrument.max_num_orders.max_num_orders:
        broken.add(FilterName.MAX_NUM_ORDERS)
    return broken


def _floor(value: Decimal, step: Decimal) -> Fraction:
    return floor(F(value) / F(step)) * F(step)


# --- properties ----------------------------------------------------------------------------------------


@SETTINGS
@given(value=st.one_of(LONG, LONG.map(lambda d: -d), ZERO), step=STEP)
def test_floor_and_ceil_to_step_when_any_decimal_then_exact(value: Decimal, step: Decimal) -> None:
    assert F(floor_to_step(value, step)) == _floor(value, step)
    assert F(ceil_to_step(value, step)) == ceil(F(value) / F(step)) * F(step)
    with localcontext() as narrow:  # the caller's context changes nothing
        narrow.prec = 3
        assert F(floor_to_step(value, step)) == _floor(value, step)


@SETTINGS
@given(instrument=INSTRUMENTS, value=LONG, side=SIDES, kind=ORDER_TYPES)
def test_round_price_and_quantity_when_any_decimal_then_exact(
    instrument: Instrument, value: Decimal, side: Side, kind: OrderType
) -> None:
    tick, step = instrument.tick_size, instrument.step_size
    want_price = _floor(value, tick) if side is Side.BUY else ceil(F(value) / F(tick)) * F(tick)
    want_qty = _floor(value, step)
    mls = instrument.market_lot_size
    if kind is OrderType.MARKET and mls is not None and mls.step_size:
        want_qty = floor(want_qty / F(mls.step_size)) * F(mls.step_size)

    assert F(round_price(instrument, value, side)) == want_price
    assert F(round_quantity(instrument, value, kind)) == want_qty


@SETTINGS
@given(case=ORDERS)
def test_check_order_when_any_order_then_same_filters_as_fraction_oracle(
    case: tuple[Instrument, OrderRequest, MarketContext],
) -> None:
    instrument, request, ctx = case

    verdict = {v.filter for v in check_order(instrument, request, ctx)}
    with localcontext() as narrow:
        narrow.prec = 6
        narrow_verdict = {v.filter for v in check_order(instrument, request, ctx)}

    assert verdict == oracle(instrument, request, ctx)
    assert narrow_verdict == verdict


@SETTINGS
@given(case=ORDERS)
def test_normalize_order_when_any_order_then_rounded_exactly_and_judged_by_oracle(
    case: tuple[Instrument, OrderRequest, MarketContext],
) -> None:
    instrument, request, ctx = case
    qty = None if request.quantity is None else F(round_quantity(instrument, request.quantity, request.order_type))
    price = None if request.price is None else F(round_price(instrument, request.price, request.side))

    result = normalize_order(instrument, request, ctx)

    if (qty is not None and qty <= 0) or (price is not None and price <= 0):
        assert [v.message for v in result.violations if "rounds to zero" in v.message] == [
            v.message for v in result.violations
        ]
        return
    assert (result.order.quantity is None or F(result.order.quantity) == qty) and (
        result.order.price is None or F(result.order.price) == price
    )
    assert {v.filter for v in result.violations} == oracle(instrument, result.order, ctx)


@SETTINGS
@given(case=ORDERS)
def test_fast_filters_when_any_order_then_accept_only_what_check_order_accepts(
    case: tuple[Instrument, OrderRequest, MarketContext],
) -> None:
    instrument, request, ctx = case
    assume(instrument.max_position is None)
    fast = FastFilters(instrument)

    try:
        accepted = fast.accepts(
            request.side,
            request.order_type,
            request.quantity,
            request.price,
            request.quote_quantity,
            ctx.reference_price,
            ctx.open_orders,
        )
    except ArithmeticError:
        accepted = False

    if accepted:
        assert check_order(instrument, request, ctx) == ()


# --- the instances ----------------------------------------------------------------------------


def _simple(tick: str, step: str, min_notional: str = "0", max_qty: str = "9000") -> Instrument:
    return Instrument(
        symbol=Symbol("ETHBTC"),
        base_asset="ETH",
        quote_asset="BTC",
        status="TRADING",
        base_precision=8,
        quote_precision=8,
        order_types=frozenset({OrderType.LIMIT, OrderType.MARKET}),
        quote_order_qty_market_allowed=True,
        price_filter=PriceFilter(D(tick), D(1000), D(tick)),
        lot_size=LotSizeFilter(D(step), D(max_qty), D(step)),
        notional=NotionalFilter(D(min_notional), True, D(9000000), False, 5),
    )


def test_round_quantity_when_31_digits_then_floor_not_rounded_up() -> None:
    ethbtc = _simple("0.000001", "0.0001")

    assert round_quantity(ethbtc, D("0.666699999999999999999999999999"), OrderType.LIMIT) == D("0.6666")


def test_check_when_notional_a_hair_below_minimum_then_notional_violation() -> None:
    # price * qty = 4.999...875 (31 digits), which 28 digits round to 5.000
    instrument = _simple("0.0000000000000000000000000001", "0.0000000001", min_notional="5")
    request = OrderRequest(
        COID, instrument.symbol, Side.BUY, OrderType.LIMIT, D("2.5"), D("1.9999999999999999999999999995")
    )

    violations = check_order(instrument, request, MarketContext(D(2)))

    assert F(D("2.5")) * F(D("1.9999999999999999999999999995")) < 5
    assert [v.filter for v in violations] == [FilterName.NOTIONAL]


@pytest.mark.parametrize("quantity", ["1e30", "1e300", "1e5000", "1e-5000", "123456789012345678901234567890.123"])
def test_check_and_normalize_when_huge_or_tiny_quantity_then_lot_size_violation_not_exception(quantity: str) -> None:
    ethbtc = _simple("0.000001", "0.0001")
    request = OrderRequest(COID, ethbtc.symbol, Side.BUY, OrderType.LIMIT, D(quantity), D("0.05"))

    checked = check_order(ethbtc, request, MarketContext(D("0.05")))
    normalised = normalize_order(ethbtc, request, MarketContext(D("0.05")))

    assert FilterName.LOT_SIZE in {v.filter for v in checked}
    assert FilterName.LOT_SIZE in {v.filter for v in normalised.violations}


@pytest.mark.parametrize("odd", ODD)
def test_check_when_reference_or_position_not_usable_then_violation_not_exception(odd: Decimal) -> None:
    instrument = _simple("0.01", "0.001", min_notional="5")
    instrument = Instrument(
        **{
            **{f: getattr(instrument, f) for f in instrument.__dataclass_fields__},
            "percent_price": PercentPriceFilter(D(5), D("0.2"), 5),
            "max_position": MaxPositionFilter(D(100)),
        }
    )
    market = OrderRequest(COID, instrument.symbol, Side.BUY, OrderType.MARKET, quantity=D(1))
    limit = OrderRequest(COID, instrument.symbol, Side.BUY, OrderType.LIMIT, D(1), D(10))

    market_verdict = check_order(instrument, market, MarketContext(odd, 0, odd))
    limit_verdict = check_order(instrument, limit, MarketContext(odd, 0, odd))

    assert {v.filter for v in market_verdict} == oracle(instrument, market, MarketContext(odd, 0, odd))
    assert {v.filter for v in limit_verdict} == oracle(instrument, limit, MarketContext(odd, 0, odd))
