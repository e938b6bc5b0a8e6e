"""Ports the execution layer needs: a venue and an order journal. Adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import Fill, OrderRequest
from thunes.domain.venue import OrderReport

__all__ = ["JournalEntry", "JournalState", "OrderJournal", "Publisher", "VenuePort"]


class Publisher(Protocol):
    """Where execution reports what it did (the engine's bus satisfies it). ``wants``: whether a message
    of that type would reach anyone, so that one nobody reads need not be built."""

    def publish(self, message: object) -> None: ...

    def wants(self, message_type: type) -> bool: ...


class VenuePort(Protocol):
    """A venue as the execution engine sees it; raises the three ``domain.venue`` error kinds."""

    async def exchange_info(self) -> ExchangeInfo: ...

    async def submit(self, request: OrderRequest) -> OrderReport: ...

    async def lookup(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderReport | None: ...

    async def cancel(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderReport: ...

    async def amend(self, symbol: Symbol, client_order_id: ClientOrderId, new_qty: Decimal) -> OrderReport: ...

    async def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]: ...

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]: ...

    async def my_trades(self, symbol: Symbol, since_ms: int) -> list[Fill]: ...


class JournalState(StrEnum):
    """Where an order stands in the journal. UNKNOWN: sent, answer lost, not yet looked up."""

    INTENT = "INTENT"
    UNKNOWN = "UNKNOWN"
    ACCEPTED = "ACCEPTED"
    DONE = "DONE"
    REJECTED = "REJECTED"
    NOT_PLACED = "NOT_PLACED"

    @property
    def unresolved(self) -> bool:
        return self in (JournalState.INTENT, JournalState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    request: OrderRequest
    state: JournalState
    ts_ns: int
    attempts: int = 0
    detail: str = ""


class OrderJournal(Protocol):
    """Durable record of every order intent, written before the order is sent."""

    def record_intent(self, request: OrderRequest, ts_ns: int) -> bool:
        """Journal a new intent; False when this client order id is already journaled."""
        ...

    def mark(self, client_order_id: ClientOrderId, state: JournalState, ts_ns: int, detail: str = "") -> None: ...

    def count_attempt(self, client_order_id: ClientOrderId) -> int: ...

    def get(self, client_order_id: ClientOrderId) -> JournalEntry | None: ...

    def unresolved(self) -> Sequence[JournalEntry]: ...
