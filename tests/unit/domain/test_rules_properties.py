"""Property tests of the -1013 guard over every TRADING symbol of the real exchangeInfo dump."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.domain.filters_oracle import oracle_violations
from thunes.domain import (
    ClientOrderId,
    ExchangeInfo,
    MarketContext,
    OrderRequest,
    OrderType,
    Side,
    Symbol,
    check_order,
    is_exit_feasible,
    normalize_order,
    size_entry,
)
from thunes.domain.sizing import exit_quantity

COID = ClientOrderId("prop-test-1")
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def orders(draw: st.DrawFn, trading: list[dict[str, Any]]) -> tuple[dict[str, Any], OrderRequest, Decimal]:
    raw = draw(st.sampled_from(trading))
    pf = next(f for f in raw["filters"] if f["filterType"] == "PRICE_FILTER")
    tick = Decimal(pf["tickSize"])
    max_price = Decimal(pf["maxPrice"])
    ref = tick * draw(st.integers(10, 10**8))
    if max_price > 0:
        ref = min(ref, max_price)
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    order_type = draw(st.sampled_from([OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER]))
    multiplier = draw(st.decimals(min_value=Decimal("0.05"), max_value=Decimal(6), places=5))
    price = (ref * multiplier).quantize(Decimal("1e-12")) if order_type.has_price else None
    notional = draw(st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**8), places=4))
    quantity = (notional / (price or ref)).quantize(Decimal("1e-10"))
    if quantity <= 0 or (price is not None and price <= 0):
        quantity = Decimal(1)
        price = ref if price is not None else None
    request = OrderRequest(COID, Symbol(raw["symbol"]), side, order_type, quantity=quantity, price=price)
    return raw, request, ref


def _oracle(raw: dict[str, Any], request: OrderRequest, ref: Decimal) -> set[str]:
    assert request.quantity is not None
    return oracle_violations(
        raw,
        side=request.side.value,
        order_type=request.order_type.value,
        quantity=request.quantity,
        price=request.price,
        reference_price=ref,
    )


def test_parse_when_full_dump_then_every_trading_symbol_has_price_and_lot_filters(exchange_info: ExchangeInfo) -> None:
    trading = exchange_info.trading()

    assert len(trading) == 1340
    assert len(exchange_info.instruments) == 2292
    assert all(i.tick_size > 0 and i.lot_size.step_size > 0 for i in trading)
    assert {r.rate_limit_type for r in exchange_info.rate_limits} >= {"REQUEST_WEIGHT", "ORDERS"}


def test_normalize_when_any_order_then_verdict_equals_filters_md(
    exchange_info: ExchangeInfo, trading_raw: list[dict[str, Any]]
) -> None:
    verdicts: list[bool] = []

    @SETTINGS
    @given(orders(trading_raw))
    def prop(case: tuple[dict[str, Any], OrderRequest, Decimal]) -> None:
        raw, request, ref = case
        instrument = exchange_info.get(raw["symbol"])

        result = normalize_order(instrument, request, MarketContext(reference_price=ref))

        verdicts.append(result.ok)
        found = {v.filter.value for v in result.violations}
        if any("rounds to zero" in v.message for v in result.violations):
            assert not result.ok
            assert found <= {"LOT_SIZE", "PRICE_FILTER"}
        else:
            assert found == _oracle(raw, result.order, ref)

    prop()
    # Both verdicts must be exercised, or the property proves nothing.
    assert sum(verdicts) > len(verdicts) // 10
    assert len(verdicts) - sum(verdicts) > len(verdicts) // 10


def test_normalize_when_rounding_then_quantity_never_grows_and_price_moves_passive(
    exchange_info: ExchangeInfo, trading_raw: list[dict[str, Any]]
) -> None:
    @SETTINGS
    @given(orders(trading_raw))
    def prop(case: tuple[dict[str, Any], OrderRequest, Decimal]) -> None:
        raw, request, ref = case
        instrument = exchange_info.get(raw["symbol"])

        result = normalize_order(instrument, request, MarketContext(reference_price=ref))

        assert request.quantity is not None and result.order.quantity is not None
        assert result.order.quantity <= request.quantity
        assert request.quantity - result.order.quantity < instrument.step_size
        if request.price is not None and result.order.price is not None and result.order.price > 0:
            moved = result.order.price - request.price
            assert (moved <= 0) if request.side is Side.BUY else (moved >= 0)
            assert abs(moved) < instrument.tick_size

    prop()


def test_check_when_unrounded_order_then_verdict_equals_filters_md(
    exchange_info: ExchangeInfo, trading_raw: list[dict[str, Any]]
) -> None:
    @SETTINGS
    @given(orders(trading_raw))
    def prop(case: tuple[dict[str, Any], OrderRequest, Decimal]) -> None:
        raw, request, ref = case
        instrument = exchange_info.get(raw["symbol"])

        found = {v.filter.value for v in check_order(instrument, request, MarketContext(reference_price=ref))}

        assert found == _oracle(raw, request, ref)

    prop()


@pytest.mark.parametrize("fee_rate", [Decimal("0.001"), Decimal("0.0075")])
def test_size_entry_when_every_trading_symbol_then_entry_and_exit_pass_filters_md(
    exchange_info: ExchangeInfo, trading_raw: list[dict[str, Any]], fee_rate: Decimal
) -> None:
    exit_buffer = Decimal("0.05")
    checked = 0
    for raw in trading_raw:
        instrument = exchange_info.get(raw["symbol"])
        ref = instrument.tick_size * 10_000
        budget = max(instrument.min_notional_for(OrderType.MARKET), instrument.lot_size.min_qty * ref) * 30

        sized = size_entry(instrument, budget, ref, fee_rate, exit_buffer=exit_buffer)

        if sized.quantity is None:  # e.g. maxQty caps the position below a sellable size
            assert "sellable exit needs" in sized.reason
            continue
        checked += 1
        exit_price = ref * (1 - exit_buffer)
        sell_qty = exit_quantity(instrument, sized.quantity, fee_rate)
        entry = _oracle(
            raw, OrderRequest(COID, instrument.symbol, Side.BUY, OrderType.MARKET, quantity=sized.quantity), ref
        )
        exit_ = _oracle(
            raw, OrderRequest(COID, instrument.symbol, Side.SELL, OrderType.MARKET, quantity=sell_qty), exit_price
        )
        assert entry == set(), (raw["symbol"], entry)
        assert exit_ == set(), (raw["symbol"], sized.quantity, sell_qty, exit_)
        assert is_exit_feasible(instrument, sized.quantity, exit_price, fee_rate)
    assert checked > 1300
