"""The aiohttp application: REST routes, WebSocket streams and the replay driver, wired together."""

from __future__ import annotations

from aiohttp import web

from thunes.adapters.venues.simserver import rest
from thunes.adapters.venues.simserver.state import STATE, ServerState

__all__ = ["STATE", "build_app"]


def build_app(state: ServerState) -> web.Application:
    """An application serving ``state``; streams and the replay are attached by their modules."""
    app = web.Application()
    app[STATE] = state
    rest.register(app, state)
    return app
