"""Binance spot JSON shapes for orders, trades, the account and the user data stream.

Key sets and JSON types follow rest-api.md and user-data-stream.md (checked against recorded
responses in ``tests/integration/simserver/test_rest_shapes.py``). Amounts are strings with 8
decimals, as Binance prints them for 8-decimal assets (``"0.00100000"``); times are ms integers.
Orders and trades come from the matching core (:mod:`thunes.simvenue.models`) and are read only.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from thunes.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from thunes.simvenue.candles import Candle
from thunes.simvenue.models import AccountUpdate, Balance, ExecutionReport, SimOrder, SimTrade

__all__ = [
    "RESPONSE_TYPES",
    "Json",
    "account_position_event",
    "amend_response",
    "balance_row",
    "balance_update_event",
    "cancel_response",
    "dec",
    "default_response_type",
    "execution_report_event",
    "expiry_reason",
    "kline",
    "my_trade",
    "new_order_response",
    "next_execution_id",
    "order_query",
]

Json = dict[str, Any]
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
_ZERO = Decimal(0)
_EXECUTION_IDS = itertools.count(1)


def next_execution_id() -> int:
    """A venue-wide increasing execution id (executionReport ``I``, amend ``executionId``)."""
    return next(_EXECUTION_IDS)


def dec(value: Decimal | None, places: int = 8) -> str:
    """``Decimal("0.001")`` -> ``"0.00100000"``; None prints as zero (Binance's MARKET price)."""
    number = _ZERO if value is None else value
    return f"{number:.{places}f}"


def default_response_type(order_type: OrderType) -> str:
    """``newOrderRespType`` when none is sent: FULL for MARKET and LIMIT, ACK otherwise (rest-api.md)."""
    return "FULL" if order_type in (OrderType.MARKET, OrderType.LIMIT) else "ACK"


def _tif(order: SimOrder) -> str:
    return (order.time_in_force or TimeInForce.GTC).value  # Binance reports GTC for MARKET and LIMIT_MAKER


def expiry_reason(order: SimOrder) -> str | None:
    """``expiryReason`` / ``eR`` of an EXPIRED order (user-data-stream.md, Order Expiry Reason)."""
    if order.status is not OrderStatus.EXPIRED:
        return None
    if order.time_in_force is TimeInForce.IOC:
        return "UNFILLED_IOC_QUANTITY_EXPIRED"
    if order.time_in_force is TimeInForce.FOK:
        return "UNFILLED_FOK_ORDER_EXPIRED"
    return "INSUFFICIENT_LIQUIDITY"


def _rests(order: SimOrder) -> bool:
    """True for orders that go on the book when not filled at once."""
    return order.order_type is not OrderType.MARKET and order.time_in_force in (None, TimeInForce.GTC)


def _ack(order: SimOrder, transact_ms: int) -> Json:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": transact_ms,
    }


def _result_fields(order: SimOrder) -> Json:
    out: Json = {
        "price": dec(order.price),
        "origQty": dec(order.orig_qty),
        "executedQty": dec(order.executed_qty),
        "origQuoteOrderQty": dec(order.orig_quote_qty),
        "cummulativeQuoteQty": dec(order.cumulative_quote),
        "status": order.status.value,
        "timeInForce": _tif(order),
        "type": order.order_type.value,
        "side": order.side.value,
    }
    return out


def _fill(trade: SimTrade) -> Json:
    return {
        "price": dec(trade.price),
        "qty": dec(trade.quantity),
        "commission": dec(trade.commission),
        "commissionAsset": trade.commission_asset,
        "tradeId": trade.trade_id,
    }


def new_order_response(order: SimOrder, response_type: str) -> Json:
    """``POST /api/v3/order`` in the ACK, RESULT or FULL shape (FULL adds ``fills``)."""
    out = _ack(order, order.time_ms)
    if response_type == "ACK":
        return out
    out |= _result_fields(order)
    out["workingTime"] = order.working_time_ms
    out["selfTradePreventionMode"] = "NONE"
    reason = expiry_reason(order)
    if reason is not None:
        out["expiryReason"] = reason
    if response_type == "FULL":
        out["fills"] = [_fill(t) for t in order.fills]
    return out


def order_query(order: SimOrder) -> Json:
    """A row of ``GET /api/v3/order``, ``openOrders`` and ``allOrders``."""
    out: Json = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        **_result_fields(order),
        "stopPrice": dec(_ZERO),
        "icebergQty": dec(_ZERO),
        "time": order.time_ms,
        "updateTime": order.update_time_ms,
        "isWorking": True,  # only untriggered stop orders are not working; this venue has none
        "workingTime": order.working_time_ms,
        "selfTradePreventionMode": "NONE",
    }
    reason = expiry_reason(order)
    if reason is not None:
        out["expiryReason"] = reason
    return out


def cancel_response(order: SimOrder, cancel_client_id: str, transact_ms: int) -> Json:
    """``DELETE /api/v3/order``: ``clientOrderId`` names the cancel, ``origClientOrderId`` the order."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": transact_ms,
        **_result_fields(order),
        "selfTradePreventionMode": "NONE",
    }


def amend_response(order: SimOrder, orig_client_id: str, transact_ms: int) -> Json:
    """``PUT /api/v3/order/amend/keepPriority`` for a single order (not part of a list)."""
    return {
        "transactTime": transact_ms,
        "executionId": next_execution_id(),
        "amendedOrder": {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "origClientOrderId": orig_client_id,
            "clientOrderId": order.client_order_id,
            "price": dec(order.price),
            "qty": dec(order.orig_qty),
            "executedQty": dec(order.executed_qty),
            "preventedQty": dec(_ZERO),
            "quoteOrderQty": dec(order.orig_quote_qty),
            "cumulativeQuoteQty": dec(order.cumulative_quote),
            "status": order.status.value,
            "timeInForce": _tif(order),
            "type": order.order_type.value,
            "side": order.side.value,
            "workingTime": order.working_time_ms,
            "selfTradePreventionMode": "NONE",
        },
    }


def my_trade(trade: SimTrade) -> Json:
    """A row of ``GET /api/v3/myTrades``."""
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": dec(trade.price),
        "qty": dec(trade.quantity),
        "quoteQty": dec(trade.quote_quantity),
        "commission": dec(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": trade.time_ms,
        "isBuyer": trade.side is Side.BUY,
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def balance_row(asset: str, balance: Balance) -> Json:
    return {"asset": asset, "free": dec(balance.free), "locked": dec(balance.locked)}


def kline(c: Candle) -> list[int | str]:
    """The 12-field kline array (rest-api.md, Kline/Candlestick data) with 8-decimal amounts."""
    return [
        c.open_ms, dec(c.open), dec(c.high), dec(c.low), dec(c.close), dec(c.volume), c.close_ms,
        dec(c.quote_volume), c.trades, dec(c.taker_buy_volume), dec(c.taker_buy_quote), "0",
    ]  # fmt: skip


# --- user data stream -------------------------------------------------------------------------
def execution_report_event(report: ExecutionReport) -> Json:
    """The ``executionReport`` event (user-data-stream.md, Order Update), unwrapped."""
    order, trade = report.order, report.last_trade
    orig_client = report.orig_client_order_id
    if not orig_client and report.execution_type == "CANCELED":
        orig_client = order.client_order_id  # ``C``: the id of the order being canceled
    event: Json = {
        "e": "executionReport",
        "E": report.event_time_ms,
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side.value,
        "o": order.order_type.value,
        "f": _tif(order),
        "q": dec(order.orig_qty),
        "p": dec(order.price),
        "P": dec(_ZERO),
        "F": dec(_ZERO),
        "g": -1,
        "C": orig_client,
        "x": report.execution_type,
        "X": order.status.value,
        "r": "NONE",
        "i": order.order_id,
        "l": dec(trade.quantity if trade else _ZERO),
        "z": dec(order.executed_qty),
        "L": dec(trade.price if trade else _ZERO),
        "n": dec(trade.commission) if trade else "0",
        "N": trade.commission_asset if trade else None,
        "T": report.event_time_ms,
        "t": trade.trade_id if trade else -1,
        "I": next_execution_id(),
        "w": order.is_open and _rests(order),
        "m": trade.is_maker if trade else False,
        "M": False,
        "O": order.time_ms,
        "Z": dec(order.cumulative_quote),
        "Y": dec(trade.quote_quantity if trade else _ZERO),
        "Q": dec(order.orig_quote_qty),
    }
    if _rests(order):
        event["W"] = order.working_time_ms
    event["V"] = "NONE"
    reason = expiry_reason(order)
    if reason is not None:
        event["eR"] = reason
    return event


def account_position_event(update: AccountUpdate) -> Json:
    """The ``outboundAccountPosition`` event: balances of the assets an event changed."""
    return {
        "e": "outboundAccountPosition",
        "E": update.event_time_ms,
        "u": update.event_time_ms,
        "B": [{"a": asset, "f": dec(free), "l": dec(locked)} for asset, free, locked in update.balances],
    }


def balance_update_event(asset: str, delta: Decimal, event_time_ms: int, clear_time_ms: int) -> Json:
    """The ``balanceUpdate`` event (a deposit or withdrawal of ``delta``)."""
    return {"e": "balanceUpdate", "E": event_time_ms, "a": asset, "d": dec(delta), "T": clear_time_ms}
