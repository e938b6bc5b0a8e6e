"""The wire protocol over plain HTTP (urllib): signatures, strict parameters, errors and rate limits."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import pytest

from thunes.adapters.venues.simserver.state import ApiKey
from thunes.simvenue.book import L2Book

D = Decimal


def _bid_ask(server, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    m = server.state.venue.market(symbol)
    assert m.bid is not None
    assert m.ask is not None
    return m.bid, m.ask


def _limit_params(bid: Decimal) -> dict[str, str]:
    """A GTC limit buy of 0.01 BTC, 10% under ``bid``: it rests."""
    price = str((bid * D("0.9")).quantize(D("0.01")))
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": price,
    }


# --- signatures ----------------------------------------------------------------------------------
def test_signature_when_docs_hmac_example_then_verified_before_timestamp_check(raw, sim_server):
    # rest-api.md, "SIGNED Endpoint Examples": this payload and secret sign to c8db5682...
    key = ApiKey("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
                 "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j", "docs")  # fmt: skip
    sim_server.state.api_keys[key.key] = key
    query = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    )
    signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"

    good = raw.request("POST", "/api/v3/order", f"{query}&signature={signature}", headers={"X-MBX-APIKEY": key.key})
    bad = raw.request(
        "POST", "/api/v3/order", f"{query}&signature={signature[:-1]}0", headers={"X-MBX-APIKEY": key.key}
    )
    upper = raw.request("POST", "/api/v3/order", f"{query}&signature={signature.upper()}",
                        headers={"X-MBX-APIKEY": key.key})  # fmt: skip

    assert (good.status, good.body["code"]) == (400, -1021)  # signature accepted; 2017 is outside the recvWindow
    assert (upper.status, upper.body["code"]) == (400, -1021)  # HMAC signatures are not case-sensitive
    assert (bad.status, bad.body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})


def test_signature_when_params_split_between_query_and_body_then_total_params_signed(raw, sim_server, api_key):
    bid, _ = _bid_ask(sim_server)
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.01&price={(bid * D('0.9')).quantize(D('0.01'))}&timestamp={sim_server.state.wall_ns() // 1_000_000}"
    signature = hmac.new(api_key.secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()

    result = raw.request("POST", "/api/v3/order", query, f"{body}&signature={signature}",
                         headers={"X-MBX-APIKEY": api_key.key})  # fmt: skip

    assert result.status == 200, result.body
    assert result.body["status"] == "NEW"


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({"side": "UP"}, -1117, "Invalid side."),
        ({"type": "FOO"}, -1116, "Invalid orderType."),
        ({"timeInForce": "XYZ"}, -1115, "Invalid timeInForce."),
        ({"type": "STOP_LOSS"}, -2010, "Stop loss orders are not supported for this symbol."),
        ({"price": "1,5"}, -1100, "Illegal characters found in parameter 'price'; legal range is "
                                  "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'."),
        ({"quantity": "0.000000001"}, -1111, "Parameter 'quantity' has too much precision."),
        ({"price": None}, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
        ({"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
        ({"reduceOnly": "true"}, -1104, "Not all sent parameters were read; read '8' parameter(s) but was sent '9'."),
    ],
)  # fmt: skip
def test_new_order_when_param_malformed_then_binance_error(raw, api_key, params, code, msg):
    order = {k: v for k, v in {**_limit_params(D(33_333)), **params}.items() if v is not None}

    result = raw.signed(api_key, "POST", "/api/v3/order", in_body=True, **order)

    assert (result.status, result.body) == (400, {"code": code, "msg": msg})
    assert "X-MBX-USED-WEIGHT-1M" in result.headers


def test_public_endpoints_when_bad_params_then_binance_errors(raw):
    assert raw.public("/api/v3/klines", symbol="BTCUSDT", interval="7m").body["msg"] == "Invalid interval."
    assert raw.public("/api/v3/depth", symbol="XXXUSDT").body == {"code": -1121, "msg": "Invalid symbol."}
    assert raw.public("/api/v3/exchangeInfo", symbol="XXXUSDT").body["code"] == -1121
    only = raw.public("/api/v3/exchangeInfo", symbols='["ETHUSDT","BTCUSDT"]').body
    assert [s["symbol"] for s in only["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    missing = raw.request("GET", "/api/v3/account", headers={})
    assert (missing.status, missing.body) == (401, {"code": -2014, "msg": "API-key format invalid."})


# --- rate limits ---------------------------------------------------------------------------------
def test_weight_when_over_limit_then_429_then_418_ban_escalates(limited):
    raw, wall = limited.raw, limited.wall
    used = [raw.public("/api/v3/ping") for _ in range(10)]
    assert [r.status for r in used] == [200] * 10
    assert used[-1].headers["X-MBX-USED-WEIGHT-1M"] == "10"

    limited_answer = raw.public("/api/v3/ping")
    banned = raw.public("/api/v3/ping")

    assert limited_answer.status == 429
    assert limited_answer.body["code"] == -1003
    assert limited_answer.body["msg"].startswith(
        "Too much request weight used; current limit is 10 request weight per 1 MINUTE."
    )
    assert 1 <= int(limited_answer.headers["Retry-After"]) <= 60
    assert banned.status == 418
    assert banned.body["code"] == -1003
    assert banned.body["msg"].startswith("Way too much request weight used; IP banned until ")
    assert int(banned.headers["Retry-After"]) == 120
    assert raw.public("/api/v3/ping").status == 418  # still banned

    wall.advance(121)  # ban over, and a new minute window
    assert [raw.public("/api/v3/ping").status for _ in range(11)] == [200] * 10 + [429]
    second_ban = raw.public("/api/v3/ping")
    assert second_ban.status == 418
    assert int(second_ban.headers["Retry-After"]) == 240  # bans double for repeat offenders


def test_orders_when_over_10s_limit_then_429_1015_with_retry_after(limited):
    server, raw = limited.server, limited.raw
    key = server.new_account()
    order = _limit_params(_bid_ask(server)[0])

    placed = [raw.signed(key, "POST", "/api/v3/order", **order) for _ in range(3)]
    refused = raw.signed(key, "POST", "/api/v3/order", **order)

    assert [p.status for p in placed] == [200, 200, 200]
    assert [p.headers["X-MBX-ORDER-COUNT-10S"] for p in placed] == ["1", "2", "3"]
    assert [p.headers["X-MBX-ORDER-COUNT-1D"] for p in placed] == ["1", "2", "3"]
    assert placed[-1].headers["X-MBX-USED-WEIGHT-1M"] == "0"  # successful orders weigh 0 (CHANGELOG 2026-03-27)
    assert refused.status == 429
    assert refused.body == {"code": -1015, "msg": "Too many new orders; current limit is 3 orders per 10 SECOND."}
    assert 1 <= int(refused.headers["Retry-After"]) <= 10


def test_cancel_replace_when_cancel_fails_then_2022_or_409_by_mode(raw, sim_server, api_key):
    new = {**_limit_params(_bid_ask(sim_server)[0]), "cancelOrderId": 99999999}

    stop = raw.signed(api_key, "POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE", **new)
    allow = raw.signed(api_key, "POST", "/api/v3/order/cancelReplace", cancelReplaceMode="ALLOW_FAILURE", **new)

    assert stop.status == 400
    assert stop.body == {"code": -2022, "msg": "Order cancel-replace failed.", "data": {
        "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."}, "newOrderResponse": None}}  # fmt: skip
    assert allow.status == 409
    assert allow.body["code"] == -2021
    assert allow.body["data"]["newOrderResult"] == "SUCCESS"
    assert allow.body["data"]["newOrderResponse"]["status"] == "NEW"
    assert allow.headers["X-MBX-ORDER-COUNT-10S"] == "1"


def test_account_and_key_restrictions_when_queried_then_reflect_key(raw, sim_server):
    key = sim_server.new_account({"USDT": D(50)}, can_withdraw=True)

    everything = raw.signed(key, "GET", "/api/v3/account").body
    held = raw.signed(key, "GET", "/api/v3/account", omitZeroBalances="true").body
    restrictions = raw.signed(key, "GET", "/sapi/v1/account/apiRestrictions").body

    assert {b["asset"] for b in everything["balances"]} == {"BTC", "ETH", "BNB", "SOL", "USDT"}
    assert held["balances"] == [{"asset": "USDT", "free": "50.00000000", "locked": "0.00000000"}]
    assert everything["commissionRates"]["taker"] == "0.00100000"
    assert everything["canWithdraw"] is True
    assert restrictions["enableWithdrawals"] is True
    assert restrictions["enableSpotAndMarginTrading"] is True
    assert restrictions["ipRestrict"] is False


def test_unknown_path_when_requested_then_404_with_weight_header(raw):
    result = raw.request("GET", "/api/v3/nothingHere")

    assert result.status == 404
    assert "X-MBX-USED-WEIGHT-1M" in result.headers


def test_handler_when_it_crashes_then_500_code_1000_without_traceback(limited):
    limited.server.state.candles = None  # breaks the klines handler on purpose

    result = limited.raw.public("/api/v3/klines", symbol="BTCUSDT", interval="1m")

    assert result.status == 500
    assert result.body == {"code": -1000, "msg": "An unknown error occured while processing the request."}


def test_depth_when_l2_book_synced_then_served_from_book(limited):
    state = limited.server.state
    book = L2Book.for_instrument(state.venue.market("ETHUSDT").instrument)
    book.apply_snapshot(4242, [["2499.99", "1.5"], ["2499.98", "2"], ["2499.50", "3"]], [["2500.01", "0.7"]])
    state.venue.attach_book("ETHUSDT", book)

    depth = limited.raw.public("/api/v3/depth", symbol="ETHUSDT", limit=2).body
    top = limited.raw.public("/api/v3/ticker/bookTicker", symbol="ETHUSDT").body

    assert depth == {
        "lastUpdateId": 4242,
        "bids": [["2499.99000000", "1.50000000"], ["2499.98000000", "2.00000000"]],
        "asks": [["2500.01000000", "0.70000000"]],
    }
    assert top == {"symbol": "ETHUSDT", "bidPrice": "2499.99000000", "bidQty": "1.50000000",
                   "askPrice": "2500.01000000", "askQty": "0.70000000"}  # fmt: skip
