"""Pre-trade checks of the simulated venue, in the order Binance applies them, with its exact errors.

Parameter shape first (-1100, -1102, -1106, -2010 unsupported type), then the symbol filters
(-1013 ``Filter failure: NAME``), then balances (-2010 insufficient balance).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Decimal, localcontext

from thunes.domain.enums import OrderType, Side, TimeInForce
from thunes.domain.identifiers import ClientOrderId
from thunes.domain.instrument import Instrument
from thunes.domain.orders import OrderRequest
from thunes.domain.rules import MarketContext, check_order
from thunes.simvenue import errors as err
from thunes.simvenue.models import Account, Balance, ids_of_client_id

__all__ = [
    "CLIENT_ID",
    "OrderParams",
    "check_balance",
    "check_duplicate",
    "check_filters",
    "check_params",
    "plain_shape",
]

# Enum members as module constants: on Python 3.11 ``Side.BUY`` costs ~70 ns more than a global read,
# and the order path reads a dozen of them per order.
_MARKET, _LIMIT, _LIMIT_MAKER, _BUY = OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT_MAKER, Side.BUY

ZERO = Decimal(0)
_TINY = Decimal("1e-40")  # below every tick, step and minimum: requests carry at most 20 decimals
_EXACT_DIGITS = 100
CLIENT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
_CHECK_ID = ClientOrderId("venue-check")
Level = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class OrderParams:
    """A new-order request as ``POST /api/v3/order`` takes it, already typed."""

    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal | None = None
    quote_order_qty: Decimal | None = None
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    client_order_id: str | None = None


def _check_market(instrument: Instrument, p: OrderParams) -> None:
    if p.price is not None:
        raise err.not_required("price")
    if p.time_in_force is not None:
        raise err.not_required("timeInForce")
    if (p.quantity is None) == (p.quote_order_qty is None):
        raise err.VenueError(-1102, err.QTY_OR_QUOTE)
    if p.quote_order_qty is not None and not instrument.quote_order_qty_market_allowed:
        raise err.new_order_rejected("Quote order qty market orders are not support for this symbol.")


def check_params(instrument: Instrument, p: OrderParams) -> None:
    """Mandatory and forbidden parameters per order type (rest-api.md, New order)."""
    if p.client_order_id is not None and not CLIENT_ID.fullmatch(p.client_order_id):
        raise err.illegal_chars("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$")
    if p.order_type not in instrument.order_types:
        kind = p.order_type.value.replace("_", " ").capitalize()
        raise err.new_order_rejected(f"{kind} orders are not supported for this symbol.")
    if p.order_type is _MARKET:
        _check_market(instrument, p)
        return
    for name, value in (("price", p.price), ("quantity", p.quantity)):
        if value is None:
            raise err.mandatory(name)
    if p.order_type is _LIMIT and p.time_in_force is None:
        raise err.mandatory("timeInForce")
    if p.order_type is _LIMIT_MAKER and p.time_in_force is not None:
        raise err.not_required("timeInForce")
    if p.quote_order_qty is not None:
        raise err.not_required("quoteOrderQty")


def check_filters(
    instrument: Instrument, p: OrderParams, avg_price: Decimal | None, open_on_symbol: int, account: Account
) -> None:
    """Every symbol filter via the domain validator; the first broken one is the -1013 answer."""
    position = ZERO
    if instrument.max_position is not None:  # only then is the base position needed (filters.md)
        base = account.balances.get(instrument.base_asset)
        open_buys = (o.remaining for o in account.open.values() if o.symbol == p.symbol and o.side is _BUY)
        position = (base.total if base else ZERO) + sum(open_buys, ZERO)
    quantity, price, quote = (_below_any_minimum(v) for v in (p.quantity, p.price, p.quote_order_qty))
    request = OrderRequest(_CHECK_ID, instrument.symbol, p.side, p.order_type, quantity, price, quote, p.time_in_force)
    with localcontext() as exact:  # 20 + 20 digit inputs multiply exactly: no rounding, no InvalidOperation
        exact.prec, exact.Emax, exact.Emin = _EXACT_DIGITS, MAX_EMAX, MIN_EMIN
        violations = check_order(instrument, request, MarketContext(avg_price, open_on_symbol, position))
    if violations:
        raise err.filter_failure(violations[0].filter.value)
    if (quantity, price, quote) != (p.quantity, p.price, p.quote_order_qty):  # zero passed a disabled minimum
        name = "PRICE_FILTER" if price != p.price else "LOT_SIZE" if quantity != p.quantity else "NOTIONAL"
        raise err.filter_failure(name)


def _below_any_minimum(value: Decimal | None) -> Decimal | None:
    """Zero (or less) as the smallest positive amount: it breaks the same filter a too-small amount
    breaks (Binance: ``quantity=0`` is -1013 ``Filter failure: LOT_SIZE``), and the domain's
    :class:`OrderRequest` only holds positive amounts."""
    return _TINY if value is not None and value <= 0 else value


def check_balance(
    instrument: Instrument,
    side: Side,
    order_type: OrderType,
    qty: Decimal | None,
    price: Decimal | None,
    quote: Decimal | None,
    levels: list[Level],
    balances: Mapping[str, Balance],
) -> None:
    """Free funds must cover the order: quote for a BUY (at its limit, or what it will take), base for a SELL."""
    if side is _BUY:
        if order_type is not _MARKET:
            assert price is not None
            assert qty is not None
            need = price * qty
        elif quote is not None:
            need = quote
        elif len(levels) == 1:
            need = ZERO + levels[0][0] * levels[0][1]  # the sum below, without a generator
        else:
            need = sum((p * q for p, q in levels), ZERO)
        balance = balances.get(instrument.quote_asset)
    else:
        need = qty if qty is not None else sum((q for _, q in levels), ZERO)
        balance = balances.get(instrument.base_asset)
    if need > (balance.free if balance else ZERO):
        raise err.new_order_rejected(err.INSUFFICIENT_BALANCE)


def check_duplicate(account: Account, symbol: str, client_id: str) -> None:
    """-2010 when an open order of ``account`` on ``symbol`` already has ``client_id``."""
    if client_id not in account.by_client:  # a new id (the common case): nothing to look at
        return
    if any(
        i in account.open and account.open[i].client_order_id == client_id and account.open[i].symbol == symbol
        for i in ids_of_client_id(account, client_id)
    ):
        raise err.new_order_rejected(err.DUPLICATE_ORDER)


def plain_shape(
    instrument: Instrument,
    order_type: OrderType,
    has_price: bool,
    time_in_force: TimeInForce | None,
    client_order_id: str | None,
) -> bool:
    """True when :func:`check_params` would pass an order with a quantity (and ``has_price``) as given."""
    if order_type not in instrument.order_types:
        return False
    if client_order_id is not None and not CLIENT_ID.fullmatch(client_order_id):
        return False
    if order_type is _MARKET:
        return not has_price and time_in_force is None
    if order_type is _LIMIT:
        return has_price and time_in_force is not None
    return has_price and time_in_force is None  # LIMIT_MAKER
