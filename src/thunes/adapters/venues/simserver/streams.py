"""WebSocket endpoints: market streams (raw ``/ws``, combined ``/stream``), the listenKey user data
stream and the WebSocket API's user-data subscription (``/ws-api/v3``), as Binance serves them.

Binance sends a ping frame every 20 s and drops connections after 24 h (web-socket-streams.md);
both are honoured here, the age limit configurable so tests can exercise reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from thunes.adapters.venues.simserver import formats
from thunes.adapters.venues.simserver.hub import Connection, StreamHub
from thunes.adapters.venues.simserver.state import STATE, ServerState
from thunes.simvenue.models import ExecutionReport

__all__ = ["HUB", "StreamSettings", "register"]

HUB = web.AppKey("hub", StreamHub)
_STREAM = re.compile(
    r"^[a-z0-9]+@(trade|aggTrade|bookTicker|ticker|miniTicker|depth(5|10|20)?(@100ms|@1000ms)?|kline_\w+)$"
)
NS_PER_MS = 1_000_000


class StreamSettings:
    """Heartbeat and connection age (seconds)."""

    def __init__(self, ping_interval: float = 20.0, max_age: float = 24 * 3600.0) -> None:
        self.ping_interval = ping_interval
        self.max_age = max_age


SETTINGS = web.AppKey("stream_settings", StreamSettings)


def register(app: web.Application, state: ServerState, settings: StreamSettings | None = None) -> StreamHub:
    """Add the WebSocket routes and the user-data fan-out; returns the hub the replay publishes to."""
    hub = StreamHub()
    app[HUB] = hub
    app[SETTINGS] = settings or StreamSettings()
    app.router.add_get("/ws", _raw)
    app.router.add_get("/ws/{path:.+}", _raw)
    app.router.add_get("/stream", _combined)
    app.router.add_get("/ws-api/v3", _ws_api)
    pending: set[str] = set()
    closing: set[asyncio.Task[None]] = set()

    def flush(account: str) -> None:
        pending.discard(account)
        for report in state.venue.drain(account):
            if isinstance(report, ExecutionReport):
                event = formats.execution_report_event(report)
            else:
                event = formats.account_position_event(report)
            for conn in hub.publish_user(account, event):
                task = asyncio.ensure_future(_close(conn.ws, "user data queue overflow"))
                closing.add(task)
                task.add_done_callback(closing.discard)

    def on_account(account: str) -> None:
        if account not in pending:  # one flush per burst of reports
            pending.add(account)
            asyncio.get_event_loop().call_soon(flush, account)

    state.venue.add_listener(on_account)
    return hub


async def _close(ws: web.WebSocketResponse, reason: str) -> None:
    await ws.close(code=1008, message=reason.encode())


async def _serve(request: web.Request, conn: Connection) -> web.WebSocketResponse:
    """Run one connection: a writer draining its queue, a reader answering requests, the age limit."""
    hub, settings = request.app[HUB], request.app[SETTINGS]
    hub.add(conn)
    writer = asyncio.ensure_future(_write(conn))
    try:
        async with asyncio.timeout(settings.max_age):
            async for message in conn.ws:
                if message.type is WSMsgType.TEXT:
                    reply = await _on_text(request, conn, message.data)
                    if reply is not None:
                        conn.offer(json.dumps(reply), droppable=False)
                elif message.type is WSMsgType.ERROR:
                    break
    except TimeoutError:
        pass  # the 24 h limit (configurable): the client must reconnect
    finally:
        hub.remove(conn)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await conn.ws.close()
    return conn.ws


async def _write(conn: Connection) -> None:
    while True:
        text = await conn.queue.get()
        await conn.ws.send_str(text)


def _prepare(request: web.Request) -> web.WebSocketResponse:
    return web.WebSocketResponse(heartbeat=request.app[SETTINGS].ping_interval, autoping=True)


async def _raw(request: web.Request) -> web.WebSocketResponse:
    """``/ws``, ``/ws/<stream>[/<stream>...]`` or ``/ws/<listenKey>``."""
    state = request.app[STATE]
    path = request.match_info.get("path", "")
    ws = _prepare(request)
    await ws.prepare(request)
    conn = Connection(ws, combined=False, opened_ns=state.wall_ns())
    if path in state.listen_keys:
        conn.accounts.add(state.listen_keys[path])
    elif path:
        conn.streams.update(s for s in path.split("/") if _STREAM.match(s))
    return await _serve(request, conn)


async def _combined(request: web.Request) -> web.WebSocketResponse:
    """``/stream?streams=a/b/c``: every message wrapped as ``{"stream", "data"}``."""
    state = request.app[STATE]
    ws = _prepare(request)
    await ws.prepare(request)
    conn = Connection(ws, combined=True, opened_ns=state.wall_ns())
    conn.streams.update(s for s in request.query.get("streams", "").split("/") if _STREAM.match(s))
    return await _serve(request, conn)


async def _on_text(request: web.Request, conn: Connection, text: str) -> dict[str, Any] | None:
    """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS (web-socket-streams.md, Live subscribing)."""
    try:
        message = json.loads(text)
        method, params, request_id = message["method"], message.get("params", []), message.get("id")
    except (ValueError, KeyError, TypeError):
        return {"error": {"code": 3, "msg": "Invalid JSON: expected an object with method, params and id"}, "id": None}
    hub = request.app[HUB]
    if method == "SUBSCRIBE":
        bad = [p for p in params if not isinstance(p, str) or not _STREAM.match(p)]
        if bad:
            return {"error": {"code": 2, "msg": f"Invalid request: invalid stream name {bad[0]!r}"}, "id": request_id}
        hub.subscribe(conn, params)
        return {"result": None, "id": request_id}
    if method == "UNSUBSCRIBE":
        hub.unsubscribe(conn, [p for p in params if isinstance(p, str)])
        return {"result": None, "id": request_id}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.streams), "id": request_id}
    return {
        "error": {"code": 2, "msg": f"Invalid request: unknown variant {method}, expected one of `SUBSCRIBE`, "
                  "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`"},
        "id": request_id,
    }  # fmt: skip


async def _ws_api(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket API, as far as user data goes: ``userDataStream.subscribe.signature``."""
    state = request.app[STATE]
    ws = _prepare(request)
    await ws.prepare(request)
    conn = Connection(ws, combined=False, opened_ns=state.wall_ns())
    hub = request.app[HUB]
    hub.add(conn)
    writer = asyncio.ensure_future(_write(conn))
    try:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                conn.offer(json.dumps(_ws_api_call(state, hub, conn, message.data)), droppable=False)
            elif message.type is WSMsgType.ERROR:
                break
    finally:
        hub.remove(conn)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    return ws


def _ws_api_error(request_id: Any, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": request_id, "status": status, "error": {"code": code, "msg": msg}}


def _ws_api_call(state: ServerState, hub: StreamHub, conn: Connection, text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
        method, params, request_id = message["method"], message.get("params", {}), message.get("id")
    except (ValueError, KeyError, TypeError):
        return _ws_api_error(None, 400, -1135, "Invalid JSON.")
    handler = _WS_API.get(method)
    if handler is None:
        return _ws_api_error(request_id, 400, -1020, "This operation is not supported.")
    return handler(state, hub, conn, params, request_id)


def _api_ping(state: ServerState, hub: StreamHub, conn: Connection, params: Any, rid: Any) -> dict[str, Any]:
    return {"id": rid, "status": 200, "result": {}}


def _api_time(state: ServerState, hub: StreamHub, conn: Connection, params: Any, rid: Any) -> dict[str, Any]:
    return {"id": rid, "status": 200, "result": {"serverTime": state.server_time_ms()}}


def _api_subscribe(state: ServerState, hub: StreamHub, conn: Connection, params: Any, rid: Any) -> dict[str, Any]:
    """``userDataStream.subscribe.signature``: user data on this connection, tagged by subscription id."""
    problem = _verify_ws_signature(state, params if isinstance(params, dict) else {})
    if problem is not None:
        return _ws_api_error(rid, 401 if problem[0] == -2015 else 400, *problem)
    account = state.api_keys[params["apiKey"]].account
    sub_id = len(conn.subscription_ids)
    conn.subscription_ids[account] = sub_id
    hub.subscribe_account(conn, account)
    return {"id": rid, "status": 200, "result": {"subscriptionId": sub_id}}


def _api_unsubscribe(state: ServerState, hub: StreamHub, conn: Connection, params: Any, rid: Any) -> dict[str, Any]:
    hub.remove(conn)
    conn.accounts.clear()
    conn.subscription_ids.clear()
    hub.add(conn)
    return {"id": rid, "status": 200, "result": {}}


_WS_API: dict[str, Callable[[ServerState, StreamHub, Connection, Any, Any], dict[str, Any]]] = {
    "ping": _api_ping,
    "time": _api_time,
    "userDataStream.subscribe.signature": _api_subscribe,
    "userDataStream.unsubscribe": _api_unsubscribe,
}


def _verify_ws_signature(state: ServerState, params: dict[str, Any]) -> tuple[int, str] | None:
    """WebSocket API signing: HMAC-SHA256 over the params sorted by name (web-socket-api.md)."""
    key = state.api_keys.get(str(params.get("apiKey", "")))
    if key is None:
        return -2015, "Invalid API-key, IP, or permissions for action."
    signature = str(params.get("signature", ""))
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return -1022, "Signature for this request is not valid."
    try:
        timestamp = int(params["timestamp"])
        window = int(float(params.get("recvWindow", 5000)))
    except (KeyError, ValueError):
        return -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
    now_ms = state.wall_ns() // NS_PER_MS
    if timestamp > now_ms + 1000 or now_ms - timestamp > window:
        return -1021, "Timestamp for this request is outside of the recvWindow."
    return None
