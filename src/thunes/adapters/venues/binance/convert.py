"""Binance JSON (REST answers and stream events, as Binance spells them) to domain types.

Why raw JSON and not ccxt's unified structures: ccxt converts amounts to ``float``; Binance sends
them as decimal strings, so reading those strings keeps every price and quantity exact. Field
names follow ``rest-api.md`` and ``user-data-stream.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from thunes.domain.enums import Liquidity, OrderStatus, OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol, VenueOrderId
from thunes.domain.market import Bar, QuoteTick, Timeframe, TradeTick
from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport

__all__ = [
    "NS_PER_MS",
    "UnsupportedPayloadError",
    "bar_from_row",
    "bar_from_stream",
    "decimal_text",
    "fill_from_my_trade",
    "order_from_execution_report",
    "order_from_rest",
    "quote_from_book_ticker",
    "quote_from_rest_book_ticker",
    "trade_from_stream",
]

NS_PER_MS = 1_000_000
_ZERO = Decimal(0)
# Binance statuses this model folds into its own (enums.md, Order status).
_STATUS_ALIASES = {"PENDING_NEW": "NEW", "PENDING_CANCEL": "NEW", "EXPIRED_IN_MATCH": "EXPIRED"}


class UnsupportedPayloadError(ValueError):
    """A venue payload the domain cannot represent (e.g. a STOP_LOSS order placed by another tool)."""


def decimal_text(value: Decimal) -> str:
    """``Decimal`` as Binance wants it: plain notation, never ``1E-5``."""
    return format(value, "f")


def _dec(payload: Mapping[str, Any], key: str) -> Decimal:
    return Decimal(str(payload[key]))


def _price(text: Any) -> Decimal | None:
    """Binance prints no price as ``"0.00000000"`` (MARKET orders)."""
    value = Decimal(str(text))
    return value if value != _ZERO else None


def _order_type(text: str) -> OrderType:
    try:
        return OrderType(text)
    except ValueError:
        raise UnsupportedPayloadError(f"order type {text} is not modelled") from None


def _status(text: str) -> OrderStatus:
    return OrderStatus(_STATUS_ALIASES.get(text, text))


def _taker_fills(payload: Mapping[str, Any], client_id: ClientOrderId, side: Side, ts_ns: int) -> tuple[Fill, ...]:
    """``fills`` of a FULL new-order answer: executed on arrival, so they took liquidity."""
    return tuple(
        Fill(
            client_order_id=client_id,
            trade_id=str(f["tradeId"]),
            symbol=Symbol(payload["symbol"]),
            side=side,
            price=_dec(f, "price"),
            quantity=_dec(f, "qty"),
            commission=_dec(f, "commission"),
            commission_asset=str(f["commissionAsset"]),
            liquidity=Liquidity.TAKER,
            ts_ns=ts_ns,
        )
        for f in payload.get("fills") or ()
    )


def order_from_rest(payload: Mapping[str, Any]) -> OrderReport:
    """A new-order (RESULT/FULL), query, open-orders, cancel or amended-order object.

    A cancel answer names the cancel request in ``clientOrderId`` and the order in
    ``origClientOrderId``; an amend answer nests the order in ``amendedOrder`` with ``qty`` and
    ``cumulativeQuoteQty``. All shapes are read here so every caller gets the same report.
    """
    if "amendedOrder" in payload:
        amended = dict(payload["amendedOrder"])
        amended.setdefault("transactTime", payload.get("transactTime"))
        amended["origQty"], amended["cummulativeQuoteQty"] = amended["qty"], amended["cumulativeQuoteQty"]
        amended.pop("origClientOrderId", None)  # the id before the amend; clientOrderId is the order's now
        payload = amended
    client_id = ClientOrderId(payload.get("origClientOrderId") or payload["clientOrderId"])
    side = Side(payload["side"])
    ms = payload.get("updateTime") or payload.get("transactTime") or payload.get("time") or 0
    ts_ns = int(ms) * NS_PER_MS
    return OrderReport(
        client_order_id=client_id,
        venue_order_id=VenueOrderId(str(payload["orderId"])),
        symbol=Symbol(payload["symbol"]),
        side=side,
        order_type=_order_type(payload["type"]),
        status=_status(payload["status"]),
        quantity=_dec(payload, "origQty"),
        filled_quantity=_dec(payload, "executedQty"),
        cumulative_quote=_dec(payload, "cummulativeQuoteQty"),
        price=_price(payload["price"]),
        ts_ns=ts_ns,
        fills=_taker_fills(payload, client_id, side, ts_ns),
    )


def order_from_execution_report(event: Mapping[str, Any]) -> OrderReport:
    """An ``executionReport`` user-data event; a TRADE execution carries its one fill."""
    execution = event["x"]
    # ``C`` names the order being canceled; ``c`` is then the cancel request's own id.
    client_id = ClientOrderId(str(event["C"] if execution == "CANCELED" and event.get("C") else event["c"]))
    side = Side(event["S"])
    ts_ns = int(event.get("T") or event["E"]) * NS_PER_MS
    fills: tuple[Fill, ...] = ()
    if execution == "TRADE" and Decimal(str(event["l"])) > 0:
        fills = (
            Fill(
                client_order_id=client_id,
                trade_id=str(event["t"]),
                symbol=Symbol(event["s"]),
                side=side,
                price=_dec(event, "L"),
                quantity=_dec(event, "l"),
                commission=_dec(event, "n"),
                commission_asset=str(event.get("N") or ""),
                liquidity=Liquidity.MAKER if event.get("m") else Liquidity.TAKER,
                ts_ns=ts_ns,
            ),
        )
    return OrderReport(
        client_order_id=client_id,
        venue_order_id=VenueOrderId(str(event["i"])),
        symbol=Symbol(event["s"]),
        side=side,
        order_type=_order_type(event["o"]),
        status=_status(event["X"]),
        quantity=_dec(event, "q"),
        filled_quantity=_dec(event, "z"),
        cumulative_quote=_dec(event, "Z"),
        price=_price(event["p"]),
        ts_ns=ts_ns,
        fills=fills,
    )


def fill_from_my_trade(row: Mapping[str, Any], client_order_id: ClientOrderId) -> Fill:
    """A ``GET /api/v3/myTrades`` row (which names the order by ``orderId`` only)."""
    return Fill(
        client_order_id=client_order_id,
        trade_id=str(row["id"]),
        symbol=Symbol(row["symbol"]),
        side=Side.BUY if row["isBuyer"] else Side.SELL,
        price=_dec(row, "price"),
        quantity=_dec(row, "qty"),
        commission=_dec(row, "commission"),
        commission_asset=str(row["commissionAsset"]),
        liquidity=Liquidity.MAKER if row["isMaker"] else Liquidity.TAKER,
        ts_ns=int(row["time"]) * NS_PER_MS,
    )


def bar_from_row(symbol: Symbol, timeframe: Timeframe, row: list[Any]) -> Bar:
    """A ``GET /api/v3/klines`` row: ``[openTime, open, high, low, close, volume, closeTime, ...]``."""
    return Bar(
        symbol=symbol,
        timeframe=timeframe,
        open_time_ns=int(row[0]) * NS_PER_MS,
        open=Decimal(str(row[1])),
        high=Decimal(str(row[2])),
        low=Decimal(str(row[3])),
        close=Decimal(str(row[4])),
        volume=Decimal(str(row[5])),
    )


def bar_from_stream(event: Mapping[str, Any]) -> Bar:
    """The ``k`` object of a ``kline`` event (the caller checks ``k.x``, closed)."""
    k = event["k"]
    return Bar(
        symbol=Symbol(k["s"]),
        timeframe=Timeframe(k["i"]),
        open_time_ns=int(k["t"]) * NS_PER_MS,
        open=_dec(k, "o"),
        high=_dec(k, "h"),
        low=_dec(k, "l"),
        close=_dec(k, "c"),
        volume=_dec(k, "v"),
    )


def trade_from_stream(event: Mapping[str, Any]) -> TradeTick:
    """A ``trade`` (id ``t``) or ``aggTrade`` (id ``a``) event; ``m`` true means the seller took."""
    trade_id = event["t"] if event.get("e") == "trade" else event["a"]
    return TradeTick(
        symbol=Symbol(event["s"]),
        trade_id=int(trade_id),
        price=_dec(event, "p"),
        quantity=_dec(event, "q"),
        aggressor=Side.SELL if event["m"] else Side.BUY,
        ts_ns=int(event["T"]) * NS_PER_MS,
    )


def quote_from_book_ticker(event: Mapping[str, Any], received_ns: int) -> QuoteTick:
    """A ``bookTicker`` event; spot sends no event time, so the receipt time stands in."""
    return QuoteTick(
        symbol=Symbol(event["s"]),
        bid_price=_dec(event, "b"),
        bid_quantity=_dec(event, "B"),
        ask_price=_dec(event, "a"),
        ask_quantity=_dec(event, "A"),
        ts_ns=received_ns,
        update_id=int(event["u"]),
    )


def quote_from_rest_book_ticker(row: Mapping[str, Any], received_ns: int) -> QuoteTick:
    """One symbol's ``GET /api/v3/ticker/bookTicker`` answer; it carries no time either: the receipt's."""
    return QuoteTick(
        symbol=Symbol(row["symbol"]),
        bid_price=_dec(row, "bidPrice"),
        bid_quantity=_dec(row, "bidQty"),
        ask_price=_dec(row, "askPrice"),
        ask_quantity=_dec(row, "askQty"),
        ts_ns=received_ns,
    )
