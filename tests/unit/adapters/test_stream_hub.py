"""The venue's per-connection stream queue: a slow client loses its oldest market messages (counted),
never its own order updates (the connection is to be closed instead, so it re-syncs)."""

from __future__ import annotations

from typing import Any

import pytest

from thunes.adapters.venues.simserver import hub
from thunes.adapters.venues.simserver.hub import Connection


def _connection(monkeypatch: pytest.MonkeyPatch, size: int) -> Connection:
    monkeypatch.setattr(hub, "QUEUE_SIZE", size)
    ws: Any = None  # offer never touches the socket
    return Connection(ws=ws, combined=False, opened_ns=0)


def test_market_messages_when_queue_full_then_oldest_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _connection(monkeypatch, 3)

    offered = [conn.offer(f"m{i}", droppable=True) for i in range(5)]

    assert offered == [True] * 5
    assert conn.dropped == 2
    assert [conn.queue.get_nowait() for _ in range(3)] == ["m2", "m3", "m4"]


def test_user_data_when_queue_full_then_refused_and_nothing_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _connection(monkeypatch, 2)
    conn.offer("m0", droppable=True)
    conn.offer("m1", droppable=True)

    assert conn.offer("fill", droppable=False) is False  # the caller closes the connection
    assert conn.dropped == 0
    assert [conn.queue.get_nowait() for _ in range(2)] == ["m0", "m1"]
