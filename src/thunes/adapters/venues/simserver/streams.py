"""WebSocket endpoints: market streams (raw ``/ws``, combined ``/stream``), the listenKey user data
stream and the WebSocket API's user-data subscription (``/ws-api/v3``), as Binance serves them.

Binance sends a ping frame every 20 s and drops connections after 24 h (web-socket-streams.md);
both are honoured here, the age limit configurable so tests can exercise reconnection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from thunes.adapters.venues.simserver import formats
from thunes.adapters.venues.simserver.hub import Connection, StreamHub
from thunes.adapters.venues.simserver.state import STATE, ServerState
from thunes.adapters.venues.simserver.stream_control import (
    MAX_STREAMS,
    STREAM,
    Invalid,
    parse_control,
    verify_ws_signature,
)
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import ExecutionReport

__all__ = ["HUB", "StreamSettings", "register"]

HUB = web.AppKey("hub", StreamHub)
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
MAX_MESSAGES_PER_S = 5  # web-socket-streams.md, "WebSocket Limits": beyond it, the connection is closed


class StreamSettings:
    """Heartbeat and connection age (seconds), and the incoming message limit per second."""

    def __init__(
        self, ping_interval: float = 20.0, max_age: float = 24 * 3600.0, max_messages_per_s: int = MAX_MESSAGES_PER_S
    ) -> None:
        self.ping_interval = ping_interval
        self.max_age = max_age
        self.max_messages_per_s = max_messages_per_s


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


class _MessageRate:
    """Incoming messages of one connection in the last second (sliding window, wall clock)."""

    def __init__(self, limit: int, clock_ns: Callable[[], int]) -> None:
        self._limit, self._clock_ns = limit, clock_ns
        self._times: collections.deque[int] = collections.deque()

    def exceeded(self) -> bool:
        """Count one message; True when it is more than ``limit`` within a second."""
        now = self._clock_ns()
        self._times.append(now)
        while self._times[0] <= now - NS_PER_S:
            self._times.popleft()
        return len(self._times) > self._limit


async def _serve(request: web.Request, conn: Connection) -> web.WebSocketResponse:
    """Run one connection: a writer draining its queue, a reader answering requests, the age limit."""
    hub, settings, state = request.app[HUB], request.app[SETTINGS], request.app[STATE]
    rate = _MessageRate(settings.max_messages_per_s, state.wall_ns)
    hub.add(conn)
    writer = asyncio.ensure_future(_write(conn))
    try:
        async with asyncio.timeout(settings.max_age):
            async for message in conn.ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if rate.exceeded():
                        await _close_flushed(hub, conn, "Too many messages")
                        break
                    conn.offer(json.dumps(_on_control(hub, conn, message.data)), droppable=False)
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


async def _close_flushed(hub: StreamHub, conn: Connection, reason: str) -> None:
    """Close with 1008 after the replies already queued are sent (no new market data is queued)."""
    hub.remove(conn)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            await conn.queue.join()
    await _close(conn.ws, reason)


async def _write(conn: Connection) -> None:
    while True:
        text = await conn.queue.get()
        try:
            await conn.ws.send_str(text)
        finally:
            conn.queue.task_done()


def _prepare(request: web.Request) -> web.WebSocketResponse:
    return web.WebSocketResponse(heartbeat=request.app[SETTINGS].ping_interval, autoping=True)


def _url_streams(request: web.Request, names: list[str]) -> set[str]:
    """Streams named in the URL; more than 1024 is refused before the upgrade (HTTP 400, Binance JSON)."""
    streams = {s for s in names if STREAM.match(s)}
    if len(streams) > MAX_STREAMS:
        raise web.HTTPBadRequest(
            text=json.dumps({"code": -1101, "msg": f"Too many parameters; expected '{MAX_STREAMS}' and received "
                             f"'{len(streams)}'."}),
            content_type="application/json",
        )  # fmt: skip
    return streams


async def _raw(request: web.Request) -> web.WebSocketResponse:
    """``/ws``, ``/ws/<stream>[/<stream>...]`` or ``/ws/<listenKey>``."""
    state = request.app[STATE]
    path = request.match_info.get("path", "")
    listener = state.listen_keys.get(path)
    streams = _url_streams(request, path.split("/")) if path and listener is None else set()
    ws = _prepare(request)
    await ws.prepare(request)
    conn = Connection(ws, combined=False, opened_ns=state.wall_ns())
    if listener is not None:
        conn.accounts.add(listener)
    conn.streams.update(streams)
    return await _serve(request, conn)


async def _combined(request: web.Request) -> web.WebSocketResponse:
    """``/stream?streams=a/b/c``: every message wrapped as ``{"stream", "data"}``."""
    state = request.app[STATE]
    streams = _url_streams(request, request.query.get("streams", "").split("/"))
    ws = _prepare(request)
    await ws.prepare(request)
    conn = Connection(ws, combined=True, opened_ns=state.wall_ns())
    conn.streams.update(streams)
    return await _serve(request, conn)


def _on_control(hub: StreamHub, conn: Connection, text: str | bytes) -> dict[str, Any]:
    """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY (web-socket-streams.md)."""
    try:
        request = parse_control(text, conn.streams)
    except Invalid as e:
        return e.reply
    method, params, request_id = request.method, request.params, request.request_id
    result: Any = None
    if method == "SUBSCRIBE":
        hub.subscribe(conn, params)
    elif method == "UNSUBSCRIBE":
        hub.unsubscribe(conn, params)
    elif method == "LIST_SUBSCRIPTIONS":
        result = sorted(conn.streams)
    elif method == "SET_PROPERTY":
        conn.combined = params[1]
    else:  # GET_PROPERTY combined
        result = conn.combined
    return {"result": result, "id": request_id}


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
    except (ValueError, RecursionError):
        return _ws_api_error(None, 400, -1135, "Invalid JSON.")
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return _ws_api_error(None, 400, -1102, "Mandatory parameter 'method' was not sent, was empty/null, or "
                             "malformed.")  # fmt: skip
    request_id = message.get("id")
    if isinstance(request_id, dict | list):
        request_id = None
    handler = _WS_API.get(message["method"])
    if handler is None:
        return _ws_api_error(request_id, 400, -1020, "This operation is not supported.")
    params = message.get("params", {})
    if not isinstance(params, dict):
        return _ws_api_error(request_id, 400, -1135, "Invalid JSON.")
    return handler(state, hub, conn, params, request_id)


def _api_ping(state: ServerState, hub: StreamHub, conn: Connection, params: Any, rid: Any) -> dict[str, Any]:
    return {"id": rid, "status": 200, "result": {}}


def _api_time(state: ServerState, hub: StreamHub, conn: Connection, params: Any, rid: Any) -> dict[str, Any]:
    return {"id": rid, "status": 200, "result": {"serverTime": state.server_time_ms()}}


def _api_subscribe(state: ServerState, hub: StreamHub, conn: Connection, params: Any, rid: Any) -> dict[str, Any]:
    """``userDataStream.subscribe.signature``: user data on this connection, tagged by subscription id."""
    try:
        account = verify_ws_signature(state, params).account
    except VenueError as e:
        return _ws_api_error(rid, e.http_status, e.code, e.msg)
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
