from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from thunes.domain import (
    ClientOrderId,
    ExchangeInfo,
    MarketContext,
    OrderRequest,
    OrderType,
    Side,
    Symbol,
    check_order,
    normalize_order,
    parse_exchange_info,
    size_entry,
)
from thunes.domain.rules import round_price, round_quantity
from thunes.domain.sizing import is_exit_feasible, min_entry_quantity

COID = ClientOrderId("r-1")


def _limit(symbol: str, side: Side, qty: str, price: str) -> OrderRequest:
    return OrderRequest(COID, Symbol(symbol), side, OrderType.LIMIT, Decimal(qty), Decimal(price))


def test_round_when_btcusdt_then_buy_down_sell_up_and_quantity_down(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")

    assert round_price(btc, Decimal("25000.019"), Side.BUY) == Decimal("25000.01")
    assert round_price(btc, Decimal("25000.011"), Side.SELL) == Decimal("25000.02")
    assert round_quantity(btc, Decimal("0.0012349"), OrderType.LIMIT) == Decimal("0.00123")


def test_normalize_when_btcusdt_off_grid_then_rounded_and_accepted(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")

    result = normalize_order(btc, _limit("BTCUSDT", Side.BUY, "0.0012349", "25000.019"), MarketContext(Decimal(25000)))

    assert result.ok
    assert result.order.quantity == Decimal("0.00123") and result.order.price == Decimal("25000.01")


def test_check_when_notional_below_5_usdt_then_notional_violation(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")

    violations = check_order(btc, _limit("BTCUSDT", Side.BUY, "0.0001", "25000"), MarketContext(Decimal(25000)))

    assert [v.filter.value for v in violations] == ["NOTIONAL"]
    assert violations[0].reason_code == "FILTERS_NOTIONAL"
    assert "< minNotional 5" in violations[0].message


def test_check_when_market_without_reference_price_then_notional_cannot_pass(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")
    order = OrderRequest(COID, Symbol("BTCUSDT"), Side.BUY, OrderType.MARKET, quantity=Decimal("0.001"))

    violations = check_order(btc, order)

    assert [v.filter.value for v in violations] == ["NOTIONAL"]
    assert "reference" in violations[0].message


def test_check_when_price_far_from_average_then_percent_price_by_side(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")  # bid band 0.2 .. 5 around the average

    low = check_order(btc, _limit("BTCUSDT", Side.BUY, "0.01", "4000"), MarketContext(Decimal(25000)))
    ok = check_order(btc, _limit("BTCUSDT", Side.BUY, "0.01", "5000"), MarketContext(Decimal(25000)))

    assert [v.filter.value for v in low] == ["PERCENT_PRICE_BY_SIDE"]
    assert ok == ()


def test_check_when_open_orders_at_limit_then_max_num_orders(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")  # maxNumOrders 200

    at_limit = check_order(btc, _limit("BTCUSDT", Side.SELL, "0.01", "25000"), MarketContext(Decimal(25000), 200))
    below = check_order(btc, _limit("BTCUSDT", Side.SELL, "0.01", "25000"), MarketContext(Decimal(25000), 199))

    assert [v.filter.value for v in at_limit] == ["MAX_NUM_ORDERS"] and below == ()


def test_normalize_when_quantity_rounds_to_zero_then_lot_size_violation(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")

    result = normalize_order(btc, _limit("BTCUSDT", Side.BUY, "0.000001", "25000"), MarketContext(Decimal(25000)))

    assert not result.ok and result.violations[0].filter.value == "LOT_SIZE"


def test_legacy_min_notional_and_percent_price_when_2021_dump_then_enforced(shared_data: Path) -> None:
    raw = json.loads((shared_data / "binance/nautilus_py_resources/http_spot_market_exchange_info.json").read_text())
    info = parse_exchange_info(raw)
    btc = info.get("BTCUSDT")
    assert btc.min_notional is not None and btc.percent_price is not None

    tiny = check_order(btc, _limit("BTCUSDT", Side.BUY, "0.0001", "60000"), MarketContext(Decimal(60000)))
    far = check_order(btc, _limit("BTCUSDT", Side.BUY, "0.01", "6000"), MarketContext(Decimal(60000)))

    assert "MIN_NOTIONAL" in {v.filter.value for v in tiny}
    assert "PERCENT_PRICE" in {v.filter.value for v in far}


def test_size_entry_when_budget_too_small_for_a_sellable_exit_then_reason(exchange_info: ExchangeInfo) -> None:
    btc = exchange_info.get("BTCUSDT")

    # 5.05 USDT buys a position that, after a 0.1 % base fee and a 5 % dip, is below the 5 USDT minimum.
    sized = size_entry(btc, Decimal("5.05"), Decimal(25000), Decimal("0.001"))
    ok = size_entry(btc, Decimal("15"), Decimal(25000), Decimal("0.001"))

    assert sized.quantity is None and "sellable exit" in sized.reason
    assert ok.quantity == Decimal("0.0006")


@pytest.mark.parametrize("budget", ["0", "-1"])
def test_size_entry_when_budget_not_positive_then_no_quantity(exchange_info: ExchangeInfo, budget: str) -> None:
    assert size_entry(exchange_info.get("BTCUSDT"), Decimal(budget), Decimal(1), Decimal(0)).quantity is None


def test_min_entry_quantity_when_instruments_and_prices_alternate_then_each_its_own_answer(
    exchange_info: ExchangeInfo,
) -> None:
    # The last answer is remembered (an entry asks twice for the same exit price): never another's.
    btc, eth = exchange_info.get("BTCUSDT"), exchange_info.get("ETHUSDT")
    fee = Decimal("0.001")

    asked = [(i, Decimal(p)) for i, p in [(btc, "2000"), (eth, "2000"), (btc, "2000"), (btc, "4000"), (btc, "2000")]]
    answers = [min_entry_quantity(i, p, fee) for i, p in asked]

    # 5 USDT at 2000 is 0.0025 BTC; before a 0.1 % fee, on the step (1e-5): 0.00251. ETH's step is 1e-4.
    assert answers[0] == answers[2] == answers[4] == Decimal("0.00251")
    assert str(answers[0]) == str(answers[2]) == str(answers[4])
    assert answers[1] == Decimal("0.0026")
    assert answers[3] == Decimal("0.00126")
    assert is_exit_feasible(btc, answers[0], Decimal("2000"), fee)
    assert not is_exit_feasible(btc, answers[0] - Decimal("0.00001"), Decimal("2000"), fee)
