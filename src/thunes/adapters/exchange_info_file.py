"""Load exchangeInfo from a file, or fall back to a few built-in instruments.

The built-in instruments carry the filter values Binance published for these symbols in its
spot ``exchangeInfo`` of 2023-09-08 (tick, step, lot bounds, NOTIONAL 5 USDT, bands 0.2x-5x,
200 open orders). They let ``make run`` work on a machine without any downloaded data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thunes.domain.exchange_info import ExchangeInfo, ExchangeInfoError, parse_exchange_info

__all__ = ["BUILTIN_SYMBOLS", "builtin_exchange_info", "load_exchange_info"]

# symbol: (base, quote, tickSize, maxPrice, stepSize, maxQty, market maxQty)
BUILTIN_SYMBOLS: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "BTCUSDT": ("BTC", "USDT", "0.01", "1000000", "0.00001", "9000", "168.82682004"),
    "ETHUSDT": ("ETH", "USDT", "0.01", "1000000", "0.0001", "9000", "3346.26645208"),
    "BNBUSDT": ("BNB", "USDT", "0.1", "100000", "0.001", "900000", "24057.2504125"),
    "SOLUSDT": ("SOL", "USDT", "0.01", "10000", "0.01", "90000", "129313.87854166"),
}


def _symbol_payload(symbol: str, spec: tuple[str, str, str, str, str, str, str]) -> dict[str, Any]:
    base, quote, tick, max_price, step, max_qty, market_max = spec
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": quote,
        "baseAssetPrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "quoteOrderQtyMarketAllowed": True,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": max_price, "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": max_qty, "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": market_max, "stepSize": "0"},
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5",
                "applyMinToMarket": True,
                "maxNotional": "9000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
    }


def builtin_exchange_info() -> ExchangeInfo:
    """The built-in instruments, as if the venue had published them."""
    payload = {
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        ],
        "symbols": [_symbol_payload(s, spec) for s, spec in BUILTIN_SYMBOLS.items()],
    }
    return parse_exchange_info(payload)


def load_exchange_info(path: Path) -> ExchangeInfo:
    """Parse an exchangeInfo JSON file; every failure is an :class:`ExchangeInfoError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ExchangeInfoError(f"{path}: cannot read exchangeInfo ({e.strerror or e})") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ExchangeInfoError(f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    try:
        return parse_exchange_info(data)
    except ExchangeInfoError as e:
        raise ExchangeInfoError(f"{path}: {e}") from e
