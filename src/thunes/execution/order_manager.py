"""Idempotent order submission (SPEC §4): journal first, send once, and when in doubt, look up.

The sequence for every order:
1. the intent is journaled under its deterministic client order id (a repeat is never re-sent);
2. it is sent; a rejection is an outcome (journal REJECTED, event ``OrderRejected``);
3. a retryable failure means the outcome is *unknown*: the order is looked up by client id,
   with backoff, until the venue answers. Found: adopted. Not found: it was never placed, and
   only then is it sent again, under the same id (which the venue would refuse as a duplicate
   if it were live). No order is ever placed twice.
4. before every send the journal holds the order in doubt (INTENT): a resend is journaled INTENT
   again first, so a stop or crash that cuts it leaves an order the next settlement looks up, not
   a NOT_PLACED one that nothing looks up while the venue fills it.
5. "not found" proves nothing while a send may still reach the matching engine: Binance forwards
   a request up to ``recvWindow`` after its timestamp (rest-api.md), so a lookup that overtook its
   own send (an answer cut by a stop, a request queued at the venue) is repeated once that window
   has passed since the send (``settle_window_s``), and only then is the order NOT_PLACED.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol, VenueId
from thunes.domain.messages import OrderAccepted, OrderAmended, OrderCanceled, OrderRejected, OrderSubmitted
from thunes.domain.orders import OrderRequest
from thunes.domain.venue import OrderReport, RejectedByVenueError, RetryableVenueError
from thunes.execution.ports import JournalState, OrderJournal, Publisher, VenuePort

__all__ = ["GAVE_UP", "OrderManager", "SubmitOutcome"]

SubmitOutcome = OrderReport | OrderRejected
GAVE_UP = -9001  # not a venue code: the rejection code when every send failed and was verified absent
_DAY_MS = 86_400_000
_UNKNOWN_ORDER = (-2011, -2013)  # cancel / query of an order the venue does not have open
_ACCEPTED, _DONE = JournalState.ACCEPTED, JournalState.DONE  # globals: cheaper than the enum's attributes


class OrderManager:
    """Sends orders to one venue through the journal; publishes what happened on the bus."""

    def __init__(
        self,
        venue: VenuePort,
        journal: OrderJournal,
        bus: Publisher,
        clock_ns: Callable[[], int],
        venue_id: VenueId,
        *,
        max_sends: int = 3,
        lookup_backoff_s: float = 0.2,
        max_lookup_backoff_s: float = 5.0,
        on_call: Callable[[bool], None] | None = None,
        settle_window_s: float = 0.0,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._venue, self._journal, self._bus, self._clock_ns = venue, journal, bus, clock_ns
        self._venue_id = venue_id
        self._max_sends = max_sends
        self._backoff, self._max_backoff = lookup_backoff_s, max_lookup_backoff_s
        # How long after a send the venue may still execute it (Binance: recvWindow, plus the second a
        # timestamp may lead the server's clock); the wall's monotonic time of each send in doubt.
        self._settle_window_s, self._monotonic_s = settle_window_s, monotonic_s
        self._sent_at: dict[ClientOrderId, float] = {}
        # Health of the venue for the circuit breaker: True for an answer, False for a server-side
        # failure (retryable). Rejections are the venue working normally and report nothing.
        self._on_call = on_call or (lambda _ok: None)

    async def submit(self, request: OrderRequest, strategy_id: StrategyId) -> SubmitOutcome:
        """Place ``request`` at most once; return the venue's report or the rejection."""
        cid = request.client_order_id
        unresolved = self._journal.record_intent(request, self._clock_ns())  # INTENT: in doubt until answered
        if not unresolved:
            entry = self._journal.get(cid)
            if entry is not None and entry.state is JournalState.REJECTED:
                return OrderRejected(self._clock_ns(), self._venue_id, cid, -1, entry.detail)
            found = await self._resolve(request.symbol, cid)
            if found is not None:
                return found
        while True:
            attempt = self._journal.count_attempt(cid)
            if attempt > self._max_sends:  # every send was verified absent: giving up places nothing
                detail = f"not placed after {self._max_sends} sends; given up"
                self._journal.mark(cid, JournalState.REJECTED, self._clock_ns(), detail)
                rejected = OrderRejected(self._clock_ns(), self._venue_id, cid, GAVE_UP, detail)
                self._bus.publish(rejected)
                return rejected
            if not unresolved:  # NOT_PLACED held until this send: a stop or crash during it must look it up
                self._journal.mark(cid, JournalState.INTENT, self._clock_ns(), f"sending again (send {attempt})")
            unresolved = False  # a lost answer's lookup journals NOT_PLACED before the loop comes back
            self._submitted(request)
            try:
                report = await self._send(request)
                self._on_call(True)
            except RejectedByVenueError as e:
                self._sent_at.pop(cid, None)
                self._journal.mark(cid, JournalState.REJECTED, self._clock_ns(), f"{e.code}: {e}")
                rejected = OrderRejected(self._clock_ns(), self._venue_id, cid, e.code or 0, str(e))
                self._bus.publish(rejected)
                return rejected
            except RetryableVenueError:
                self._on_call(False)
                self._journal.mark(cid, JournalState.UNKNOWN, self._clock_ns(), "answer lost; looking up")
                found = await self._resolve(request.symbol, cid)
                if found is not None:
                    return found
                continue  # verified absent at the venue: safe to send again under the same id
            self._adopt(report)
            return report

    def _submitted(self, request: OrderRequest) -> None:
        """``OrderSubmitted``, when someone listens (a backtest's bus has no subscriber: nothing to build)."""
        if self._bus.wants(OrderSubmitted):
            self._bus.publish(OrderSubmitted(self._clock_ns(), self._venue_id, request.client_order_id, request))

    async def _send(self, request: OrderRequest) -> OrderReport:
        """The venue call. When it fails or a stop cuts it, the request may have left (and been
        signed) as late as now: the venue's window for it is counted from here."""
        try:
            return await self._venue.submit(request)
        except BaseException:
            self._sent_at[request.client_order_id] = self._monotonic_s()
            raise

    def now_ns(self) -> int:
        """The clock the journal is written with."""
        return self._clock_ns()

    async def cancel(self, symbol: Symbol, cid: ClientOrderId) -> OrderReport | None:
        """Cancel an open order; idempotent. When the answer is lost, or the venue says the order
        is not open, the order is looked up and returned as it stands (``None``: never placed)."""
        try:
            report = await self._venue.cancel(symbol, cid)
            self._on_call(True)
        except RejectedByVenueError as e:
            if e.code not in _UNKNOWN_ORDER:
                raise
            if self._journal.get(cid) is None:  # not an order of ours (an orphan): as the venue has it
                return await self._venue.lookup(symbol, cid)
            return await self._resolve(symbol, cid)  # filled or closed meanwhile: its final state
        except RetryableVenueError:
            self._on_call(False)
            found = await self._resolve(symbol, cid)
            if found is None or found.status.is_terminal:
                return found
            return await self.cancel(symbol, cid)  # still open: the cancel did not happen
        if self._journal.get(cid) is not None:  # an orphan cancelled by policy was never journaled
            self._journal.mark(cid, JournalState.DONE, self._clock_ns(), str(report.status))
        self._bus.publish(OrderCanceled(self._clock_ns(), self._venue_id, cid))
        return report

    async def amend(self, symbol: Symbol, cid: ClientOrderId, new_qty: Decimal) -> OrderReport:
        """Reduce an open order's quantity keeping its queue priority; a rejection raises
        (the order stays as it was). After a lost answer the order's state is looked up."""
        try:
            report = await self._venue.amend(symbol, cid, new_qty)
            self._on_call(True)
        except RetryableVenueError:
            self._on_call(False)
            found = await self._resolve(symbol, cid)
            if found is None:
                raise
            if found.quantity != new_qty and not found.status.is_terminal:
                return await self.amend(symbol, cid, new_qty)
            return found
        self._bus.publish(OrderAmended(self._clock_ns(), self._venue_id, cid, new_qty))
        return report

    async def refresh(self, symbol: Symbol, cid: ClientOrderId) -> OrderReport | None:
        """The venue's current state of one of our orders, with its fills (reconciliation found it
        open in the ledger but not at the venue: it filled or was closed while we were not looking)."""
        return await self._resolve(symbol, cid)

    async def adopt_if_placed(self, symbol: Symbol, cid: ClientOrderId) -> OrderReport | None:
        """Look up an order journaled as never placed (NOT_PLACED or REJECTED) by its client id: the
        venue's report with its fills when it has it after all (adopted), else None, the journal
        left as it was (a check, not a settlement)."""
        delay = self._backoff
        while True:
            try:
                found = await self._venue.lookup(symbol, cid)
                self._on_call(True)
                break
            except RetryableVenueError as e:
                self._on_call(False)
                await asyncio.sleep(max(delay, e.delay_s if e.delay_s else 0.0))
                delay = min(delay * 2, self._max_backoff)
        if found is None:
            return None
        found = await self._with_fills(found)
        self._adopt(found)
        return found

    async def recover(self) -> list[OrderReport]:
        """After a restart: settle every journaled intent whose outcome is unknown."""
        adopted: list[OrderReport] = []
        for entry in self._journal.unresolved():
            if entry.attempts > 0:  # sent before the restart, at a moment unknown: as late as now
                self._sent_at.setdefault(entry.request.client_order_id, self._monotonic_s())
            found = await self._resolve(entry.request.symbol, entry.request.client_order_id)
            if found is not None:
                adopted.append(found)
        return adopted

    async def _resolve(self, symbol: Symbol, cid: ClientOrderId) -> OrderReport | None:
        """Look the order up until the venue answers; adopt it, or journal it as never placed."""
        delay = self._backoff
        while True:
            try:
                found = await self._venue.lookup(symbol, cid)
                self._on_call(True)
            except RetryableVenueError as e:
                self._on_call(False)
                await asyncio.sleep(max(delay, e.delay_s if e.delay_s else 0.0))
                delay = min(delay * 2, self._max_backoff)
                continue
            if found is None:
                young = self._sent_at.get(cid, -float("inf")) + self._settle_window_s - self._monotonic_s()
                if young > 0:  # the send may still reach the venue: look again once it no longer can
                    await asyncio.sleep(young)
                    continue
                self._sent_at.pop(cid, None)
                self._journal.mark(cid, JournalState.NOT_PLACED, self._clock_ns(), "lookup: unknown at venue")
                return None
            found = await self._with_fills(found)
            self._adopt(found)
            return found

    async def _with_fills(self, report: OrderReport) -> OrderReport:
        """A looked-up order carries no executions on Binance: fetch its fills, or one would be lost."""
        if report.filled_quantity <= sum((f.quantity for f in report.fills), Decimal(0)):
            return report
        delay = self._backoff
        since_ms = max(0, report.ts_ns // 1_000_000 - _DAY_MS)
        while True:
            try:
                trades = await self._venue.my_trades(report.symbol, since_ms)
                break
            except RetryableVenueError as e:
                self._on_call(False)
                await asyncio.sleep(max(delay, e.delay_s))
                delay = min(delay * 2, self._max_backoff)
        self._on_call(True)
        fills = tuple(f for f in trades if f.client_order_id == report.client_order_id)
        return replace(report, fills=fills)

    def _adopt(self, report: OrderReport) -> None:
        self._sent_at.pop(report.client_order_id, None)
        state = _ACCEPTED if not report.status.is_terminal else _DONE
        self._journal.mark(report.client_order_id, state, self._clock_ns(), str(report.status))
        if self._bus.wants(OrderAccepted):
            self._bus.publish(
                OrderAccepted(self._clock_ns(), self._venue_id, report.client_order_id, report.venue_order_id)
            )
