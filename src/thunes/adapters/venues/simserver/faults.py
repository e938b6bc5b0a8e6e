"""Fault injection for the simulated venue, driven through ``/admin`` endpoints on loopback.

Real exchanges fail in a handful of ways a trading system must survive: 5xx storms, 429s, slow
answers, silence, dropped WebSockets, and the worst one, an order accepted whose answer never
arrives. Each is one switch here. The admin endpoints answer only the operator's loopback tools
that hold the admin token (:mod:`.admin_auth`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from thunes.adapters.venues.simserver.admin_auth import admin_guard
from thunes.adapters.venues.simserver.hub import StreamHub
from thunes.adapters.venues.simserver.journal import load_state, save_state
from thunes.adapters.venues.simserver.rest import LIMITER
from thunes.simvenue.core import SimVenue

__all__ = ["FAULTS", "FaultState", "load_state", "register", "save_state"]

NS_PER_S = 1_000_000_000
_SERVER_ERROR = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
_TOO_MANY = {"code": -1003, "msg": "Too many requests; current limit of IP is exceeded. Please use the websocket."}


@dataclass
class FaultState:
    """Active faults. Counts decrease as they fire; times are wall-clock ns."""

    error_count: int = 0
    error_status: int = 503
    retry_after_s: int = 1
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    silent_until_ns: int = 0
    drop_order_responses: int = 0
    injected: int = 0  # faults that fired so far, for reports


FAULTS = web.AppKey("faults", FaultState)
_RNG = web.AppKey("fault_rng", random.Random)


def _is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _middleware(faults: FaultState, rng: random.Random, wall_ns: Any) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/admin"):
            return await handler(request)
        silent_for = (faults.silent_until_ns - wall_ns()) / NS_PER_S
        if silent_for > 0:  # stop answering: hold the request past any sane client timeout
            faults.injected += 1
            await asyncio.sleep(silent_for)
        delay = faults.latency_ms + (rng.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if faults.error_count > 0 and request.path.startswith(("/api/", "/sapi/")):
            faults.error_count -= 1
            faults.injected += 1
            if faults.error_status == 429:
                if LIMITER in request.app:  # ignoring this Retry-After earns a 418, as on Binance
                    request.app[LIMITER].mark_limited(request.remote or "", faults.retry_after_s)
                return web.json_response(_TOO_MANY, status=429, headers={"Retry-After": str(faults.retry_after_s)})
            return web.json_response(_SERVER_ERROR, status=faults.error_status)
        response = await handler(request)
        dropping = faults.drop_order_responses > 0 and response.status == 200
        if dropping and request.method == "POST" and request.path == "/api/v3/order":
            faults.drop_order_responses -= 1
            faults.injected += 1
            if request.transport is not None:  # the order is placed; its answer is lost on the wire
                request.transport.abort()
        return response

    return middleware


_MAX_SECONDS = 86_400.0  # a day: longer silences, latencies or Retry-After are typos
_LIMITS: dict[str, tuple[float, float]] = {
    "error_count": (0, 1_000_000),
    "error_status": (400, 599),
    "retry_after_s": (0, _MAX_SECONDS),
    "latency_ms": (0, _MAX_SECONDS * 1000),
    "jitter_ms": (0, _MAX_SECONDS * 1000),
    "silent_until_ns": (0, 2**63 - 1),
    "drop_order_responses": (0, 1_000_000),
}


def _bad(name: str, why: str) -> web.HTTPBadRequest:
    """HTTP 400 with Binance's -1130 (invalid data for a parameter), naming the setting and the rule."""
    msg = f"Data sent for parameter '{name}' is not valid: {why}"
    return web.HTTPBadRequest(text=json.dumps({"code": -1130, "msg": msg}), content_type="application/json")


def _number(name: str, value: object, maximum: float, minimum: float = 0) -> float:
    """A finite JSON number in ``[minimum, maximum]`` (booleans, strings, NaN are refused): HTTP 400."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise _bad(name, f"a number from {minimum:g} to {maximum:g} is expected, got {json.dumps(value)[:40]}")
    return value


def _setting(name: str, value: object) -> int | float:
    """``value`` for the fault setting ``name``, of its type and in its range (400 otherwise)."""
    low, high = _LIMITS[name]
    number = _number(name, value, high, low)
    if isinstance(FaultState.__dataclass_fields__[name].default, int):
        if not isinstance(number, int):
            raise _bad(name, f"a whole number is expected, got {value!r}")
        return number
    return float(number)


class _Admin:
    """The ``/admin`` handlers: read and set faults, silence, drop WebSockets, restart."""

    def __init__(
        self, faults: FaultState, hub: StreamHub, venue: SimVenue, wall_ns: Any, state_file: Path | None
    ) -> None:
        self.faults, self.hub, self.venue, self.wall_ns, self.state_file = faults, hub, venue, wall_ns, state_file

    @staticmethod
    async def guard(request: web.Request) -> dict[str, Any]:
        """Loopback clients only; the body, if any, must be a JSON object."""
        if not _is_loopback(request):
            raise web.HTTPForbidden(text="admin endpoints answer loopback clients only")
        try:
            body = json.loads(await request.read() or b"{}") if request.can_read_body else {}
        except ValueError:  # bad JSON or bad UTF-8 (UnicodeDecodeError is a ValueError)
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return body

    def _view(self, request: web.Request) -> web.Response:
        bans = request.app[LIMITER].bans if LIMITER in request.app else 0
        return web.json_response({**asdict(self.faults), "bans": bans})

    async def get(self, request: web.Request) -> web.Response:
        await self.guard(request)
        return self._view(request)

    async def set(self, request: web.Request) -> web.Response:
        body = await self.guard(request)
        known = set(asdict(self.faults)) - {"injected"}
        unknown = set(body) - known
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        values = {name: _setting(name, value) for name, value in body.items()}  # all checked before any is set
        for name, value in values.items():
            setattr(self.faults, name, value)
        return self._view(request)

    async def silence(self, request: web.Request) -> web.Response:
        body = await self.guard(request)
        seconds = _number("seconds", body.get("seconds", 0), _MAX_SECONDS)
        self.faults.silent_until_ns = self.wall_ns() + int(seconds * NS_PER_S)
        return self._view(request)

    async def clear(self, request: web.Request) -> web.Response:
        await self.guard(request)
        injected = self.faults.injected
        for name, value in asdict(FaultState()).items():
            setattr(self.faults, name, value)
        self.faults.injected = injected
        if LIMITER in request.app:
            request.app[LIMITER].forgive()
        return self._view(request)

    async def _drop_all(self, code: int, reason: bytes) -> int:
        connections = list(self.hub.connections)
        for conn in connections:
            await conn.ws.close(code=code, message=reason)
        return len(connections)

    async def drop_ws(self, request: web.Request) -> web.Response:
        await self.guard(request)
        dropped = await self._drop_all(1001, b"dropped by fault injection")
        self.faults.injected += dropped
        return web.json_response({"dropped": dropped})

    async def restart(self, request: web.Request) -> web.Response:
        """Persist, drop every connection, and come back from the file: a venue restart."""
        await self.guard(request)
        if self.state_file is None:
            raise web.HTTPConflict(text="the venue runs without a state file; start it with one to restart")
        save_state(self.venue, self.state_file)
        dropped = await self._drop_all(1012, b"service restart")
        load_state(self.venue, self.state_file)
        self.faults.injected += 1
        return web.json_response({"restarted": True, "dropped": dropped, "state_file": str(self.state_file)})


def register(
    app: web.Application,
    hub: StreamHub,
    venue: SimVenue,
    wall_ns: Any,
    *,
    admin_token: str,
    state_file: Path | None = None,
    seed: int = 0,
) -> FaultState:
    """Install the fault middleware (first, so it wraps everything) and the admin routes, behind
    the admin guard (before even the faults: a silenced venue still refuses a stranger at once)."""
    faults = FaultState()
    app[FAULTS] = faults
    app[_RNG] = random.Random(seed)  # noqa: S311 - reproducible jitter, not security
    app.middlewares.insert(0, _middleware(faults, app[_RNG], wall_ns))
    app.middlewares.insert(0, admin_guard(admin_token))
    admin = _Admin(faults, hub, venue, wall_ns, state_file)
    app.router.add_get("/admin/faults", admin.get)
    app.router.add_post("/admin/faults", admin.set)
    app.router.add_post("/admin/faults/silence", admin.silence)
    app.router.add_post("/admin/faults/clear", admin.clear)
    app.router.add_post("/admin/ws/drop", admin.drop_ws)
    app.router.add_post("/admin/restart", admin.restart)
    return faults
