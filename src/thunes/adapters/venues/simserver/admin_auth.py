"""Who may use the venue's ``/admin`` endpoints: the operator's own tools, never a web page.

The admin endpoints can storm the venue with errors, silence it or restart it. Loopback alone does
not protect them: any page open in the operator's browser can POST to 127.0.0.1. So every request
to ``/admin`` (unknown paths included, so they reveal nothing) must

* come from loopback;
* carry no ``Origin`` header: browsers send one with every cross-site POST and with preflights,
  while the CLI and test clients never do;
* carry ``Authorization: Bearer <token>``, the token generated at start (a 0600 file for the
  CLI, like the control API's), compared in constant time;
* send its body, if any, as ``application/json``: ``text/plain`` and form bodies are what a page
  can send without a preflight.

Refusals are Binance-shaped JSON (``{"code": -1002, "msg": ...}``, Binance's UNAUTHORIZED).
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["ADMIN_PREFIX", "ADMIN_TOKEN_ENV", "admin_guard"]

ADMIN_PREFIX = "/admin"
ADMIN_TOKEN_ENV = "THUNES_VENUE_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a secret
_UNAUTHORIZED = -1002
_MSG = "You are not authorized to execute this request."


def _refusal(status: int, why: str) -> web.Response:
    response = web.json_response({"code": _UNAUTHORIZED, "msg": f"{_MSG} {why}"}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="thunes-venue-admin"'
    return response


def _is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def admin_guard(token: str) -> Middleware:
    """The middleware refusing every ``/admin`` request that is not the operator's (see module doc)."""
    if len(token) < 16:
        raise ValueError("the venue admin token must be at least 16 characters")
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _is_admin(request.path):
            return await handler(request)
        if not _is_loopback(request):
            return _refusal(403, "Admin endpoints answer loopback clients only.")
        if "Origin" in request.headers:
            return _refusal(403, "Admin endpoints refuse browser requests (Origin header).")
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _refusal(401, "Admin endpoints need the bearer token from the venue's admin token file.")
        if request.body_exists and request.content_type != "application/json":
            return _refusal(415, "Admin request bodies must be application/json.")
        return await handler(request)

    return guard
