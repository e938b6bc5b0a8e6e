"""Malformed requests get Binance's JSON error with a 4xx status, never a 500 nor plain text.

A 500 (code -1000) tells ccxt the exchange is down and to retry; a -1013 tells it the order is
invalid. Each row below answered 500 or plain text before (issue 15, item 15).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tests.integration.simserver.conftest import HttpResult, RawClient, RunningServer
from thunes.adapters.venues.simserver.app import MAX_FIELD_SIZE, MAX_LINE_SIZE
from thunes.adapters.venues.simserver.app import MAX_HEADERS as MAX_PARSED_HEADERS
from thunes.adapters.venues.simserver.rest import MAX_HEADER_BYTES, MAX_HEADERS, MAX_TARGET_BYTES

D = Decimal
LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}


def _price(server: RunningServer) -> str:
    bid = server.state.venue.market("BTCUSDT").bid
    assert bid is not None
    return str((bid * D("0.99")).quantize(D("0.01")))


def assert_binance_error(result: HttpResult, status: int, code: int) -> None:
    assert (result.status, isinstance(result.body, dict)) == (status, True), (result.status, result.body)
    assert set(result.body) == {"code", "msg"}
    assert (result.body["code"], type(result.body["msg"])) == (code, str), result.body


@pytest.mark.parametrize(
    ("changes", "filter_name"),
    [
        ({"quantity": "0"}, "LOT_SIZE"),
        ({"quantity": "0.00000000"}, "LOT_SIZE"),
        ({"price": "0"}, "PRICE_FILTER"),
        ({"price": "0.00"}, "PRICE_FILTER"),
        ({"price": "0", "quantity": "0"}, "PRICE_FILTER"),  # the price filter is checked first
        ({"type": "MARKET", "timeInForce": None, "price": None, "quantity": "0"}, "LOT_SIZE"),
        ({"type": "MARKET", "timeInForce": None, "price": None, "quantity": None, "quoteOrderQty": "0"}, "NOTIONAL"),
        ({"quantity": "99999999999999999999.99999999"}, "LOT_SIZE"),  # 28 digits: exact, no InvalidOperation
        ({"price": "99999999999999999999.99"}, "PRICE_FILTER"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v3/order", "/api/v3/order/test"])
def test_order_when_zero_or_huge_amount_then_binance_filter_failure_not_500(
    raw: RawClient, sim_server: RunningServer, changes: dict[str, str | None], filter_name: str, path: str
) -> None:
    key = sim_server.new_account()
    params: dict[str, Any] = {**LIMIT, "price": _price(sim_server), **changes}
    before = sim_server.state.venue.balances(key.account)

    result = raw.signed(key, "POST", path, **{k: v for k, v in params.items() if v is not None})

    assert_binance_error(result, 400, -1013)
    assert result.body["msg"] == f"Filter failure: {filter_name}"
    assert sim_server.state.venue.balances(key.account) == before
    assert sim_server.state.venue.open_orders(key.account, "BTCUSDT") == []


def test_ccxt_when_quantity_zero_then_invalid_order_not_a_retryable_outage(exchange: ccxt.binance) -> None:
    with pytest.raises(ccxt.InvalidOrder) as caught:
        exchange.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0"})

    assert not isinstance(caught.value, ccxt.NetworkError)
    assert "-1013" in str(caught.value)


@pytest.mark.parametrize("value", ["[[1]]", "[1]", "[null]", "[{}]", '["SPOT",["MARGIN"]]', "[", "[1e999999]"])
def test_exchange_info_when_permissions_not_a_list_of_names_then_1135(raw: RawClient, value: str) -> None:
    assert_binance_error(raw.public("/api/v3/exchangeInfo", permissions=value), 400, -1135)


@pytest.mark.parametrize("body", [b"symbol=\xff\xfe", b"\x80", b"symbol=BTC\xc3(USDT"])
def test_form_body_when_not_utf8_then_illegal_characters(raw: RawClient, api_key: Any, body: bytes) -> None:
    result = raw.request_bytes("POST", "/api/v3/order", body, headers={"X-MBX-APIKEY": api_key.key})

    assert_binance_error(result, 400, -1100)


@pytest.mark.parametrize("charset", ["klingon", "utf-16"])
def test_form_body_when_declared_charset_unknown_or_foreign_then_read_as_utf8(
    raw: RawClient, api_key: Any, charset: str
) -> None:
    headers = {"X-MBX-APIKEY": api_key.key, "Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}
    result = raw.request_bytes("POST", "/api/v3/order", b"symbol=BTCUSDT", headers=headers)

    assert_binance_error(result, 400, -1102)  # read as UTF-8 (the only charset Binance reads): timestamp missing


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v3/nope", 404),
        ("GET", "/", 404),
        ("POST", "/api/v3/ping", 405),
        ("PATCH", "/api/v3/order", 405),
        ("GET", "/api/v3/userDataStream", 405),
        ("GET", "/api/v3/ping/", 404),
    ],
)
def test_unknown_path_or_method_when_requested_then_binance_json_with_status(
    raw: RawClient, method: str, path: str, status: int
) -> None:
    result = raw.request(method, path)

    assert_binance_error(result, status, -1020)
    assert "X-MBX-USED-WEIGHT-1M" in result.headers
    if status == 405:
        assert result.headers["Allow"]


def test_body_when_larger_than_the_server_reads_then_413_binance_json(raw: RawClient, api_key: Any) -> None:
    body = b"symbol=" + b"A" * (1024 * 1024 + 10)

    result = raw.request_bytes("POST", "/api/v3/order", body, headers={"X-MBX-APIKEY": api_key.key})

    assert_binance_error(result, 413, -1101)


# --- oversized requests: aiohttp's parser answered these in plain text (and logged a traceback) ----
def _target_of(length: int) -> tuple[str, str]:
    """``/api/v3/ping`` with a query padding the request target to exactly ``length`` bytes."""
    path, name = "/api/v3/ping", "pad="
    return path, name + "x" * (length - len(path) - 1 - len(name))


@pytest.mark.parametrize("length", [8_191, 20_000, MAX_TARGET_BYTES])  # past aiohttp's default line limit
def test_long_request_target_when_within_the_venue_limit_then_the_endpoint_answers(
    raw: RawClient, length: int, caplog: pytest.LogCaptureFixture
) -> None:
    result = raw.request("GET", *_target_of(length))

    assert_binance_error(result, 400, -1104)  # the endpoint read it: ping takes no parameter
    assert "Error handling request" not in caplog.text


@pytest.mark.parametrize("length", [MAX_TARGET_BYTES + 1, 2 * MAX_TARGET_BYTES, MAX_LINE_SIZE - 100])
def test_request_target_when_over_the_venue_limit_then_414_binance_json(
    raw: RawClient, length: int, caplog: pytest.LogCaptureFixture
) -> None:
    result = raw.request("GET", *_target_of(length))

    assert_binance_error(result, 414, -1101)
    assert "X-MBX-USED-WEIGHT-1M" in result.headers
    assert "Error handling request" not in caplog.text  # refused by the venue, no traceback
    assert raw.public("/api/v3/ping").status == 200


@pytest.mark.parametrize(
    ("name", "size", "status"),
    [
        ("X-Pad", MAX_HEADER_BYTES, 200),  # name and value together: up to the limit, accepted
        ("X-Pad", MAX_HEADER_BYTES + 1, 431),
        ("X-Pad", MAX_FIELD_SIZE - 100, 431),
        ("X-MBX-APIKEY", 10_000, 431),
        ("User-Agent", 30_000, 431),
        ("X-" + "n" * 9_000, 9_010, 431),  # a long name
    ],
)
def test_header_when_over_the_venue_limit_then_431_binance_json(
    raw: RawClient, name: str, size: int, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    result = raw.request("GET", "/api/v3/ping", headers={name: "v" * (size - len(name))})

    if status == 200:
        assert result.status == 200, result.body
    else:
        assert_binance_error(result, status, -1100)
    assert "Error handling request" not in caplog.text


@pytest.mark.parametrize(("count", "status"), [(100, 200), (MAX_HEADERS + 1, 431), (MAX_PARSED_HEADERS - 10, 431)])
def test_headers_when_more_than_the_venue_takes_then_431_binance_json(
    raw: RawClient, count: int, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    result = raw.request("GET", "/api/v3/ping", headers={f"X-Pad-{i}": "v" for i in range(count)})

    if status == 200:
        assert result.status == 200, result.body
    else:
        assert_binance_error(result, status, -1100)
    assert "Error handling request" not in caplog.text  # aiohttp refused over 128 itself, in plain text
