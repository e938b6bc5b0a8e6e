"""The aiohttp application: REST routes, WebSocket streams and the replay driver, wired together."""

from __future__ import annotations

from aiohttp import web

from thunes.adapters.venues.simserver import rest
from thunes.adapters.venues.simserver.state import STATE, ServerState

__all__ = ["STATE", "build_app", "make_runner"]

# aiohttp's HTTP parser answers a request line or a header over its limits (8190 bytes by default)
# itself, with a plain-text 400 and a logged traceback, before any middleware runs. Its limits sit
# above the venue's own (``rest.MAX_TARGET_BYTES``, ``rest.MAX_HEADER_BYTES``), so such a request
# reaches the middleware and gets Binance's JSON error; only one past these bounds still gets the text.
MAX_LINE_SIZE = 4 * rest.MAX_TARGET_BYTES
MAX_FIELD_SIZE = 4 * rest.MAX_HEADER_BYTES  # per header
MAX_HEADERS = 2 * rest.MAX_HEADERS  # with the field size: a request's headers stay under 8.4 MB


def build_app(state: ServerState) -> web.Application:
    """An application serving ``state``; streams and the replay are attached by their modules."""
    app = web.Application()
    app[STATE] = state
    rest.register(app, state)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner to serve ``app`` with: no access log, the parser limits above."""
    return web.AppRunner(app, access_log=None, max_line_size=MAX_LINE_SIZE, max_field_size=MAX_FIELD_SIZE,
                         max_headers=MAX_HEADERS)  # fmt: skip
