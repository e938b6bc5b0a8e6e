"""The message bus port and its in-process implementation.

Every command and event goes through the bus; audit, metrics, alerts and persistence subscribe to
it instead of being called by the engine. Subjects are message types, so a NATS implementation can
map them to ``thunes.<TypeName>`` subjects later without changing publishers.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import structlog

__all__ = ["Bus", "InMemoryBus", "subject_of"]

M = TypeVar("M")
Handler = Callable[[Any], None]
_log = structlog.get_logger(__name__)


def subject_of(message_type: type) -> str:
    """The subject a message type is published on (``thunes.OrderFilled``)."""
    return f"thunes.{message_type.__name__}"


class Bus(Protocol):
    def publish(self, message: object) -> None: ...

    def wants(self, message_type: type) -> bool: ...

    def subscribe(self, message_type: type[M], handler: Callable[[M], None]) -> None: ...


class InMemoryBus:
    """Synchronous delivery, in publish order, to subscribers of the message's type and its bases.

    A failing subscriber is logged and counted but never stops delivery to the others nor the
    publisher: an alerting bug must not block trading.
    """

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self._routes: dict[type, tuple[Handler, ...]] = {}  # a message type's handlers, its bases' included
        self._lock = threading.RLock()
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, message_type: type[M], handler: Callable[[M], None]) -> None:
        with self._lock:
            self._handlers[message_type].append(handler)
            self._routes.clear()

    def wants(self, message_type: type) -> bool:
        """Whether a message of ``message_type`` would reach a subscriber now: a publisher on a hot path
        may skip building one that nobody reads (a backtest subscribes to nothing)."""
        handlers = self._routes.get(message_type)  # one dict read; a subscription clears it under the lock
        if handlers is None:
            with self._lock:
                handlers = self._route(message_type)
        return bool(handlers)

    def _route(self, kind: type) -> tuple[Handler, ...]:
        """The handlers of ``kind`` and its bases, resolved once per type (under the lock)."""
        handlers = self._routes.get(kind)
        if handlers is None:
            handlers = self._routes[kind] = tuple(h for cls in kind.__mro__ for h in self._handlers.get(cls, ()))
        return handlers

    def publish(self, message: object) -> None:
        with self._lock:
            self.published += 1
            handlers = self._route(type(message))
        for handler in handlers:
            try:
                handler(message)
            except Exception:
                with self._lock:
                    self.handler_errors += 1
                _log.exception("bus_handler_failed", subject=subject_of(type(message)))
