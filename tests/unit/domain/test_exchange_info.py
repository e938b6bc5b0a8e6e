from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from thunes.domain import ExchangeInfoError, OrderType, parse_exchange_info


def _minimal() -> dict[str, Any]:
    return {
        "serverTime": 1,
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "status": "TRADING",
                "baseAsset": "BTC",
                "quoteAsset": "USDT",
                "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                    {"filterType": "ICEBERG_PARTS", "limit": 10},
                ],
            }
        ],
    }


def test_parse_when_minimal_then_instrument_and_unknown_filters_kept() -> None:
    info = parse_exchange_info(_minimal())

    btc = info.get("BTCUSDT")
    assert btc.tick_size == Decimal("0.01") and btc.step_size == Decimal("0.00001")
    assert btc.order_types == frozenset({OrderType.LIMIT, OrderType.MARKET})
    assert btc.unknown_filters == ("ICEBERG_PARTS",)
    assert info.rate_limits[0].limit == 6000


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["symbols"][0]["filters"][0].update(tickSize="abc"), r"symbols\[0\]\.filters\[0\]\.tickSize"),
        (lambda d: d["symbols"][0]["filters"][1].pop("stepSize"), r"symbols\[0\]\.filters\[1\]\.stepSize: missing"),
        (lambda d: d["symbols"][0].update(filters=d["symbols"][0]["filters"][1:]), "no PRICE_FILTER"),
        (lambda d: d["symbols"][0].update(symbol="btc/usdt"), r"symbols\[0\]\.symbol"),
        (lambda d: d.update(symbols={"a": 1}), "symbols: expected an array"),
        (lambda d: d["symbols"][0]["filters"][0].update(minPrice="-1"), ">= 0"),
        (lambda d: d["rateLimits"][0].update(limit="many"), r"rateLimits\[0\]\.limit"),
    ],
)
def test_parse_when_malformed_then_error_names_the_json_path(mutate: Any, path: str) -> None:
    data = copy.deepcopy(_minimal())
    mutate(data)

    with pytest.raises(ExchangeInfoError, match=path):
        parse_exchange_info(data)


def test_parse_when_not_an_object_then_clear_error() -> None:
    with pytest.raises(ExchangeInfoError, match="<root>: expected an object"):
        parse_exchange_info([1, 2])


def test_get_when_unknown_symbol_then_key_error_names_it() -> None:
    with pytest.raises(KeyError, match="ETHUSDT"):
        parse_exchange_info(_minimal()).get("ETHUSDT")
