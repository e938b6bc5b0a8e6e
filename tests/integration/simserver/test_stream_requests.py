"""Requests on WebSocket connections (issue 15, item 18): a malformed request is answered with Binance's
error object and the connection stays open; 1024 streams per connection, 5 messages per second;
the WebSocket API caps ``recvWindow`` at 60000 like REST (-1131)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.venues.simserver.stream_control import MAX_STREAMS


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


async def _replies(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[Any]:
    """The next ``count`` replies (messages with an ``id`` key), skipping market data."""
    out: list[Any] = []
    async with asyncio.timeout(TIMEOUT):
        while len(out) < count:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, f"connection ended: {msg.type} {msg.extra}"
            data = json.loads(msg.data)
            if "id" in data:
                out.append(data)
    return out


def _exchange(live: LiveVenue, url: str, frames: list[str | bytes]) -> list[Any]:
    """Send ``frames`` then LIST_SUBSCRIPTIONS; every reply, the last one proving the connection is alive."""

    async def scenario() -> list[Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(live.ws_url + url) as ws:
            for frame in frames:
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 999}))
            return await _replies(ws, len(frames) + 1)

    return asyncio.run(scenario())


BAD_REQUESTS: list[tuple[str | bytes, int, str]] = [
    ("{", 3, "Invalid JSON"),
    ("", 3, "Invalid JSON"),
    (b"\xff\xfe", 3, "Invalid JSON"),
    ("[" * 100_000, 3, "Invalid JSON"),  # nesting past the parser's recursion limit
    ("[1, 2]", 2, "Invalid request"),
    ('"SUBSCRIBE"', 2, "Invalid request"),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"]}', 2, "request ID"),  # no id
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": [1]}', 2, "request ID"),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1e999}', 2, "request ID"),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 99999999999999999999}', 2, "request ID"),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": "not alnum!"}', 2, "request ID"),
    ('{"params": ["btcusdt@trade"], "id": 1}', 2, "missing field `method`"),
    ('{"method": ["SUBSCRIBE"], "params": [], "id": 1}', 2, "unknown variant"),
    ('{"method": "subscribe", "params": [], "id": 1}', 2, "unknown variant"),
    ('{"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 1}', 2, "params"),
    ('{"method": "SUBSCRIBE", "params": {"a": 1}, "id": 1}', 2, "params"),
    ('{"method": "SUBSCRIBE", "params": [["btcusdt@trade"]], "id": 1}', 2, "stream name"),
    ('{"method": "SUBSCRIBE", "params": [null], "id": 1}', 2, "stream name"),
    ('{"method": "UNSUBSCRIBE", "params": [7], "id": 1}', 2, "stream name"),
    ('{"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 1}', 2, "too many parameters"),
    ('{"method": "SUBSCRIBE", "params": [], "id": 1, "extra": 1}', 2, "too many parameters"),
    ('{"method": "SET_PROPERTY", "params": ["combined"], "id": 1}', 2, "property name"),
    ('{"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 1}', 1, "expected Boolean"),
    ('{"method": "GET_PROPERTY", "params": ["colour"], "id": 1}', 0, "Unknown property"),
]


@pytest.mark.parametrize(("frame", "code", "words"), BAD_REQUESTS)
def test_stream_request_when_malformed_then_error_object_and_connection_stays_open(
    live: LiveVenue, frame: str | bytes, code: int, words: str
) -> None:
    error, listing = _exchange(live, "/ws", [frame])

    assert set(error) == {"error", "id"}
    assert error["error"]["code"] == code
    assert words in error["error"]["msg"]
    assert error["id"] in (None, 1)
    assert listing == {"result": [], "id": 999}  # nothing subscribed, still answering


def test_set_property_when_combined_then_messages_enveloped(live: LiveVenue) -> None:
    replies = _exchange(live, "/ws", [
        json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 1}),
        json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": "a2"}),
    ])  # fmt: skip

    assert replies[:2] == [{"result": None, "id": 1}, {"result": True, "id": "a2"}]


def _streams(n: int) -> list[str]:
    return [f"s{i}@trade" for i in range(n)]


def test_subscribe_when_over_1024_streams_then_refused_whole_and_earlier_ones_kept(live: LiveVenue) -> None:
    replies = _exchange(live, "/ws", [
        json.dumps({"method": "SUBSCRIBE", "params": _streams(1000), "id": 1}),
        json.dumps({"method": "SUBSCRIBE", "params": _streams(1025)[1000:], "id": 2}),
        json.dumps({"method": "SUBSCRIBE", "params": _streams(1024)[1000:], "id": 3}),
    ])  # fmt: skip

    assert replies[0] == {"result": None, "id": 1}
    assert replies[1]["error"]["code"] == 2
    assert "1024" in replies[1]["error"]["msg"]
    assert replies[2] == {"result": None, "id": 3}
    assert len(replies[3]["result"]) == MAX_STREAMS


@pytest.mark.parametrize("url", ["/stream?streams=", "/ws/"])
def test_connect_when_url_names_over_1024_streams_then_400_binance_json(live: LiveVenue, url: str) -> None:
    streams = "/".join(_streams(1025))  # over 8190 bytes: aiohttp's parser answered it in plain text before
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip

    async def scenario() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(live.ws_url + url + streams)
            async with session.get(live.base_url + url + streams, headers=headers) as answer:
                assert answer.status == caught.value.status
                return answer.status, await answer.json()

    status, body = asyncio.run(scenario())

    assert len(url + streams) > 8190
    assert status == 400
    assert body == {"code": -1101, "msg": "Too many parameters; expected '1024' and received '1025'."}


@pytest.mark.parametrize("url", ["/stream?streams=", "/ws/"])
def test_connect_when_url_names_1024_long_streams_then_connected(live: LiveVenue, url: str) -> None:
    streams = "/".join(f"s{i:04d}usdtusdtusdt@depth20@100ms" for i in range(MAX_STREAMS))  # ~35 KB, Binance's most

    async def scenario() -> list[Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(live.ws_url + url + streams) as ws:
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            return await _replies(ws, 1)

    replies = asyncio.run(scenario())

    assert len(replies[0]["result"]) == MAX_STREAMS


def test_messages_when_more_than_5_in_a_second_then_connection_closed(live: LiveVenue) -> None:
    frozen = live.state.wall_ns()
    live.state.wall_ns = lambda: frozen  # every message in the same instant: the count alone decides

    async def scenario() -> tuple[list[Any], aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws") as ws:
            for i in range(6):
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            answered = await _replies(ws, 5)
            async with asyncio.timeout(TIMEOUT):
                while (last := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                    pass
            return answered, last

    try:
        answered, last = asyncio.run(scenario())
    finally:
        del live.state.wall_ns  # back to the dataclass default (the real clock)

    assert [r["id"] for r in answered] == [0, 1, 2, 3, 4]
    assert last.type is aiohttp.WSMsgType.CLOSE
    assert last.data == 1008


# --- WebSocket API -------------------------------------------------------------------------------
def _signed(live: LiveVenue, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"apiKey": live.key.key, "timestamp": live.state.wall_ns() // 1_000_000, **extra}
    payload = "&".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(live.key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


def _ws_api(live: LiveVenue, requests: list[Any]) -> list[Any]:
    async def scenario() -> list[Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws-api/v3") as ws:
            for request in requests:
                await ws.send_str(request if isinstance(request, str) else json.dumps(request))
            await ws.send_str(json.dumps({"method": "ping", "id": "last"}))
            return await _replies(ws, len(requests) + 1)

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"recvWindow": 60001}, -1131),
        ({"recvWindow": "60000.001"}, -1131),
        ({"recvWindow": 10**12}, -1131),
        ({"recvWindow": 1e308}, -1100),
        ({"recvWindow": "NaN"}, -1100),
        ({"recvWindow": [1]}, -1100),
        ({"recvWindow": True}, -1100),
        ({"recvWindow": -1}, -1100),
        ({"timestamp": 10**30}, -1100),
        ({"timestamp": "now"}, -1100),
        ({"timestamp": None}, -1100),
        ({"timestamp": 1499827319559}, -1021),  # 2017: outside any recvWindow
    ],
)
def test_ws_api_subscribe_when_timing_malformed_then_rest_codes_and_connection_open(
    live: LiveVenue, extra: dict[str, Any], code: int
) -> None:
    reply, pong = _ws_api(live, [{"id": 7, "method": "userDataStream.subscribe.signature",
                                  "params": _signed(live, **extra)}])  # fmt: skip

    assert (reply["id"], reply["status"], reply["error"]["code"]) == (7, 400, code), reply
    assert pong == {"id": "last", "status": 200, "result": {}}


def test_ws_api_subscribe_when_recv_window_at_most_60000_then_subscribed(live: LiveVenue) -> None:
    reply, _ = _ws_api(live, [{"id": 1, "method": "userDataStream.subscribe.signature",
                               "params": _signed(live, recvWindow=60000)}])  # fmt: skip

    assert reply["status"] == 200
    assert reply["result"] == {"subscriptionId": 0}


@pytest.mark.parametrize(
    "request_",
    [
        "{",
        "[1]",
        {"id": 1, "method": ["userDataStream.subscribe.signature"]},
        {"id": 1, "method": "userDataStream.subscribe.signature", "params": [1]},
        {"id": 1, "method": "userDataStream.subscribe.signature", "params": {"apiKey": ["k"]}},
        {"id": 1, "method": "userDataStream.subscribe.signature", "params": {"apiKey": "x", "signature": "é"}},
        {"id": 1, "method": "nope"},
    ],
)
def test_ws_api_when_request_malformed_then_error_status_4xx_and_connection_open(
    live: LiveVenue, request_: Any
) -> None:
    reply, pong = _ws_api(live, [request_])

    assert 400 <= reply["status"] < 500
    assert isinstance(reply["error"]["code"], int) and reply["error"]["code"] < 0
    assert pong["status"] == 200
