"""An in-memory order journal: for backtests and tests (the durable one is SQL, in adapters)."""

from __future__ import annotations

import threading

from thunes.domain.identifiers import ClientOrderId
from thunes.domain.orders import OrderRequest
from thunes.execution.ports import JournalEntry, JournalState

__all__ = ["InMemoryJournal"]

_INTENT = JournalState.INTENT  # a global read: cheaper than the enum's attribute, on every order


class _Record:
    """One order's journal line, changed in place: every order is journaled, counted and marked, and
    a frozen :class:`JournalEntry` rebuilt at each step cost more than the rest of the journal; the
    entry is made when someone reads it."""

    __slots__ = ("attempts", "detail", "request", "state", "ts_ns")

    def __init__(self, request: OrderRequest, ts_ns: int) -> None:
        self.request, self.state, self.ts_ns, self.attempts, self.detail = request, _INTENT, ts_ns, 0, ""

    def entry(self) -> JournalEntry:
        return JournalEntry(self.request, self.state, self.ts_ns, self.attempts, self.detail)


class InMemoryJournal:
    """Implements ``OrderJournal`` with a dict under a lock."""

    def __init__(self) -> None:
        self._entries: dict[ClientOrderId, _Record] = {}
        self._lock = threading.Lock()

    def record_intent(self, request: OrderRequest, ts_ns: int) -> bool:
        with self._lock:
            if request.client_order_id in self._entries:
                return False
            self._entries[request.client_order_id] = _Record(request, ts_ns)
            return True

    def mark(self, client_order_id: ClientOrderId, state: JournalState, ts_ns: int, detail: str = "") -> None:
        with self._lock:
            record = self._entries[client_order_id]
            record.state, record.ts_ns, record.detail = state, ts_ns, detail

    def count_attempt(self, client_order_id: ClientOrderId) -> int:
        with self._lock:
            record = self._entries[client_order_id]
            record.attempts += 1
            return record.attempts

    def get(self, client_order_id: ClientOrderId) -> JournalEntry | None:
        with self._lock:
            record = self._entries.get(client_order_id)
            return None if record is None else record.entry()

    def unresolved(self) -> list[JournalEntry]:
        with self._lock:
            return [r.entry() for r in self._entries.values() if r.state.unresolved]
