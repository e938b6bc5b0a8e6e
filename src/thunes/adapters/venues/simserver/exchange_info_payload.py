"""Build the ``GET /api/v3/exchangeInfo`` payload the simulated venue serves from its instruments.

The inverse of :func:`thunes.domain.exchange_info.parse_exchange_info` for everything the venue
enforces: parsing this payload gives back the same instruments and rate limits. Filters the
domain does not model (``unknown_filters``) are left out, because their values are not kept.
The venue supports LIMIT, LIMIT_MAKER and MARKET orders, quote-quantity MARKET orders where the
instrument allows them, cancel-replace and keep-priority amends; no icebergs, order lists,
trailing stops, pegs or self-trade prevention.
"""

from __future__ import annotations

from typing import Any

from thunes.adapters.venues.simserver.formats import dec
from thunes.domain.enums import OrderType
from thunes.domain.exchange_info import ExchangeInfo, RateLimit
from thunes.domain.instrument import Instrument, LotSizeFilter

__all__ = ["payload_from_exchange_info", "symbol_payload"]

_TYPE_ORDER = (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET)


def _lot(kind: str, f: LotSizeFilter) -> dict[str, Any]:
    return {"filterType": kind, "minQty": dec(f.min_qty), "maxQty": dec(f.max_qty), "stepSize": dec(f.step_size)}


def _plain(value: object) -> str:
    """Multipliers print as Binance prints them: ``"5"``, ``"0.2"``."""
    return format(value, "f")


def _filters(i: Instrument) -> list[dict[str, Any]]:
    """Filters in Binance's usual order."""
    p = i.price_filter
    out: list[dict[str, Any]] = [
        {"filterType": "PRICE_FILTER", "minPrice": dec(p.min_price), "maxPrice": dec(p.max_price),
         "tickSize": dec(p.tick_size)},
        _lot("LOT_SIZE", i.lot_size),
    ]  # fmt: skip
    if i.market_lot_size is not None:
        out.append(_lot("MARKET_LOT_SIZE", i.market_lot_size))
    if i.percent_price is not None:
        pp = i.percent_price
        out.append({"filterType": "PERCENT_PRICE", "multiplierUp": _plain(pp.multiplier_up),
                    "multiplierDown": _plain(pp.multiplier_down), "avgPriceMins": pp.avg_price_mins})  # fmt: skip
    if i.percent_price_by_side is not None:
        s = i.percent_price_by_side
        out.append({"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": _plain(s.bid_multiplier_up),
                    "bidMultiplierDown": _plain(s.bid_multiplier_down), "askMultiplierUp": _plain(s.ask_multiplier_up),
                    "askMultiplierDown": _plain(s.ask_multiplier_down), "avgPriceMins": s.avg_price_mins})  # fmt: skip
    if i.min_notional is not None:
        m = i.min_notional
        out.append({"filterType": "MIN_NOTIONAL", "minNotional": dec(m.min_notional),
                    "applyToMarket": m.apply_to_market, "avgPriceMins": m.avg_price_mins})  # fmt: skip
    if i.notional is not None:
        n = i.notional
        out.append({"filterType": "NOTIONAL", "minNotional": dec(n.min_notional),
                    "applyMinToMarket": n.apply_min_to_market, "maxNotional": dec(n.max_notional),
                    "applyMaxToMarket": n.apply_max_to_market, "avgPriceMins": n.avg_price_mins})  # fmt: skip
    if i.max_num_orders is not None:
        out.append({"filterType": "MAX_NUM_ORDERS", "maxNumOrders": i.max_num_orders.max_num_orders})
    if i.max_position is not None:
        out.append({"filterType": "MAX_POSITION", "maxPosition": dec(i.max_position.max_position)})
    return out


def symbol_payload(i: Instrument) -> dict[str, Any]:
    """One element of ``symbols`` (key set of rest-api.md, Exchange information)."""
    return {
        "symbol": str(i.symbol),
        "status": i.status,
        "baseAsset": i.base_asset,
        "baseAssetPrecision": i.base_precision,
        "quoteAsset": i.quote_asset,
        "quotePrecision": i.quote_precision,
        "quoteAssetPrecision": i.quote_precision,
        "baseCommissionPrecision": i.base_precision,
        "quoteCommissionPrecision": i.quote_precision,
        "orderTypes": [t.value for t in _TYPE_ORDER if t in i.order_types],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": i.quote_order_qty_market_allowed,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": _filters(i),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def _rate_limit(r: RateLimit) -> dict[str, Any]:
    return {"rateLimitType": r.rate_limit_type, "interval": r.interval, "intervalNum": r.interval_num, "limit": r.limit}


def payload_from_exchange_info(info: ExchangeInfo, server_time_ms: int = 0) -> dict[str, Any]:
    """The whole payload; the server refreshes ``serverTime`` on every request."""
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms or info.server_time_ms or 0,
        "rateLimits": [_rate_limit(r) for r in info.rate_limits],
        "exchangeFilters": [],
        "symbols": [symbol_payload(i) for i in info.instruments.values()],
    }
