from __future__ import annotations

from decimal import Decimal

import pytest

from thunes.domain import (
    ClientOrderId,
    Fill,
    IllegalTransitionError,
    Liquidity,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OverfillError,
    Side,
    Symbol,
    VenueOrderId,
)

COID = ClientOrderId("t-1")
BTC = Symbol("BTCUSDT")


def _order(qty: str = "1.0") -> Order:
    return Order.from_request(OrderRequest(COID, BTC, Side.BUY, OrderType.LIMIT, Decimal(qty), Decimal(100)), 1)


def _fill(qty: str, price: str = "100", trade: str = "1") -> Fill:
    return Fill(COID, trade, BTC, Side.BUY, Decimal(price), Decimal(qty), Decimal(0), "USDT", Liquidity.MAKER, 2)


ALL = list(OrderStatus)
LEGAL = {
    (OrderStatus.NEW, s)
    for s in (
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
    )
} | {
    (OrderStatus.PARTIALLY_FILLED, s)
    for s in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED)
}


def _in_status(status: OrderStatus) -> Order:
    order = _order()
    if status is OrderStatus.NEW:
        return order
    if status is OrderStatus.PARTIALLY_FILLED:
        return order.apply_fill(_fill("0.5"))
    return order.transition(status, 5)


@pytest.mark.parametrize("source", ALL)
@pytest.mark.parametrize("target", ALL)
def test_transition_when_any_pair_then_only_the_state_machine_edges_are_allowed(
    source: OrderStatus, target: OrderStatus
) -> None:
    order = _in_status(source)

    if (source, target) in LEGAL:
        assert order.transition(target, 9).status is target
    else:
        with pytest.raises(IllegalTransitionError, match=f"{source.value} -> {target.value}"):
            order.transition(target, 9)


def test_apply_fill_when_partial_then_full_then_status_and_average_follow() -> None:
    order = _order("1.0")

    part = order.apply_fill(_fill("0.4", "100"))
    full = part.apply_fill(_fill("0.6", "110", trade="2"))

    assert part.status is OrderStatus.PARTIALLY_FILLED and part.remaining_quantity == Decimal("0.6")
    assert full.status is OrderStatus.FILLED and full.remaining_quantity == 0
    assert full.average_price == Decimal("106")
    assert order.status is OrderStatus.NEW  # immutable: the original is untouched


def test_apply_fill_when_fill_exceeds_quantity_then_overfill_error() -> None:
    with pytest.raises(OverfillError):
        _order("1.0").apply_fill(_fill("1.5"))


def test_apply_fill_when_order_is_filled_then_illegal() -> None:
    filled = _order("1.0").apply_fill(_fill("1.0"))

    with pytest.raises(IllegalTransitionError):
        filled.transition(OrderStatus.CANCELED, 3)


def test_accept_when_terminal_then_illegal_and_when_open_then_venue_id_recorded() -> None:
    accepted = _order().accept(VenueOrderId("123"), 2)

    assert accepted.venue_order_id == "123"
    with pytest.raises(IllegalTransitionError):
        accepted.transition(OrderStatus.REJECTED, 3).accept(VenueOrderId("124"), 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order_type": OrderType.LIMIT, "quantity": Decimal(1)}, "needs a price"),
        ({"order_type": OrderType.MARKET, "quantity": Decimal(1), "price": Decimal(1)}, "takes no price"),
        ({"order_type": OrderType.MARKET}, "exactly one"),
        ({"order_type": OrderType.LIMIT, "price": Decimal(1), "quote_quantity": Decimal(1)}, "exactly one|only valid"),
        ({"order_type": OrderType.MARKET, "quantity": Decimal(-1)}, "positive"),
        ({"order_type": OrderType.MARKET, "quantity": Decimal("NaN")}, "positive"),
    ],
)
def test_order_request_when_inconsistent_then_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrderRequest(COID, BTC, Side.BUY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "a" * 37, "has space", "semi;colon"])
def test_client_order_id_when_not_binance_format_then_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="client order id"):
        ClientOrderId(bad)


def test_identifiers_when_distinct_types_then_repr_names_the_type() -> None:
    assert repr(Symbol("ETHUSDT")) == "Symbol('ETHUSDT')"
    with pytest.raises(ValueError, match="symbol"):
        Symbol("eth/usdt")


def test_with_values_when_already_exactly_those_then_self_else_a_copy_with_the_new_digits() -> None:
    request = OrderRequest(COID, BTC, Side.BUY, OrderType.LIMIT, quantity=Decimal("0.00100"), price=Decimal("30000.0"))

    assert request.with_values(quantity=Decimal("0.00100"), price=Decimal("30000.0")) is request
    assert request.with_values() is request
    same_value = request.with_values(quantity=Decimal("0.001"))  # equal, but sent as other digits: a copy
    assert same_value is not request
    assert (str(same_value.quantity), same_value.price) == ("0.001", request.price)
    moved = request.with_values(price=Decimal("29999.99"))
    assert (moved.quantity, moved.price) == (request.quantity, Decimal("29999.99"))
