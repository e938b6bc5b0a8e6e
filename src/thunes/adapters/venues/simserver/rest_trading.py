"""Order endpoints (rest-api.md, "Trading endpoints" and the order queries of "Account Endpoints").

Parameters are parsed here with Binance's request-level errors (-1100, -1102, -1104, -1111,
-1115/-1116/-1117); the matching core then applies its own checks (-1013 filters, -2010, -2011,
-2013). Order types Binance knows but this venue does not list (stops, take-profits) and
icebergs are rejected with the -2010 messages Binance uses for a symbol without them.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from thunes.adapters.venues.simserver import formats as fmt
from thunes.adapters.venues.simserver.auth import Security
from thunes.adapters.venues.simserver.rest_params import Params, invalid
from thunes.adapters.venues.simserver.rest_types import Ctx, Endpoint, Reply, endpoint
from thunes.domain.enums import OrderType, Side, TimeInForce
from thunes.simvenue import errors as err
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import SimOrder
from thunes.simvenue.validation import CLIENT_ID, OrderParams

__all__ = ["ENDPOINTS", "NEW_ORDER_PARAMS", "parse_new_order"]

BINANCE_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
STP_MODES = ("NONE", "EXPIRE_MAKER", "EXPIRE_TAKER", "EXPIRE_BOTH", "DECREMENT", "TRANSFER")
NEW_ORDER_PARAMS = (
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId",
    "stopPrice", "trailingDelta", "icebergQty", "newOrderRespType", "selfTradePreventionMode",
)  # fmt: skip
_ID_CHARS = string.ascii_letters + string.digits


def _new_client_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


def _order_type(p: Params) -> OrderType:
    value = p.choice("type", BINANCE_TYPES, VenueError(-1116, "Invalid orderType."), required=True)
    assert value is not None
    if value not in OrderType.__members__:
        raise err.new_order_rejected(
            f"{value.replace('_', ' ').capitalize()} orders are not supported for this symbol."
        )
    return OrderType(value)


def _unsupported(p: Params) -> None:
    """Parameters of features this venue does not offer, answered as Binance does for such a symbol."""
    if "icebergQty" in p:
        raise err.new_order_rejected("Iceberg orders are not supported for this symbol.")
    for name in ("stopPrice", "trailingDelta"):
        if name in p:
            raise err.not_required(name)
    stp = p.choice("selfTradePreventionMode", STP_MODES, invalid("selfTradePreventionMode"))
    if stp not in (None, "NONE"):
        raise VenueError(-1013, "This symbol does not allow the specified self-trade prevention mode.")


def parse_new_order(ctx: Ctx) -> tuple[OrderParams, str]:
    """``POST /api/v3/order`` parameters as :class:`OrderParams`, and the ``newOrderRespType``."""
    p, venue = ctx.params, ctx.state.venue
    symbol = p.symbol(venue.symbols)
    if ctx.state.halted is not None:  # exchangeInfo shows HALT: errors.md's message for a closed symbol
        raise err.new_order_rejected("Market is closed.")
    instrument = venue.market(symbol).instrument
    side = p.choice("side", ("BUY", "SELL"), VenueError(-1117, "Invalid side."), required=True) or ""
    order_type = _order_type(p)
    tif = p.choice("timeInForce", ("GTC", "IOC", "FOK"), VenueError(-1115, "Invalid timeInForce."))
    client_id = p.text("newClientOrderId")
    response = p.choice("newOrderRespType", fmt.RESPONSE_TYPES, invalid("newOrderRespType"))
    _unsupported(p)
    params = OrderParams(
        symbol,
        Side(side),
        order_type,
        quantity=p.decimal("quantity", places=instrument.base_precision),
        quote_order_qty=p.decimal("quoteOrderQty", places=instrument.quote_precision),
        price=p.decimal("price", places=instrument.quote_precision),
        time_in_force=TimeInForce(tif) if tif else None,
        client_order_id=client_id,
    )
    return params, response or fmt.default_response_type(order_type)


def _place(ctx: Ctx) -> Reply:
    params, response = parse_new_order(ctx)
    ctx.limiter.check_orders(ctx.account)
    order = ctx.state.venue.place_order(ctx.account, params)
    return Reply(fmt.new_order_response(order, response), headers=ctx.limiter.count_order(ctx.account, order))


def _test_order(ctx: Ctx) -> dict[str, Any]:
    params, _ = parse_new_order(ctx)
    with_rates = ctx.params.boolean("computeCommissionRates", False)
    ctx.state.venue.place_order(ctx.account, params, test=True)
    if not with_rates:
        return {}
    rate = fmt.dec(ctx.state.venue.market(params.symbol).fee_rate)
    zero = {"maker": fmt.dec(None), "taker": fmt.dec(None)}
    return {
        "standardCommissionForOrder": {"maker": rate, "taker": rate},
        "specialCommissionForOrder": zero,
        "taxCommissionForOrder": zero,
        "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                     "discount": fmt.dec(None)},
    }  # fmt: skip


def _order_ref(
    p: Params, id_name: str = "orderId", client_name: str = "origClientOrderId"
) -> tuple[int | None, str | None]:
    order_id, client_id = p.long(id_name), p.text(client_name)
    if order_id is None and client_id is None:
        raise VenueError(-1102, f"Param '{client_name}' or '{id_name}' must be sent, but both were empty/null!")
    return order_id, client_id


def _cancel_one(ctx: Ctx, symbol: str, ref: tuple[int | None, str | None], restriction: str | None) -> dict[str, Any]:
    venue = ctx.state.venue
    if restriction is not None:
        try:
            current = venue.get_order(ctx.account, symbol, *ref)
        except VenueError:
            raise err.cancel_rejected() from None
        if current.is_open and current.status.value != restriction.removeprefix("ONLY_"):
            raise err.cancel_rejected("Order was not canceled due to cancel restrictions.")
    cancel_id = ctx.params.text("newClientOrderId") or _new_client_id()
    if not CLIENT_ID.fullmatch(cancel_id):
        raise err.illegal_chars("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$")
    order = venue.cancel_order(ctx.account, symbol, *ref)
    return fmt.cancel_response(order, cancel_id, order.update_time_ms)


def _restriction(p: Params, name: str = "cancelRestrictions") -> str | None:
    allowed = ("ONLY_NEW", "ONLY_PARTIALLY_FILLED")
    return p.choice(name, allowed, VenueError(-1145, "Invalid cancelRestrictions"))


def _cancel(ctx: Ctx) -> dict[str, Any]:
    symbol = ctx.params.symbol(ctx.state.venue.symbols)
    return _cancel_one(ctx, symbol, _order_ref(ctx.params), _restriction(ctx.params))


def _cancel_all(ctx: Ctx) -> list[dict[str, Any]]:
    venue = ctx.state.venue
    symbol = ctx.params.symbol(venue.symbols)
    open_orders = venue.open_orders(ctx.account, symbol)
    if not open_orders:
        raise err.cancel_rejected()
    out = []
    for order in open_orders:
        cancelled = venue.cancel_order(ctx.account, symbol, order.order_id)
        out.append(fmt.cancel_response(cancelled, _new_client_id(), cancelled.update_time_ms))
    return out


def _query(ctx: Ctx) -> dict[str, Any]:
    symbol = ctx.params.symbol(ctx.state.venue.symbols)
    return fmt.order_query(ctx.state.venue.get_order(ctx.account, symbol, *_order_ref(ctx.params)))


def _open_orders(ctx: Ctx) -> list[dict[str, Any]]:
    symbol = ctx.params.optional_symbol(ctx.state.venue.symbols)
    return [fmt.order_query(o) for o in ctx.state.venue.open_orders(ctx.account, symbol)]


def _all_orders(ctx: Ctx) -> list[dict[str, Any]]:
    p = ctx.params
    symbol = p.symbol(ctx.state.venue.symbols)
    from_id, start, end = p.long("orderId"), p.long("startTime"), p.long("endTime")
    limit = p.limit(500, 1000)
    if start is not None and end is not None and end - start > 86_400_000:
        raise VenueError(-1127, "More than 24 hours between startTime and endTime.")
    orders = sorted(ctx.state.venue.all_orders(ctx.account, symbol), key=lambda o: o.order_id)
    rows = [
        o for o in orders
        if (from_id is None or o.order_id >= from_id)
        and (start is None or o.time_ms >= start)
        and (end is None or o.time_ms <= end)
    ]  # fmt: skip
    chosen = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
    return [fmt.order_query(o) for o in chosen]


def _amend(ctx: Ctx) -> dict[str, Any]:
    p, venue = ctx.params, ctx.state.venue
    symbol = p.symbol(venue.symbols)
    ref = _order_ref(p)
    instrument = venue.market(symbol).instrument
    new_qty = p.decimal("newQty", places=instrument.base_precision, required=True)
    assert new_qty is not None
    new_client = p.text("newClientOrderId")
    try:
        before = venue.get_order(ctx.account, symbol, *ref)
    except VenueError:
        raise VenueError(-2038, err.UNKNOWN_ORDER) from None
    order = venue.amend_order(ctx.account, symbol, new_qty, *ref, new_client_id=new_client)
    return fmt.amend_response(order, before.client_order_id, order.update_time_ms)


def _replace_failure(code: int, msg: str, status: int, cancel: Any, new: Any) -> Reply:
    data = {
        "cancelResult": "FAILURE" if isinstance(cancel, dict) and "code" in cancel else "SUCCESS",
        "newOrderResult": "NOT_ATTEMPTED" if new is None else "FAILURE",
        "cancelResponse": cancel,
        "newOrderResponse": new,
    }
    return Reply({"code": code, "msg": msg, "data": data}, status)


def _cancel_replace(ctx: Ctx) -> Reply:
    """``POST /api/v3/order/cancelReplace`` with ``STOP_ON_FAILURE`` (ccxt's ``edit_order``) or ``ALLOW_FAILURE``."""
    p, venue = ctx.params, ctx.state.venue
    mode = p.choice("cancelReplaceMode", ("STOP_ON_FAILURE", "ALLOW_FAILURE"), invalid("cancelReplaceMode"),
                    required=True)  # fmt: skip
    p.choice("orderRateLimitExceededMode", ("DO_NOTHING", "CANCEL_ONLY"), invalid("orderRateLimitExceededMode"))
    params, response = parse_new_order(ctx)
    ref = _order_ref(p, "cancelOrderId", "cancelOrigClientOrderId")
    restriction = _restriction(p)
    ctx.limiter.check_orders(ctx.account)
    _precheck_filters(ctx, params)
    cancel_id = p.text("cancelNewClientOrderId") or _new_client_id()
    cancel: Any
    try:
        current = venue.get_order(ctx.account, params.symbol, *ref)
        if restriction is not None and current.status.value != restriction.removeprefix("ONLY_"):
            raise err.cancel_rejected("Order was not canceled due to cancel restrictions.")
        cancelled = venue.cancel_order(ctx.account, params.symbol, *ref)
        cancel = fmt.cancel_response(cancelled, cancel_id, cancelled.update_time_ms)
    except VenueError as e:
        cancel = VenueError(-2011, e.msg if e.code == -2011 else err.UNKNOWN_ORDER).as_json()
        if mode == "STOP_ON_FAILURE":
            return _replace_failure(-2022, "Order cancel-replace failed.", 400, cancel, None)
    return _replace_place(ctx, params, response, cancel)


def _precheck_filters(ctx: Ctx, params: OrderParams) -> None:
    """Filters are evaluated before the cancel (rest-api.md): a -1013 fails the whole request untouched.

    Matching-engine rejections (-2010: balance, would-take, duplicate id) are left to the placement,
    since the cancel may free the funds or the client order id the new order needs.
    """
    try:
        ctx.state.venue.place_order(ctx.account, params, test=True)
    except VenueError as e:
        if e.code != -2010:
            raise


def _replace_place(ctx: Ctx, params: OrderParams, response: str, cancel: Any) -> Reply:
    cancel_ok = "code" not in cancel
    try:
        order: SimOrder = ctx.state.venue.place_order(ctx.account, params)
    except VenueError as e:
        code, msg = (
            (-2021, "Order cancel-replace partially failed.") if cancel_ok else (-2022, "Order cancel-replace failed.")
        )
        return _replace_failure(code, msg, 409 if cancel_ok else 400, cancel, e.as_json())
    headers = ctx.limiter.count_order(ctx.account, order)
    new = fmt.new_order_response(order, response)
    if not cancel_ok:
        body = {"code": -2021, "msg": "Order cancel-replace partially failed.",
                "data": {"cancelResult": "FAILURE", "newOrderResult": "SUCCESS", "cancelResponse": cancel,
                         "newOrderResponse": new}}  # fmt: skip
        return Reply(body, 409, headers)
    body = {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS", "cancelResponse": cancel, "newOrderResponse": new}
    return Reply(body, headers=headers)


def _open_weight(p: Params) -> int:
    return 6 if "symbol" in p else 80


def _test_weight(p: Params) -> int:
    return 20 if (p.text("computeCommissionRates") or "").lower() == "true" else 1


_REF = ("symbol", "orderId", "origClientOrderId")
_REPLACE_PARAMS = (
    *NEW_ORDER_PARAMS, "cancelReplaceMode", "cancelNewClientOrderId", "cancelOrigClientOrderId", "cancelOrderId",
    "cancelRestrictions", "orderRateLimitExceededMode",
)  # fmt: skip
ENDPOINTS: tuple[Endpoint, ...] = (
    endpoint("POST", "/api/v3/order", _place, Security.TRADE, 1, NEW_ORDER_PARAMS, places_order=True,
             free_on_success=True),
    endpoint("POST", "/api/v3/order/test", _test_order, Security.TRADE, _test_weight,
             (*NEW_ORDER_PARAMS, "computeCommissionRates")),
    endpoint("DELETE", "/api/v3/order", _cancel, Security.TRADE, 1, (*_REF, "newClientOrderId", "cancelRestrictions"),
             free_on_success=True),
    endpoint("DELETE", "/api/v3/openOrders", _cancel_all, Security.TRADE, 1, ("symbol",), free_on_success=True),
    endpoint("POST", "/api/v3/order/cancelReplace", _cancel_replace, Security.TRADE, 1, _REPLACE_PARAMS,
             places_order=True, free_on_success=True),
    endpoint("PUT", "/api/v3/order/amend/keepPriority", _amend, Security.TRADE, 4,
             (*_REF, "newClientOrderId", "newQty")),
    endpoint("GET", "/api/v3/order", _query, Security.USER_DATA, 4, _REF),
    endpoint("GET", "/api/v3/openOrders", _open_orders, Security.USER_DATA, _open_weight, ("symbol",)),
    endpoint("GET", "/api/v3/allOrders", _all_orders, Security.USER_DATA, 20,
             ("symbol", "orderId", "startTime", "endTime", "limit")),
)  # fmt: skip
