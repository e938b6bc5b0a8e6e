"""Fan-out of stream messages to WebSocket connections, with bounded per-connection queues.

Market messages are dropped oldest-first when a slow client's queue is full (and counted);
user-data messages are never dropped: a client too slow for its own order updates is
disconnected instead, so it reconnects and re-syncs rather than silently missing a fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Connection", "StreamHub"]

QUEUE_SIZE = 10_000


@dataclass(eq=False)
class Connection:
    """One client socket: its subscriptions and outgoing queue."""

    ws: web.WebSocketResponse
    combined: bool
    opened_ns: int
    streams: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    subscription_ids: dict[str, int] = field(default_factory=dict)  # ws-api: account -> id
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0

    def offer(self, text: str, *, droppable: bool) -> bool:
        """Queue ``text``; False when the connection must be closed (user data would be lost)."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            if not droppable:
                return False
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
            self.queue.put_nowait(text)
        return True


class StreamHub:
    """Who listens to what, and delivery of market and user-data messages."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self._by_stream: dict[str, set[Connection]] = defaultdict(set)
        self._by_account: dict[str, set[Connection]] = defaultdict(set)

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        for stream in conn.streams:
            self._by_stream[stream].add(conn)
        for account in conn.accounts:
            self._by_account[account].add(conn)

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for stream in conn.streams:
            self._by_stream[stream].discard(conn)
        for account in conn.accounts:
            self._by_account[account].discard(conn)

    def subscribe(self, conn: Connection, streams: list[str]) -> None:
        for stream in streams:
            conn.streams.add(stream)
            self._by_stream[stream].add(conn)

    def unsubscribe(self, conn: Connection, streams: list[str]) -> None:
        for stream in streams:
            conn.streams.discard(stream)
            self._by_stream[stream].discard(conn)

    def subscribe_account(self, conn: Connection, account: str) -> None:
        conn.accounts.add(account)
        self._by_account[account].add(conn)

    def wants(self, stream: str) -> bool:
        """True when anyone listens to ``stream`` (lets the replay skip building unused messages)."""
        return bool(self._by_stream.get(stream))

    def publish(self, stream: str, data: dict[str, Any]) -> None:
        """Send a market message on ``stream`` to its subscribers (raw or combined envelope)."""
        listeners = self._by_stream.get(stream)
        if not listeners:
            return
        raw = json.dumps(data, separators=(",", ":"))
        wrapped: str | None = None
        for conn in listeners:
            if conn.combined:
                wrapped = wrapped or json.dumps({"stream": stream, "data": data}, separators=(",", ":"))
                conn.offer(wrapped, droppable=True)
            else:
                conn.offer(raw, droppable=True)

    def publish_user(self, account: str, data: dict[str, Any]) -> list[Connection]:
        """Send a user-data event to ``account``'s listeners; returns connections that must be closed."""
        overflowing: list[Connection] = []
        for conn in self._by_account.get(account, ()):
            sub_id = conn.subscription_ids.get(account)
            payload = {"subscriptionId": sub_id, "event": data} if sub_id is not None else data
            if not conn.offer(json.dumps(payload, separators=(",", ":")), droppable=False):
                overflowing.append(conn)
        return overflowing
