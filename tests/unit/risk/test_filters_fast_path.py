"""The risk gate's exchange-filter step with the instrument's FastFilters gives what the full check gives:
the same normalised order (value and digits) and the same denial, over the real dump's TRADING symbols
and orders around every filter's edges. The fast yes only spares ``check_order``; a wrong yes would let
an order reach the venue that Binance refuses (-1013)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thunes.domain import ClientOrderId, Instrument, OrderRequest, OrderType, Side, StrategyId, VenueId
from thunes.domain.exchange_info import parse_exchange_info
from thunes.domain.fastfilters import FastFilters
from thunes.risk import CheckContext, RiskIntent, RiskLimits, TradingState
from thunes.risk.rules import apply_exchange_filters

D = Decimal
COID = ClientOrderId("gate-fast-path")
SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def trading(exchange_info_path: Path) -> list[Instrument]:
    info = parse_exchange_info(json.loads(exchange_info_path.read_text()))
    return [i for i in info.instruments.values() if i.is_trading]


def _around(value: Decimal, unit: Decimal, draw: st.DrawFn) -> Decimal:
    """A value a few units either side of ``value``, sometimes off the unit's grid."""
    steps = draw(st.integers(-3, 3))
    off = draw(st.sampled_from([D(0), D(0), unit / 3, -unit / 7]))
    return value + steps * unit + off


@st.composite
def _case(draw: st.DrawFn, trading: list[Instrument]) -> tuple[Instrument, CheckContext]:
    instrument = draw(st.sampled_from(trading))
    tick, step = instrument.tick_size or D("0.01"), instrument.step_size or D("0.001")
    side = draw(st.sampled_from(list(Side)))
    order_type = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT_MAKER]))
    ref = draw(st.sampled_from([D(1), D("0.0001"), D(30000), D("2.5")]))
    ref = abs(_around(ref, tick, draw)) or tick
    notional = draw(st.sampled_from([instrument.min_notional_for(order_type), D(5), D(10), D(100), D(10**7)]))
    qty = abs(_around(notional / ref, step, draw)) or step
    qty = qty.quantize(D("1E-20")) if qty.as_tuple().exponent < -20 else qty  # type: ignore[operator]
    price = None
    if order_type is not OrderType.MARKET:
        band = draw(st.sampled_from([D(1), D("0.2"), D(5), D("1.3")]))
        price = abs(_around(ref * band, tick, draw)) or tick
    request = OrderRequest(COID, instrument.symbol, side, order_type, qty, price)
    intent = RiskIntent(request, StrategyId("s"), VenueId("sim"), ref, instrument,
                        open_orders=draw(st.integers(0, 210)))  # fmt: skip
    held = draw(st.sampled_from([D(0), qty, qty * 1000]))
    return instrument, CheckContext(intent, request, 0, RiskLimits(), None, TradingState.ACTIVE, D(0), None,
                                    frozenset(), held)  # fmt: skip


def test_exchange_filters_when_fast_path_then_the_full_checks_order_and_denial(trading: list[Instrument]) -> None:
    seen = {"passed": 0, "denied": 0}

    @SETTINGS
    @given(case=_case(trading))
    def check(case: tuple[Instrument, CheckContext]) -> None:
        instrument, ctx = case
        full_order, full_denial = apply_exchange_filters(ctx)
        fast_order, fast_denial = apply_exchange_filters(ctx, FastFilters(instrument))
        assert fast_denial == full_denial
        assert fast_order == full_order and repr(fast_order) == repr(full_order)  # the digits sent, too
        seen["denied" if full_denial else "passed"] += 1

    check()
    assert seen["passed"] > 100 and seen["denied"] > 100  # both ways were exercised
