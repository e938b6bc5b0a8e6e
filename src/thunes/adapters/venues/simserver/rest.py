"""The REST API of the simulated Binance spot venue: routes and the request pipeline.

Every request goes through the same steps, in Binance's order: parse the query string and form
body (query wins on a clash), charge the request weight to the caller's IP (429/418 past the
limit), check the API key, the parameters the endpoint reads, the signature and the timestamp,
then run the handler over the matching core. A :class:`VenueError` becomes Binance's JSON error
``{"code": ..., "msg": ...}`` with its HTTP status; so do aiohttp's own 4xx answers (unknown path
404, wrong method 405, body too large 413), which would otherwise be plain text that clients such
as ccxt cannot map to an error class; so does a request target over ``MAX_TARGET_BYTES`` (414, -1101)
or a header over ``MAX_HEADER_BYTES`` or more than ``MAX_HEADERS`` of them (431, -1100), which the
server's HTTP parser lets through to here (``app.make_runner``). A body that is not UTF-8 is -1100,
like any illegal character.
Anything unexpected becomes HTTP 500 code -1000 (a retryable outage for clients, so only a last
resort: the fuzz test asserts no malformed request reaches it), logged without parameters or
headers (they hold the signature and the API key), never a traceback to the client. Every
response carries ``X-MBX-USED-WEIGHT-1M``.
"""

from __future__ import annotations

import traceback

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from thunes.adapters.venues.simserver import rest_account, rest_market, rest_trades, rest_trading
from thunes.adapters.venues.simserver.auth import authenticate
from thunes.adapters.venues.simserver.limits import RateLimiter, RateLimitError
from thunes.adapters.venues.simserver.rest_params import Params
from thunes.adapters.venues.simserver.rest_types import NS_PER_MS, Ctx, Endpoint, Reply
from thunes.adapters.venues.simserver.state import ServerState
from thunes.simvenue.errors import VenueError

__all__ = ["ENDPOINTS", "LIMITER", "MAX_HEADERS", "MAX_HEADER_BYTES", "MAX_TARGET_BYTES", "UNKNOWN_ERROR", "register",
           "serve"]  # fmt: skip

LIMITER = web.AppKey("simserver_limiter", RateLimiter)
ENDPOINTS: tuple[Endpoint, ...] = (
    *rest_market.ENDPOINTS,
    *rest_trades.ENDPOINTS,
    *rest_trading.ENDPOINTS,
    *rest_account.ENDPOINTS,
)
UNKNOWN_ERROR_MSG = "An unknown error occured while processing the request."  # sic, Binance's text
UNKNOWN_ERROR = {"code": -1000, "msg": UNKNOWN_ERROR_MSG}
_log = structlog.get_logger(__name__)


def _json(body: object, status: int, headers: dict[str, str]) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _error(e: VenueError, headers: dict[str, str]) -> web.Response:
    if isinstance(e, RateLimitError):
        headers = {**headers, "Retry-After": str(e.retry_after_s)}
    return _json(e.as_json(), e.http_status, headers)


def _run(ep: Endpoint, ctx: Ctx, api_key: str | None, raw_query: str, raw_body: str) -> Reply:
    ctx.key = authenticate(ctx.state, ep.security, api_key, ctx.params, raw_query, raw_body)
    ctx.params.only(ep.accepts)
    result = ep.handler(ctx)
    return result if isinstance(result, Reply) else Reply(result)


def _decode(raw_body: str | bytes) -> str:
    """The form body as text: UTF-8 only (Binance reads nothing else), -1100 otherwise."""
    if isinstance(raw_body, str):
        return raw_body
    try:
        return raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise VenueError(-1100, "Illegal characters found in a parameter.") from None


def serve(
    ep: Endpoint,
    state: ServerState,
    limiter: RateLimiter,
    ip: str,
    api_key: str | None,
    raw_query: str,
    raw_body: str | bytes,
    started_ms: int = 0,
) -> web.Response:
    """Answer one request to ``ep`` (synchronous: the matching core runs on the server's loop)."""
    params: Params | None = None
    parse_error: VenueError | None = None
    body = ""
    try:
        body = _decode(raw_body)
        params = Params(raw_query, body)
    except VenueError as e:
        parse_error = e
    weight = ep.weight_of(params)
    try:
        limiter.admit(ip, weight)
    except RateLimitError as e:
        return _error(e, limiter.weight_headers(ip))
    try:
        if parse_error is not None or params is None:
            raise parse_error or VenueError(-1000, UNKNOWN_ERROR_MSG)
        reply = _run(ep, Ctx(state, params, None, limiter, started_ms), api_key, raw_query, body)
    except VenueError as e:
        return _error(e, limiter.weight_headers(ip))
    except Exception as e:  # never a traceback to the client
        _log_unexpected(e, ep.method, ep.path)
        return _json(UNKNOWN_ERROR, 500, limiter.weight_headers(ip))
    if ep.free_on_success and reply.status == 200:
        limiter.refund(ip, weight)
    return _json(reply.body, reply.status, {**limiter.weight_headers(ip), **reply.headers})


def _log_unexpected(e: BaseException, method: str, path: str) -> None:
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    _log.error(
        "simserver_unhandled_error",
        method=method,
        path=path,
        error_type=type(e).__name__,
        location=f"{where.filename}:{where.lineno}" if where else "",
    )


def _route(ep: Endpoint, state: ServerState, limiter: RateLimiter, started_ms: int) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        raw_body = await request.read() if request.method != "GET" and request.body_exists else b""
        ip = request.remote or "unknown"
        return serve(ep, state, limiter, ip, request.headers.get("X-MBX-APIKEY"), request.rel_url.raw_query_string,
                     raw_body, started_ms)  # fmt: skip

    return handle


# aiohttp's own refusals, answered as Binance-shaped errors (the HTTP status is kept).
_UNSUPPORTED = {"code": -1020, "msg": "This operation is not supported."}
_HTTP_ERRORS: dict[int, dict[str, int | str]] = {
    413: {"code": -1101, "msg": "Too many parameters sent for this endpoint."},
    414: {"code": -1101, "msg": "Too many parameters sent for this endpoint."},
    431: {"code": -1100, "msg": "Illegal characters found in a parameter."},
}
MAX_TARGET_BYTES = 65_536  # path and query: room for a stream URL naming 1024 streams, Binance's limit
MAX_HEADER_BYTES = 8_190  # one header, name and value (the common front-end limit, and aiohttp's default)
MAX_HEADERS = 128  # headers in one request (aiohttp's default)


def _oversized(request: web.Request) -> int | None:
    """414 for a request target, 431 for a header or their count, over the venue's limits; None within them."""
    if len(request.raw_path.encode("utf-8", "surrogateescape")) > MAX_TARGET_BYTES:
        return 414
    headers = request.raw_headers
    if len(headers) > MAX_HEADERS or any(len(name) + len(value) > MAX_HEADER_BYTES for name, value in headers):
        return 431
    return None


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _binance_errors(limiter: RateLimiter) -> Middleware:
    """Every answer carries the weight header; aiohttp's 4xx and any escaped exception become JSON errors.

    ``/admin`` keeps its own plain answers (it is this venue's, not Binance's), and a WebSocket
    upgrade is left alone: once upgraded, no HTTP response may follow.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        oversized = _oversized(request)
        if oversized is not None and not request.path.startswith("/admin"):
            return _json(_HTTP_ERRORS[oversized], oversized, limiter.weight_headers(request.remote or "unknown"))
        try:
            return await handler(request)
        except web.HTTPException as e:
            headers = limiter.weight_headers(request.remote or "unknown")
            for name, value in headers.items():
                e.headers.setdefault(name, value)
            if e.status < 400 or request.path.startswith("/admin") or e.content_type == "application/json":
                raise
            body = _HTTP_ERRORS.get(e.status, _UNSUPPORTED)
            allow = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else {}
            return _json(body, e.status, {**headers, **allow})
        except Exception as e:  # the last resort; a request reaching it is a bug
            if _is_websocket(request) or request.path.startswith("/admin"):
                raise
            _log_unexpected(e, request.method, request.path)
            return _json(UNKNOWN_ERROR, 500, limiter.weight_headers(request.remote or "unknown"))

    return middleware


def register(app: web.Application, state: ServerState) -> None:
    """Add every REST route for ``state`` to ``app``; the rate limiter is ``app[LIMITER]``."""

    def wall_ns() -> int:  # read through ``state`` so a test may swap the clock after startup
        return state.wall_ns()

    limiter = RateLimiter(state.exchange_info.rate_limits, wall_ns)
    limiter.watch(state.venue)  # fills lower the unfilled order count
    app[LIMITER] = limiter
    started_ms = state.wall_ns() // NS_PER_MS
    for ep in ENDPOINTS:
        app.router.add_route(ep.method, ep.path, _route(ep, state, limiter, started_ms))
    app.middlewares.append(_binance_errors(limiter))
