from __future__ import annotations

from decimal import Decimal

import pytest

from thunes.domain import ClientOrderId, Fill, Liquidity, Position, PositionError, Side, Symbol

BTC = Symbol("BTCUSDT")


def _fill(side: Side, qty: str, price: str, fee: str = "0", asset: str = "USDT") -> Fill:
    return Fill(
        ClientOrderId("c"), "1", BTC, side, Decimal(price), Decimal(qty), Decimal(fee), asset, Liquidity.TAKER, 10
    )


def _flat() -> Position:
    return Position(BTC, "BTC", "USDT")


def test_apply_when_round_trip_with_quote_fees_then_realized_is_net_of_both_fees() -> None:
    pos = _flat().apply(_fill(Side.BUY, "2", "100", fee="0.2"))

    closed = pos.apply(_fill(Side.SELL, "2", "110", fee="0.22"))

    assert pos.average_price == Decimal("100.1")
    assert closed.quantity == 0 and closed.cost_basis == 0 and not closed.is_open
    assert closed.realized_pnl == Decimal("220") - Decimal("0.22") - Decimal("200.2")
    assert closed.fees_quote == Decimal("0.42")


def test_apply_when_fee_in_base_then_quantity_shrinks_and_cost_keeps_notional() -> None:
    pos = _flat().apply(_fill(Side.BUY, "1", "100", fee="0.001", asset="BTC"))

    assert pos.quantity == Decimal("0.999")
    assert pos.cost_basis == Decimal("100")
    assert pos.unrealized_pnl(Decimal("100")) == Decimal("-0.1")
    assert pos.fees_quote == Decimal("0.1")


def test_apply_when_fee_in_third_asset_then_caller_value_is_used_and_required() -> None:
    fill = _fill(Side.BUY, "1", "100", fee="0.0003", asset="BNB")

    with pytest.raises(PositionError, match="BNB"):
        _flat().apply(fill)
    pos = _flat().apply(fill, third_asset_fee_value=Decimal("0.075"))

    assert pos.cost_basis == Decimal("100.075") and pos.quantity == 1


def test_apply_when_partial_sell_then_realized_uses_average_cost() -> None:
    pos = _flat().apply(_fill(Side.BUY, "1", "100")).apply(_fill(Side.BUY, "1", "200"))

    after = pos.apply(_fill(Side.SELL, "1", "180"))

    assert after.quantity == 1 and after.realized_pnl == Decimal("30")
    assert after.average_price == Decimal("150")
    assert after.unrealized_pnl(Decimal("160")) == Decimal("10")


def test_apply_when_selling_more_than_held_then_position_error() -> None:
    pos = _flat().apply(_fill(Side.BUY, "1", "100"))

    with pytest.raises(PositionError, match="only 1"):
        pos.apply(_fill(Side.SELL, "1.5", "100"))
