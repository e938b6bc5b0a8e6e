"""The control API: a small aiohttp application over a :class:`ControlBackend`.

Every route, unknown ones included, needs ``Authorization: Bearer <token>``, compared in constant
time; anything else is a 401 that says nothing about the routes. It binds 127.0.0.1 unless told
otherwise: it can stop trading. State changes are the backend's (the session posts them to its
control file, the path the CLI takes); this module parses, authenticates and serialises.
"""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from thunes.adapters.control.models import (
    ControlResult,
    ErrorBody,
    KillSwitchOffRequest,
    KillSwitchOnRequest,
    OperatorAction,
    OrdersBody,
    PortfolioBody,
    PositionsBody,
    StatusBody,
    StopEntryRequest,
)
from thunes.adapters.control.openapi import ROUTES, openapi_schema
from thunes.adapters.hosts import listening_socket

__all__ = ["DEFAULT_HOST", "ControlBackend", "ControlEndpointError", "ControlServer", "build_app"]

DEFAULT_HOST = "127.0.0.1"
_log = structlog.get_logger(__name__)
M = TypeVar("M", bound=BaseModel)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlEndpointError(RuntimeError):
    """The control API could not listen: choose another port (0 = any free one), then start again."""


class ControlBackend(Protocol):
    """What the API serves; the session implements it. Reads are called from the API's own thread."""

    def status(self) -> StatusBody: ...

    def positions(self) -> PositionsBody: ...

    def portfolio(self) -> PortfolioBody: ...

    def orders(self, *, open_only: bool, limit: int) -> OrdersBody: ...

    async def request(self, action: OperatorAction, by: str, reason: str) -> ControlResult:
        """Post ``action``; ``ValueError`` when it is refused (e.g. an automatic actor turning it off)."""
        ...


def _body(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _body(ErrorBody(error=message), status)


def _authenticated(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: _Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            response = _error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="thunes"'
            return response
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, "no such route (see /openapi.json)")
        except web.HTTPMethodNotAllowed as e:
            return _error(405, f"{e.method} not allowed here (see /openapi.json)")
        except Exception:  # e.g. the ledger closing while the session stops: say so, in the API's shape
            _log.exception("control_api_failed", path=request.path)
            return _error(500, "the session could not answer (see its log)")

    return auth


async def _parse(request: web.Request, model: type[M], required: bool) -> M:
    text = await request.text()
    if not text.strip():
        if required:
            raise ValueError("a JSON body is required")
        return model()
    return model.model_validate_json(text)


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


class _Handlers:
    """One method per operation id of :data:`ROUTES`."""

    def __init__(self, backend: ControlBackend, version: str) -> None:
        self.backend, self.schema = backend, json.dumps(openapi_schema(version))

    async def getStatus(self, _: web.Request) -> web.Response:  # noqa: N802 - named by its operation id
        return _body(self.backend.status())

    async def getPositions(self, _: web.Request) -> web.Response:  # noqa: N802
        return _body(self.backend.positions())

    async def getPortfolio(self, _: web.Request) -> web.Response:  # noqa: N802
        return _body(self.backend.portfolio())

    async def getOrders(self, request: web.Request) -> web.Response:  # noqa: N802
        try:
            open_only = _flag(request.query.get("open", "false"))
            limit = int(request.query.get("limit", "20"))
        except ValueError as e:
            return _error(400, str(e))
        if not 1 <= limit <= 1000:
            return _error(400, "limit must be in 1..1000")
        return _body(self.backend.orders(open_only=open_only, limit=limit))

    async def killSwitchOn(self, request: web.Request) -> web.Response:  # noqa: N802
        return await self._post(request, OperatorAction.KILL_SWITCH_ON, KillSwitchOnRequest, required=False)

    async def killSwitchOff(self, request: web.Request) -> web.Response:  # noqa: N802
        return await self._post(request, OperatorAction.KILL_SWITCH_OFF, KillSwitchOffRequest, required=True)

    async def stopEntry(self, request: web.Request) -> web.Response:  # noqa: N802
        return await self._post(request, OperatorAction.STOP_ENTRY, StopEntryRequest, required=False)

    async def getOpenApi(self, _: web.Request) -> web.Response:  # noqa: N802
        return web.Response(text=self.schema, content_type="application/json")

    async def _post(self, request: web.Request, action: OperatorAction,
                    model: type[KillSwitchOnRequest | KillSwitchOffRequest | StopEntryRequest],
                    *, required: bool) -> web.Response:  # fmt: skip
        try:
            body = await _parse(request, model, required)
            result = await self.backend.request(action, body.by, getattr(body, "reason", "manual"))
        except (ValidationError, ValueError) as e:
            return _error(400, _first_line(e))
        return _body(result, 200 if result.applied else 202)


def build_app(backend: ControlBackend, token: str, version: str = "0") -> web.Application:
    """The application serving :data:`~thunes.adapters.control.openapi.ROUTES`, all behind the token."""
    if len(token) < 16:
        raise ValueError("the control token must be at least 16 characters")
    handlers = _Handlers(backend, version)
    app = web.Application(middlewares=[_authenticated(token)])
    for route in ROUTES:
        app.router.add_route(route.method, route.path, getattr(handlers, route.operation_id))
    return app


def _first_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return f"{where}: {first['msg']}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


class ControlServer:
    """Serves :func:`build_app` on ``host:port`` (0: any free port) in the calling event loop."""

    def __init__(self, backend: ControlBackend, token: str, *, host: str = DEFAULT_HOST, port: int = 0,
                 version: str = "0") -> None:  # fmt: skip
        if not 0 <= port <= 65_535:
            raise ValueError(f"control port must be in 0..65535, got {port}")
        self.host, self._port = host, port
        self._app = build_app(backend, token, version)
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the control API is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._socket.getsockname()[1]}"

    async def start(self) -> None:
        """Bind (an unusable port raises :class:`ControlEndpointError` here) and serve."""
        self._socket = listening_socket(self.host, self._port, "the control API", ControlEndpointError)
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            self._socket.close()
