"""Each pre-trade rule in isolation, over a hand-built context."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from thunes.domain import ClientOrderId, DenialReason, OrderRequest, OrderType, Side, Symbol
from thunes.risk import CheckContext, RiskLimits, TradingState
from thunes.risk.rules import (
    CoolDownRule,
    DailyLossRule,
    ExitFeasibilityRule,
    HeldQuantityRule,
    MaxOpenPositionsRule,
    MaxOrderNotionalRule,
    OnePositionPerSymbolRule,
    TradingStateRule,
    apply_exchange_filters,
    order_notional,
)

from . import T0, btc_instrument, buy, intent, sell

BTC = Symbol("BTCUSDT")


def ctx(request: OrderRequest | None = None, **changes: object) -> CheckContext:
    request = request or buy()
    base = CheckContext(
        intent=intent(request),
        order=request,
        now_ns=T0,
        limits=RiskLimits(),
        equity=None,
        trading_state=TradingState.ACTIVE,
        realized_pnl_today=Decimal(0),
        cool_down_until_ns=None,
        open_symbols=frozenset(),
        held_quantity=Decimal(0),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "request_", "held", "expected"),
    [
        (TradingState.ACTIVE, buy(), "0", None),
        (TradingState.REDUCING, buy(), "0", DenialReason.KILL_SWITCH),
        (TradingState.REDUCING, sell(quantity="0.0002"), "0.0002", None),
        (TradingState.REDUCING, sell(quantity="0.0003"), "0.0002", DenialReason.KILL_SWITCH),
        (TradingState.HALTED, sell(quantity="0.0002"), "0.0002", DenialReason.TRADING_HALTED),
    ],
)
def test_trading_state_rule(
    state: TradingState, request_: OrderRequest, held: str, expected: DenialReason | None
) -> None:
    denial = TradingStateRule().evaluate(ctx(request_, trading_state=state, held_quantity=Decimal(held)))

    assert (denial.reason if denial else None) is expected


def test_held_quantity_rule_when_selling_more_than_held_then_insufficient_balance() -> None:
    rule = HeldQuantityRule()

    assert rule.evaluate(ctx(sell(quantity="0.0002"), held_quantity=Decimal("0.0002"))) is None
    denial = rule.evaluate(ctx(sell(quantity="0.0003"), held_quantity=Decimal("0.0002")))
    assert denial is not None and denial.reason is DenialReason.INSUFFICIENT_BALANCE
    assert rule.evaluate(ctx(buy())) is None


def test_held_quantity_rule_when_quote_sized_sell_then_estimated_at_reference() -> None:
    request = OrderRequest(ClientOrderId("s1"), BTC, Side.SELL, OrderType.MARKET, quote_quantity=Decimal(10))

    within = HeldQuantityRule().evaluate(ctx(request, held_quantity=Decimal("0.0002")))  # 10 / 50,000
    beyond = HeldQuantityRule().evaluate(ctx(request, held_quantity=Decimal("0.0001")))

    assert within is None and beyond is not None


@pytest.mark.parametrize(("pnl", "denied"), [("-19.99", False), ("-20", True), ("-25", True), ("5", False)])
def test_daily_loss_rule_denies_from_the_limit_on(pnl: str, denied: bool) -> None:
    denial = DailyLossRule().evaluate(ctx(realized_pnl_today=Decimal(pnl)))

    assert (denial is not None) is denied


def test_daily_loss_rule_uses_equity_fraction_when_tighter() -> None:
    limits = RiskLimits(max_daily_loss_equity_fraction=Decimal("0.01"))

    denial = DailyLossRule().evaluate(
        ctx(limits=limits, equity=Decimal(500), realized_pnl_today=Decimal(-5))
    )  # 1 % of 500 = 5

    assert denial is not None and denial.reason is DenialReason.DAILY_LOSS


def test_cool_down_rule_until_the_instant_it_ends() -> None:
    rule = CoolDownRule()

    running = rule.evaluate(ctx(cool_down_until_ns=T0 + 1))
    ended = rule.evaluate(ctx(cool_down_until_ns=T0))

    assert running is not None and running.reason is DenialReason.COOL_DOWN
    assert ended is None


def test_one_position_per_symbol_rule_and_its_switch() -> None:
    held = frozenset({BTC})

    denial = OnePositionPerSymbolRule().evaluate(ctx(open_symbols=held))
    allowed = OnePositionPerSymbolRule().evaluate(
        ctx(open_symbols=held, limits=RiskLimits(one_position_per_symbol=False))
    )

    assert denial is not None and denial.reason is DenialReason.DUPLICATE_POSITION
    assert allowed is None


def test_max_open_positions_rule_counts_new_symbols_only() -> None:
    full = frozenset({Symbol("AAAUSDT"), Symbol("BBBUSDT"), BTC})

    new_symbol = MaxOpenPositionsRule().evaluate(ctx(buy("ETHUSDT"), open_symbols=full))
    same_symbol = MaxOpenPositionsRule().evaluate(ctx(buy("BTCUSDT"), open_symbols=full))
    room = MaxOpenPositionsRule().evaluate(ctx(buy("ETHUSDT"), open_symbols=frozenset({BTC})))

    assert new_symbol is not None and new_symbol.reason is DenialReason.POSITION_LIMIT
    assert same_symbol is None and room is None


@pytest.mark.parametrize(("quantity", "denied"), [("0.0003", False), ("0.00031", True)])
def test_max_order_notional_rule_at_the_boundary(quantity: str, denied: bool) -> None:
    denial = MaxOrderNotionalRule().evaluate(ctx(buy(quantity=quantity)))  # 15.0 vs 15.5

    assert (denial is not None) is denied


def test_order_notional_prices_market_orders_at_the_reference() -> None:
    market = buy(price=None)

    assert order_notional(market, Decimal(40000)) == Decimal("8.0000")
    assert order_notional(market, None) is None
    assert order_notional(buy(price="100"), None) == Decimal("0.0200")


def test_exit_feasibility_rule_abstains_without_instrument() -> None:
    tiny = buy(quantity="0.00001")

    assert ExitFeasibilityRule().evaluate(ctx(tiny)) is None
    with_instrument = ctx(tiny, intent=intent(tiny, instrument=btc_instrument()))
    denial = ExitFeasibilityRule().evaluate(with_instrument)
    assert denial is not None and denial.reason is DenialReason.EXIT_INFEASIBLE


def test_apply_exchange_filters_names_every_broken_filter() -> None:
    bad = buy(quantity="0.00005", price="50000")
    context = ctx(bad, intent=intent(bad, instrument=btc_instrument()))

    order, denial = apply_exchange_filters(context)

    assert order is bad
    assert denial is not None and denial.reason is DenialReason.FILTERS
    assert denial.detail.startswith("FILTERS_NOTIONAL: notional")
