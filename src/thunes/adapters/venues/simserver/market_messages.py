"""Market stream payloads exactly as ``web-socket-streams.md`` shows them (field names and types)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from thunes.simvenue.candles import Candle

__all__ = ["agg_trade", "book_ticker", "depth_update", "kline", "partial_depth", "ticker_24h", "trade"]

Row = list[str]


def _s(value: Decimal) -> str:
    """Binance prints amounts with 8 decimals."""
    return f"{value:.8f}"


def trade(
    symbol: str, event_ms: int, trade_id: int, price: Decimal, qty: Decimal, buyer_is_maker: bool
) -> dict[str, Any]:
    return {"e": "trade", "E": event_ms, "s": symbol, "t": trade_id, "p": _s(price), "q": _s(qty),
            "T": event_ms, "m": buyer_is_maker, "M": True}  # fmt: skip


def agg_trade(
    symbol: str, event_ms: int, trade_id: int, price: Decimal, qty: Decimal, buyer_is_maker: bool
) -> dict[str, Any]:
    return {"e": "aggTrade", "E": event_ms, "s": symbol, "a": trade_id, "p": _s(price), "q": _s(qty),
            "f": trade_id, "l": trade_id, "T": event_ms, "m": buyer_is_maker, "M": True}  # fmt: skip


def book_ticker(
    symbol: str, update_id: int, bid: Decimal, bid_qty: Decimal, ask: Decimal, ask_qty: Decimal
) -> dict[str, Any]:
    return {"u": update_id, "s": symbol, "b": _s(bid), "B": _s(bid_qty), "a": _s(ask), "A": _s(ask_qty)}


def depth_update(
    symbol: str, event_ms: int, first_id: int, final_id: int, bids: list[Row], asks: list[Row]
) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": event_ms, "s": symbol, "U": first_id, "u": final_id, "b": bids, "a": asks}


def partial_depth(last_update_id: int, bids: list[Row], asks: list[Row]) -> dict[str, Any]:
    return {"lastUpdateId": last_update_id, "bids": bids, "asks": asks}


def kline(
    symbol: str, interval: str, event_ms: int, candle: Candle, first_trade: int, last_trade: int
) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": candle.open_ms, "T": candle.close_ms, "s": symbol, "i": interval, "f": first_trade,
            "L": last_trade, "o": _s(candle.open), "c": _s(candle.close), "h": _s(candle.high),
            "l": _s(candle.low), "v": _s(candle.volume), "n": candle.trades, "x": candle.closed,
            "q": _s(candle.quote_volume), "V": _s(candle.taker_buy_volume), "Q": _s(candle.taker_buy_quote),
            "B": "0",
        },
    }  # fmt: skip


def ticker_24h(symbol: str, event_ms: int, candles: list[Candle], last: Decimal, last_qty: Decimal,
               quote: tuple[Decimal, Decimal, Decimal, Decimal], *, mini: bool) -> dict[str, Any]:  # fmt: skip
    """``<symbol>@ticker`` / ``@miniTicker``: rolling 24 h statistics from the published candles."""
    open_ = candles[0].open if candles else last
    high = max((c.high for c in candles), default=last)
    low = min((c.low for c in candles), default=last)
    volume = sum((c.volume for c in candles), Decimal(0))
    quote_volume = sum((c.quote_volume for c in candles), Decimal(0))
    if mini:
        return {"e": "24hrMiniTicker", "E": event_ms, "s": symbol, "c": _s(last), "o": _s(open_),
                "h": _s(high), "l": _s(low), "v": _s(volume), "q": _s(quote_volume)}  # fmt: skip
    change = last - open_
    bid, bid_qty, ask, ask_qty = quote
    return {
        "e": "24hrTicker", "E": event_ms, "s": symbol, "p": _s(change),
        "P": f"{(change / open_ * 100) if open_ else Decimal(0):.3f}",
        "w": _s(quote_volume / volume if volume else last), "x": _s(open_), "c": _s(last), "Q": _s(last_qty),
        "b": _s(bid), "B": _s(bid_qty), "a": _s(ask), "A": _s(ask_qty), "o": _s(open_), "h": _s(high),
        "l": _s(low), "v": _s(volume), "q": _s(quote_volume), "O": event_ms - 86_400_000, "C": event_ms,
        "F": -1, "L": -1, "n": sum(c.trades for c in candles),
    }  # fmt: skip
