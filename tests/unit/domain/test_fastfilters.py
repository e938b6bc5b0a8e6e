"""The venue's fast filter check agrees with the domain's full check, over every TRADING symbol of the real dump.

``FastFilters.accepts`` may only say "passes" when ``check_order`` finds nothing (else the venue would
accept an order Binance rejects), and should say it whenever that is so (else the fast path is never
taken). ``accepts_ticks`` must give the same verdict on the same order in ticks and lots.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from thunes.domain import ClientOrderId, Instrument, MarketContext, OrderRequest, OrderType, Side, check_order
from thunes.domain.exchange_info import parse_exchange_info
from thunes.domain.fastfilters import FastFilters

D = Decimal
SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COID = ClientOrderId("fast-filter-test")
ODD = [D(0), D(-1), D("NaN"), D("Infinity"), D("1E+40"), D("1E-40")]


@pytest.fixture(scope="module")
def trading(exchange_info_path: Path) -> list[Instrument]:
    info = parse_exchange_info(json.loads(exchange_info_path.read_text()))
    return [i for i in info.instruments.values() if i.is_trading]


def _full_check_passes(
    instrument: Instrument,
    side: Side,
    order_type: OrderType,
    qty: Decimal | None,
    price: Decimal | None,
    quote: Decimal | None,
    ref: Decimal | None,
    open_orders: int,
) -> bool:
    """What the venue's full check (``validation.check_filters``) concludes: no ValueError, no violation."""
    try:
        request = OrderRequest(COID, instrument.symbol, side, order_type, qty, price, quote, None)
        return not check_order(instrument, request, MarketContext(ref, open_orders))
    except (ValueError, ArithmeticError):
        return False


def _fast(filters: FastFilters, *args: object) -> bool:
    try:
        return filters.accepts(*args)  # type: ignore[arg-type]
    except ArithmeticError:
        return False


def _fast_ticks(filters: FastFilters, *args: object) -> bool:
    try:
        return filters.accepts_ticks(*args)  # type: ignore[arg-type]
    except ArithmeticError:
        return False


def _near(value: Fraction) -> list[int]:
    """The integers around ``value``: where a ``<=`` turns into a ``<``."""
    return [floor(value) - 1, floor(value), ceil(value), ceil(value) + 1]


def _price_edges(instrument: Instrument, side: Side, ref: Decimal | None) -> list[int]:
    """Tick counts at the edges of PRICE_FILTER and PERCENT_PRICE* for ``side``."""
    tick = Fraction(instrument.tick_size)
    bounds = [instrument.price_filter.min_price, instrument.price_filter.max_price]
    if ref is not None:
        by_side, legacy = instrument.percent_price_by_side, instrument.percent_price
        if by_side is not None:
            bounds += (
                [ref * by_side.bid_multiplier_up, ref * by_side.bid_multiplier_down]
                if side is Side.BUY
                else [ref * by_side.ask_multiplier_up, ref * by_side.ask_multiplier_down]
            )
        if legacy is not None:
            bounds += [ref * legacy.multiplier_up, ref * legacy.multiplier_down]
    return [t for b in bounds if b > 0 for t in _near(Fraction(b) / tick) if t > 0] or [1]


def _lot_edges(instrument: Instrument, price: Decimal | None) -> list[int]:
    """Lot counts at the edges of LOT_SIZE, MARKET_LOT_SIZE and the notional filters at ``price``."""
    step = Fraction(instrument.step_size)
    bounds = [instrument.lot_size.min_qty, instrument.lot_size.max_qty]
    if instrument.market_lot_size is not None:
        bounds += [instrument.market_lot_size.min_qty, instrument.market_lot_size.max_qty]
    if price is not None and price > 0:
        notional = [instrument.notional.min_notional, instrument.notional.max_notional] if instrument.notional else []
        notional += [instrument.min_notional.min_notional] if instrument.min_notional else []
        bounds += [n / price for n in notional]
    return [n for b in bounds if b > 0 for n in _near(Fraction(b) / step) if n > 0] or [1]


@st.composite
def _orders(draw: st.DrawFn, trading: list[Instrument]) -> tuple[Instrument, tuple[object, ...], tuple[int, int]]:
    """An instrument, ``accepts`` arguments (often right at a filter's edge), and the (ticks, lots) they came from."""
    instrument = draw(st.sampled_from(trading))
    tick, step = instrument.tick_size, instrument.step_size
    ref_ticks = draw(st.integers(1, 10**9))
    if instrument.price_filter.max_price > 0:
        ref_ticks = min(ref_ticks, max(1, int(instrument.price_filter.max_price / tick)))
    ref = draw(st.sampled_from([None, tick * ref_ticks, tick * ref_ticks]))
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    order_type = draw(st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]))
    multiplier = draw(st.decimals(min_value=D("0.01"), max_value=D(8), places=3))
    ticks = max(1, int(ref_ticks * multiplier)) + draw(st.integers(-2, 2))
    if draw(st.booleans()):
        ticks = draw(st.sampled_from(_price_edges(instrument, side, ref)))
    notional = draw(st.decimals(min_value=D("0.01"), max_value=D(10**7), places=2))
    lots = int(notional / (tick * max(ticks, 1)) / step) + draw(st.integers(-2, 2))
    if draw(st.booleans()):
        at = ref if order_type is OrderType.MARKET else tick * ticks
        lots = draw(st.sampled_from(_lot_edges(instrument, at)))
    price: Decimal | None = tick * ticks
    qty: Decimal | None = step * lots
    quote: Decimal | None = None
    bend = draw(st.integers(0, 19))
    if bend == 0:
        price = draw(st.sampled_from(ODD))
    elif bend == 1:
        qty = draw(st.sampled_from(ODD))
    elif bend == 2:
        price = tick * ticks + tick / 3  # off the tick
    elif bend == 3:
        qty = step * lots + step / 7  # off the step
    if order_type is OrderType.MARKET:
        price = None
        if draw(st.booleans()):
            edges = [instrument.notional.min_notional, instrument.notional.max_notional] if instrument.notional else []
            qty, quote = None, draw(st.sampled_from([*ODD, notional, notional, *edges]))
    limit = instrument.max_num_orders.max_num_orders if instrument.max_num_orders else 200
    open_orders = draw(st.sampled_from([0, 1, limit - 1, limit, limit + 1]))
    return instrument, (side, order_type, qty, price, quote, ref, open_orders), (ticks, lots)


@pytest.mark.slow
def test_accepts_when_any_order_then_same_verdict_as_the_full_check(trading: list[Instrument]) -> None:
    verdicts: list[bool] = []

    @SETTINGS
    @given(_orders(trading))
    def prop(case: tuple[Instrument, tuple[object, ...], tuple[int, int]]) -> None:
        instrument, args, _ = case
        full = _full_check_passes(instrument, *args)  # type: ignore[arg-type]

        fast = _fast(FastFilters(instrument), *args)

        if instrument.max_position is not None:
            assert fast is False  # MAX_POSITION needs the account: always the full check
        else:
            assert fast == full, (instrument.symbol, args)
        verdicts.append(fast)

    prop()
    # Both verdicts must be exercised, or the property proves nothing.
    assert len(verdicts) // 10 < sum(verdicts) < len(verdicts) - len(verdicts) // 10


@pytest.mark.slow
def test_accepts_ticks_when_same_order_in_ticks_and_lots_then_same_verdict_as_decimal(
    trading: list[Instrument],
) -> None:
    verdicts: list[bool] = []

    @SETTINGS
    @given(_orders(trading))
    def prop(case: tuple[Instrument, tuple[object, ...], tuple[int, int]]) -> None:
        instrument, (side, order_type, _, _, _, ref, open_orders), (ticks, lots) = case
        assume(ticks > 0 and lots > 0)
        filters = FastFilters(instrument)
        qty, price = lots * instrument.step_size, ticks * instrument.tick_size
        market = order_type is OrderType.MARKET

        decimal = _fast(filters, side, order_type, qty, None if market else price, None, ref, open_orders)
        integer = _fast_ticks(filters, side, order_type, lots, qty, ticks, ref, open_orders)

        assert integer == decimal, (instrument.symbol, side, order_type, lots, ticks, ref, open_orders)
        verdicts.append(integer)

    prop()
    assert len(verdicts) // 10 < sum(verdicts) < len(verdicts) - len(verdicts) // 10


def test_accepts_ticks_when_beyond_exact_decimal_then_left_to_the_full_check(trading: list[Instrument]) -> None:
    btc = next(i for i in trading if i.symbol == "BTCUSDT")
    unbounded = replace(
        btc, price_filter=replace(btc.price_filter, max_price=D(0)), notional=None, percent_price_by_side=None
    )
    filters = FastFilters(unbounded)

    fine = filters.accepts_ticks(Side.BUY, OrderType.LIMIT, 1, unbounded.step_size, 10**20, None, 0)
    huge = filters.accepts_ticks(
        Side.BUY, OrderType.LIMIT, 1, unbounded.step_size, 10**40, None, 0
    )  # 10**38 USDT: not exact in Decimal

    assert (fine, huge) == (True, False)


def test_accepts_when_average_price_moves_then_band_follows(trading: list[Instrument]) -> None:
    instrument = next(
        i for i in trading if i.percent_price_by_side is not None and i.max_position is None and i.symbol == "BTCUSDT"
    )
    filters = FastFilters(instrument)
    price, qty = D(30_000), D("0.01")
    up = instrument.percent_price_by_side.bid_multiplier_up  # type: ignore[union-attr]

    inside = filters.accepts(Side.BUY, OrderType.LIMIT, qty, price, None, D(30_000), 0)
    outside = filters.accepts(Side.BUY, OrderType.LIMIT, qty, price, None, price / up / 2, 0)
    inside_again = filters.accepts_ticks(Side.BUY, OrderType.LIMIT, 1_000, D("0.01"), 3_000_000, D(30_000), 0)

    assert (inside, outside, inside_again) == (True, False, True)
