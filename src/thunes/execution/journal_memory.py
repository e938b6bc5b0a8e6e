"""An in-memory order journal: for backtests and tests (the durable one is SQL, in adapters)."""

from __future__ import annotations

import threading

from thunes.domain.identifiers import ClientOrderId
from thunes.domain.orders import OrderRequest
from thunes.execution.ports import JournalEntry, JournalState

__all__ = ["InMemoryJournal"]

_INTENT = JournalState.INTENT  # a global read: cheaper than the enum's attribute, on every order


class InMemoryJournal:
    """Implements ``OrderJournal`` with a dict under a lock."""

    def __init__(self) -> None:
        self._entries: dict[ClientOrderId, JournalEntry] = {}
        self._lock = threading.Lock()

    def record_intent(self, request: OrderRequest, ts_ns: int) -> bool:
        with self._lock:
            if request.client_order_id in self._entries:
                return False
            self._entries[request.client_order_id] = JournalEntry(request, _INTENT, ts_ns)
            return True

    def mark(self, client_order_id: ClientOrderId, state: JournalState, ts_ns: int, detail: str = "") -> None:
        with self._lock:
            entry = self._entries[client_order_id]
            self._entries[client_order_id] = JournalEntry(entry.request, state, ts_ns, entry.attempts, detail)

    def count_attempt(self, client_order_id: ClientOrderId) -> int:
        with self._lock:
            entry = self._entries[client_order_id]
            attempts = entry.attempts + 1
            self._entries[client_order_id] = JournalEntry(
                entry.request, entry.state, entry.ts_ns, attempts, entry.detail
            )
            return attempts

    def get(self, client_order_id: ClientOrderId) -> JournalEntry | None:
        with self._lock:
            return self._entries.get(client_order_id)

    def unresolved(self) -> list[JournalEntry]:
        with self._lock:
            return [e for e in self._entries.values() if e.state.unresolved]
