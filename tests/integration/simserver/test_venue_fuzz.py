"""Fuzz the running venue (real socket, REST and WebSocket) with malformed requests (issue 15, acceptance).

Every answer to a malformed REST request must be Binance's error: JSON ``{"code": int < 0, "msg": str}``
with a 4xx status; never a 5xx (ccxt retries those as outages), never -1000, never plain text. A
stream request gets an error object and the connection stays open. Afterwards the venue must be
as it was: the account's balances, orders and trades unchanged, a valid order still accepted.

Hostile values are never a listed symbol, so no generated request can place, cancel or amend an
order; a 200 is allowed only for read-only requests that happen to be valid (a GET without
mandatory parameters, a listen key). Over-long request targets and headers have their own tests
(``test_rest_errors``: 414 and 431, Binance JSON).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.venues.simserver.rest import ENDPOINTS

SYMBOLS = frozenset({"BTCUSDT", "ETHUSDT"})
COUNTS = {"rest": 0, "rest_ok": 0, "ws": 0, "limited": 0, "max_weight": 0}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    derandomize=True,  # the same requests on every run: a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


# --- hostile values ------------------------------------------------------------------------------
FIXED = [
    "", " ", "0", "-0", "-1", "0.0", "1e5", "1E-9", "NaN", "nan", "Infinity", "-inf", "0x10", "1_000",
    "１２３", "٣", "½", "9" * 21, "9" * 25 + "." + "9" * 25, "0." + "0" * 30 + "1", "1" * 4400, "[[1]]", "[1]",
    "[]", "{}", "null", "true", "TRUE", "[\"BTCUSDT\",\"BTCUSDT\"]", "[\"btcusdt\"]", "BTCUSDT ", "btcusdt",
    "BTC USDT", "\x00", "\r\n", "%00", "'; DROP TABLE orders;--", "<script>", "é" * 100, "\ud7ff", "\U0001f4a5",
    "a" * 3000, "1" * 20, "18446744073709551616", "-9223372036854775809", "ONLY_NEW ", "GTC\t", "MARKET,LIMIT",
]  # fmt: skip
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**25), 10**25) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=6,
)
JSONISH = JSON_VALUE.map(lambda v: json.dumps(v, allow_nan=True))
HOSTILE = st.one_of(
    st.sampled_from(FIXED),
    st.text(max_size=30),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    JSONISH,
).filter(lambda v: v not in SYMBOLS)
NAMES = sorted({name for ep in ENDPOINTS for name in ep.accepts} | {"foo", "", "symbol[]", "SYMBOL", "é", "a" * 200})
PATHS = sorted({ep.path for ep in ENDPOINTS})
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


# --- REST ----------------------------------------------------------------------------------------
def _send(live: LiveVenue, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(live.base_url + target, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, raw, headers_of = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        status, raw, headers_of = e.code, e.read(), dict(e.headers)
    content_type = headers_of.get("Content-Type", "")
    COUNTS["rest"] += 1
    COUNTS["limited"] += status in (418, 429)  # past the weight limit, requests no longer reach the handlers
    COUNTS["max_weight"] = max(COUNTS["max_weight"], int(headers_of.get("X-MBX-USED-WEIGHT-1M", 0)))
    assert status < 500, (status, raw[:200], method, target[:200])
    assert content_type.startswith("application/json"), (status, content_type, raw[:200], method, target[:200])
    answer = json.loads(raw)
    if status == 200:
        COUNTS["rest_ok"] += 1
        return answer
    assert 400 <= status < 500, (status, answer)
    assert isinstance(answer, dict) and set(answer) == {"code", "msg"}, answer
    assert type(answer["code"]) is int and answer["code"] < 0 and answer["code"] != -1000, answer
    assert isinstance(answer["msg"], str) and answer["msg"], answer
    return answer


def _sign(live: LiveVenue, payload: str) -> str:
    return hmac.new(live.key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


REST_REQUEST = st.fixed_dictionaries({
    "endpoint": st.sampled_from(ENDPOINTS),
    "params": st.lists(st.tuples(st.sampled_from(NAMES), HOSTILE), max_size=5),
    "signing": st.sampled_from(["valid", "none", "hostile"]),
    "in_body": st.booleans(),
    "api_key": HOSTILE,
    "content_type": st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain",
                                     "application/x-www-form-urlencoded; charset=klingon", "multipart/form-data"]),
})  # fmt: skip


@settings(FUZZ, max_examples=220)
@given(case=REST_REQUEST)
def test_fuzz_rest_when_values_hostile_then_binance_error_or_read_only_success(
    live: LiveVenue, case: dict[str, Any]
) -> None:
    ep = case["endpoint"]
    pairs: list[tuple[str, str]] = list(case["params"])
    headers = {"X-MBX-APIKEY": live.key.key if case["signing"] == "valid" else case["api_key"]}
    if case["signing"] == "hostile":
        pairs += [("timestamp", case["api_key"]), ("signature", case["api_key"])]
    if case["signing"] == "valid":
        pairs.append(("timestamp", str(live.state.wall_ns() // 1_000_000)))
    encoded = urlencode(pairs)
    if case["signing"] == "valid":
        encoded += ("&" if encoded else "") + f"signature={_sign(live, encoded)}"
    in_body = case["in_body"] and ep.method != "GET"
    headers = {k: v for k, v in headers.items() if v.isascii() and v.isprintable()}
    if in_body:
        headers["Content-Type"] = case["content_type"]
    target = ep.path if in_body else f"{ep.path}?{encoded}"
    if len(target) > 8000:  # the HTTP parser's line limit (module docstring)
        return
    answer = _send(live, ep.method, target, encoded.encode() if in_body else None, headers)
    if isinstance(answer, dict) and answer.get("code", 0) < 0:
        return
    assert ep.method == "GET" or ep.path == "/api/v3/userDataStream", (ep.method, ep.path, answer)


RAW_REQUEST = st.fixed_dictionaries({
    "method": st.sampled_from(METHODS),
    "path": st.one_of(
        st.sampled_from(PATHS),
        st.sampled_from(PATHS).map(lambda p: p + "/"),
        st.sampled_from(PATHS).map(str.upper),
        st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4).map(
            lambda parts: "/" + "/".join(quote(p, safe="") for p in parts)),
        st.sampled_from(["/api/v3", "/api", "/sapi/v1/x", "/api/v3/order/test/x", "/ws", "/stream", "/ws-api/v3"]),
    ),
    "query": st.one_of(
        st.just(""),
        st.binary(max_size=64).map(lambda b: quote(b, safe="=&")),
        st.sampled_from(["&&&", "=", "==", "a=1&a=2", "%zz", "%", "symbol=%FF%FE", "symbol", "symbol=BTCUSDT&&",
                         "symbol=BTCUSDT&symbol=BTCUSDT", "limit=1&limit=", "timestamp=1&signature=x" * 100]),
    ),
    "body": st.one_of(st.none(), st.binary(max_size=2000), st.sampled_from([
        b"\xff\xfe\xfd", b"symbol=\x80", b"=" * 5000, b"a=1&" * 3000, b'{"symbol": "BTCUSDT"}', b"\x00" * 100,
    ])),
    "content_type": st.sampled_from(["application/x-www-form-urlencoded", "application/json",
                                     "text/plain; charset=utf-16", "application/octet-stream"]),
})  # fmt: skip


@settings(FUZZ, max_examples=150)
@given(case=RAW_REQUEST)
def test_fuzz_rest_when_paths_methods_and_bodies_malformed_then_binance_error(
    live: LiveVenue, case: dict[str, Any]
) -> None:
    path = case["path"]
    if path.startswith("/admin"):  # this venue's own endpoints, not Binance's (tested in test_admin_values)
        return
    method, body = case["method"], case["body"]
    headers = {"Content-Type": case["content_type"], "X-MBX-APIKEY": live.key.key}
    target = path + (f"?{case['query']}" if case["query"] else "")
    answer = _send(live, method, target, body if method != "GET" else None, headers)
    if isinstance(answer, dict) and answer.get("code", 0) < 0:
        return
    assert method == "GET" or path == "/api/v3/userDataStream", (method, target, answer)


# --- WebSocket -----------------------------------------------------------------------------------
WS_METHOD = st.sampled_from(["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY"])
WS_PARAMS = st.lists(HOSTILE | JSON_VALUE, max_size=3) | JSON_VALUE
WS_ID = st.integers(0, 100) | JSON_VALUE | HOSTILE
WS_FRAME = st.one_of(
    st.fixed_dictionaries({"method": WS_METHOD, "params": WS_PARAMS, "id": WS_ID}),  # each part may be wrong
    st.fixed_dictionaries(
        {"method": WS_METHOD | st.sampled_from(["subscribe", "", "PING"]) | JSON_VALUE},
        optional={"params": WS_PARAMS, "id": WS_ID, "extra": JSON_VALUE},
    ),
    JSON_VALUE,
).map(lambda v: json.dumps(v, allow_nan=True)) | st.text(max_size=40)


@settings(FUZZ, max_examples=60)
@given(frames=st.lists(WS_FRAME, min_size=1, max_size=4))
def test_fuzz_stream_requests_when_malformed_then_error_objects_and_connection_open(
    live: LiveVenue, frames: list[str]
) -> None:
    async def scenario() -> list[Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws") as ws:
            for frame in frames:
                await ws.send_str(frame)
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4242424242}))
            replies: list[Any] = []
            async with asyncio.timeout(TIMEOUT):
                while not replies or replies[-1].get("id") != 4242424242:
                    msg = await ws.receive()
                    assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.extra, frames)
                    data = json.loads(msg.data)
                    if isinstance(data, dict) and "id" in data:
                        replies.append(data)
            return replies

    replies = asyncio.run(scenario())
    COUNTS["ws"] += len(frames) + 1

    assert len(replies) == len(frames) + 1
    for reply in replies[:-1]:
        assert set(reply) in ({"result", "id"}, {"error", "id"}), reply
        if "error" in reply:
            assert set(reply["error"]) == {"code", "msg"}
            assert type(reply["error"]["code"]) is int and isinstance(reply["error"]["msg"], str)
    assert isinstance(replies[-1]["result"], list)


WS_API_PARAMS = st.dictionaries(
    st.sampled_from(["apiKey", "timestamp", "recvWindow", "signature", "x"]), JSON_VALUE | HOSTILE, max_size=5
)


def _ws_sign(live: LiveVenue, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` signed with the venue's key, so the timing checks behind the signature are reached."""
    params = {**params, "apiKey": live.key.key}
    params.pop("signature", None)
    payload = "&".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, allow_nan=True, separators=(',', ':'))}"
        for k, v in sorted(params.items())
    )
    return {**params, "signature": _sign(live, payload)}


@settings(FUZZ, max_examples=60)
@given(
    params=WS_API_PARAMS | JSON_VALUE,
    method=st.sampled_from(["userDataStream.subscribe.signature", "time", "x"]) | JSON_VALUE,
    signed=st.booleans(),
)
def test_fuzz_ws_api_when_params_malformed_then_4xx_error_and_connection_open(
    live: LiveVenue, params: Any, method: Any, signed: bool
) -> None:
    if signed and isinstance(params, dict):
        params = _ws_sign(live, params)

    async def scenario() -> list[Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws-api/v3") as ws:
            await ws.send_str(json.dumps({"id": 1, "method": method, "params": params}, allow_nan=True))
            await ws.send_str(json.dumps({"id": 2, "method": "ping"}))
            async with asyncio.timeout(TIMEOUT):
                return [json.loads((await ws.receive()).data) for _ in range(2)]

    first, pong = asyncio.run(scenario())
    COUNTS["ws"] += 2

    if first.get("status") != 200:  # a valid subscription (hostile values that happen to be in range) is fine
        assert 400 <= first["status"] < 500, first
        assert type(first["error"]["code"]) is int and first["error"]["code"] < 0, first
    assert pong["status"] == 200


# --- afterwards ----------------------------------------------------------------------------------
def test_fuzz_zz_when_done_then_venue_consistent_and_still_trading(live: LiveVenue) -> None:
    """Runs after the fuzz (file order): nothing it sent changed the account; a valid order still works."""
    venue = live.state.venue
    account = live.key.account
    assert COUNTS["rest"] >= 300, COUNTS
    assert COUNTS["limited"] == 0, COUNTS  # every request reached the handlers
    assert venue.open_orders(account, None) == []
    assert venue.all_orders(account, "BTCUSDT") == []
    balances = {a: (b.free, b.locked) for a, b in venue.balances(account).items()}
    assert balances == {"USDT": (100_000, 0), "BTC": (1, 0)}

    pairs = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.001"),
             ("timestamp", str(live.state.wall_ns() // 1_000_000))]  # fmt: skip
    encoded = urlencode(pairs)
    placed = _send(live, "POST", f"/api/v3/order?{encoded}&signature={_sign(live, encoded)}", None,
                   {"X-MBX-APIKEY": live.key.key})  # fmt: skip

    assert placed["status"] == "FILLED"
    assert venue.balances(account)["BTC"].free > 1
    print(f"\nvenue fuzz: {COUNTS['rest']} REST requests ({COUNTS['rest_ok']} valid read-only), "
          f"{COUNTS['ws']} WebSocket messages, peak weight {COUNTS['max_weight']}")  # fmt: skip
