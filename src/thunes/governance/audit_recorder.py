"""``AuditRecorder``: the bus subscriber that turns what the engine publishes into audit records.

Audit listens; the engine never calls it (STYLE habit 8). Each published event becomes exactly one
record; a few SPEC §5 events that the engine does not publish yet are *derived* from what it does:

- TRADE_APPROVED: the first ``OrderSubmitted`` of a client order id (the trader submits only what
  the risk gate approved; a retry of the same id is another ORDER_SUBMITTED, not another approval);
- POSITION_OPENED / POSITION_CLOSED: an ``OrderFilled`` that takes the risk book's position in its
  symbol from zero / to zero (the risk book drops unsellable dust, so a close to dust is a close);
- KILL_SWITCH_ACTIVATED / _DEACTIVATED, TRADING_HALTED / _RESUMED: a change of the risk state's
  switches seen when an event arrives, stamped with the switch's own ``since_ns``. It is written
  before the event that revealed it, except after a fill when it is not older than the fill: the
  risk engine books a fill before it is published, so that change is the fill's consequence (the
  daily loss limit breached by a losing close).

Every record carries the risk state at the time it was written (``risk_snapshot``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.messages import (
    DenialReason,
    ExitRetrying,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from thunes.execution.reconciliation import Mismatch
from thunes.governance.audit_ports import AuditWriter
from thunes.governance.audit_schema import AuditContext, AuditEvent
from thunes.risk.state import RiskSnapshot, SwitchState
from thunes.risk.store import snapshot_to_dict

__all__ = ["AuditRecorder", "Subscriber"]

M = TypeVar("M")
ZERO = Decimal(0)
_Fields = dict[str, Any]


class Subscriber(Protocol):
    """The subscribing half of the engine's bus (``thunes.engine.bus.Bus`` satisfies it)."""

    def subscribe(self, message_type: type[M], handler: Callable[[M], None]) -> None: ...


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class AuditRecorder:
    """Subscribes to the order and risk events of one bus and writes one record per event.

    ``risk_state`` returns the risk engine's current snapshot (``RiskEngine.snapshot``); ``clock_ns``
    stamps messages that carry no time of their own (a reconciliation ``Mismatch``). ``remember``
    bounds how many client order ids are kept to enrich later events (symbol, side, approval).
    """

    def __init__(
        self,
        log: AuditWriter,
        context: AuditContext,
        risk_state: Callable[[], RiskSnapshot],
        clock_ns: Callable[[], int],
        *,
        remember: int = 100_000,
    ) -> None:
        self._log, self._context, self._risk_state, self._clock_ns = log, context, risk_state, clock_ns
        self._remember = remember
        self._lock = threading.Lock()
        self._orders: OrderedDict[str, tuple[str, Side]] = OrderedDict()  # cid -> (symbol, side)
        start = risk_state()
        self._kill_switch, self._halt = start.kill_switch, start.halt
        self._positions = {str(p.symbol): p.quantity for p in start.positions}
        self.records = 0

    def attach(self, bus: Subscriber) -> None:
        """Subscribe to every message type the recorder understands."""
        bus.subscribe(OrderDenied, self.on_denied)
        bus.subscribe(OrderSubmitted, self.on_submitted)
        bus.subscribe(OrderAccepted, self.on_accepted)
        bus.subscribe(OrderRejected, self.on_rejected)
        bus.subscribe(OrderFilled, self.on_filled)
        bus.subscribe(OrderCanceled, self.on_canceled)
        bus.subscribe(OrderExpired, self.on_expired)
        bus.subscribe(OrderAmended, self.on_amended)
        bus.subscribe(Mismatch, self.on_mismatch)
        bus.subscribe(ExitRetrying, self.on_exit_retrying)

    # --- handlers: one record per event (plus what is derived from it) --------------------------
    def on_denied(self, event: OrderDenied) -> None:
        code = event.reason.value
        if event.reason is DenialReason.FILTERS and event.detail.startswith("FILTERS_"):
            code = event.detail.split(":", 1)[0]  # the SPEC §2 code, e.g. FILTERS_LOT_SIZE
        meta = {"venue": event.venue, "denial_reason": event.reason, "detail": event.detail}
        fields = self._order_fields(event.client_order_id, code, meta)
        if event.symbol is not None:
            fields["symbol"], fields["side"] = event.symbol, event.side
        self._emit(event.ts_ns, [(AuditEvent.TRADE_REJECTED, fields)])

    def on_submitted(self, event: OrderSubmitted) -> None:
        request, cid = event.request, str(event.client_order_id)
        meta = {
            "venue": event.venue, "order_type": request.order_type, "quantity": request.quantity,
            "price": request.price, "quote_quantity": request.quote_quantity,
            "time_in_force": request.time_in_force,
        }  # fmt: skip
        fields = {"symbol": request.symbol, "side": request.side, "client_order_id": cid}
        with self._lock:
            first = cid not in self._orders
            self._note_order(cid, str(request.symbol), request.side)
        records: list[tuple[AuditEvent, _Fields]] = []
        if first:
            approval = {**fields, "metadata": {**meta, "derived_from": "OrderSubmitted"}}
            records.append((AuditEvent.TRADE_APPROVED, approval))
        records.append((AuditEvent.ORDER_SUBMITTED, {**fields, "metadata": meta}))
        self._emit(event.ts_ns, records)

    def on_accepted(self, event: OrderAccepted) -> None:
        meta = {"venue": event.venue, "venue_order_id": event.venue_order_id}
        self._emit(event.ts_ns, [(AuditEvent.ORDER_ACCEPTED, self._order_fields(event.client_order_id, None, meta))])

    def on_rejected(self, event: OrderRejected) -> None:
        meta = {"venue": event.venue, "code": event.code, "message": event.message}
        fields = self._order_fields(event.client_order_id, f"VENUE_{event.code}", meta)
        self._emit(event.ts_ns, [(AuditEvent.ORDER_REJECTED, fields)])

    def on_filled(self, event: OrderFilled) -> None:
        fill = event.fill
        meta = {
            "venue": event.venue, "trade_id": fill.trade_id, "price": fill.price, "quantity": fill.quantity,
            "commission": fill.commission, "commission_asset": fill.commission_asset, "liquidity": fill.liquidity,
            "order_complete": event.complete,
        }  # fmt: skip
        fields = {"symbol": fill.symbol, "side": fill.side, "client_order_id": event.client_order_id, "metadata": meta}
        self._emit(event.ts_ns, [(AuditEvent.ORDER_FILLED, fields)], filled=fill.symbol)

    def on_canceled(self, event: OrderCanceled) -> None:
        fields = self._order_fields(event.client_order_id, None, {"venue": event.venue})
        self._emit(event.ts_ns, [(AuditEvent.ORDER_CANCELED, fields)])

    def on_expired(self, event: OrderExpired) -> None:
        fields = self._order_fields(event.client_order_id, None, {"venue": event.venue})
        self._emit(event.ts_ns, [(AuditEvent.ORDER_EXPIRED, fields)])

    def on_amended(self, event: OrderAmended) -> None:
        meta = {"venue": event.venue, "new_quantity": event.new_quantity}
        self._emit(event.ts_ns, [(AuditEvent.ORDER_AMENDED, self._order_fields(event.client_order_id, None, meta))])

    def on_exit_retrying(self, event: ExitRetrying) -> None:
        meta = {"venue": event.venue, "next_client_order_id": event.next_client_order_id, "round": event.round,
                "wait_bars": event.wait_bars, "detail": event.reason}  # fmt: skip
        fields = self._order_fields(event.client_order_id, "EXIT_NOT_PLACED", meta)
        fields["symbol"], fields["side"] = event.symbol, Side.SELL
        self._emit(event.ts_ns, [(AuditEvent.EXIT_RETRYING, fields)])

    def on_mismatch(self, mismatch: Mismatch) -> None:
        meta = {"subject": mismatch.subject, "local": mismatch.local, "venue": mismatch.venue,
                "action": mismatch.action}  # fmt: skip
        fields: _Fields = {"reason": mismatch.kind.value, "metadata": meta}
        self._emit(self._clock_ns(), [(AuditEvent.RECONCILIATION_MISMATCH, fields)])

    def record_switches(self) -> None:
        """Write the switch changes made since the last record, without waiting for an event to
        reveal them: an operator's request or the start-up safety check changed the risk state, and
        a crash before the next order must not leave the audit trail saying otherwise."""
        self._emit(self._clock_ns(), [])

    # --- plumbing --------------------------------------------------------------------------------
    def _note_order(self, cid: str, symbol: str, side: Side) -> None:
        self._orders[cid] = (symbol, side)
        self._orders.move_to_end(cid)
        while len(self._orders) > self._remember:
            self._orders.popitem(last=False)

    def _order_fields(self, cid: object, reason: str | None, meta: dict[str, Any]) -> _Fields:
        with self._lock:
            known = self._orders.get(str(cid))
        return {"client_order_id": _text(cid), "reason": reason, "metadata": meta,
                "symbol": None if known is None else known[0], "side": None if known is None else known[1]}  # fmt: skip

    def _emit(self, ts_ns: int, primary: list[tuple[AuditEvent, _Fields]], *, filled: Symbol | None = None) -> None:
        """Write ``primary`` with the switch changes and position changes it reveals, in order, at once."""
        with self._lock:
            snap = self._risk_state()
            risk = snapshot_to_dict(snap)
            changes = self._switch_changes(snap)
            # Only a fill can cause a switch change (the risk engine books it first); any other change
            # happened before the event that revealed it.
            after = [c for c in changes if filled is not None and c[1] >= ts_ns]
            before = [c for c in changes if c not in after]
            ordered = before + [(e, ts_ns, f) for e, f in primary]
            if filled is not None:
                ordered += self._position_change(snap, filled, ts_ns)
            ordered += after
            records = [self._context.record(e, ts, risk_snapshot=risk, **f) for e, ts, f in ordered]
            if not records:
                return
            self._log.append_many(records)
            self.records += len(records)

    def _switch_changes(self, snap: RiskSnapshot) -> list[tuple[AuditEvent, int, _Fields]]:
        out = []
        for now, before, on, off in (
            (snap.kill_switch, self._kill_switch, AuditEvent.KILL_SWITCH_ACTIVATED, AuditEvent.KILL_SWITCH_DEACTIVATED),
            (snap.halt, self._halt, AuditEvent.TRADING_HALTED, AuditEvent.TRADING_RESUMED),
        ):
            if now.active != before.active:
                out.append((on if now.active else off, _since(now, snap), _switch_fields(now)))
        self._kill_switch, self._halt = snap.kill_switch, snap.halt
        return out

    def _position_change(self, snap: RiskSnapshot, symbol: Symbol, ts_ns: int) -> list[tuple[AuditEvent, int, _Fields]]:
        key = str(symbol)
        held = next((p for p in snap.positions if str(p.symbol) == key), None)
        before, after = self._positions.get(key, ZERO), ZERO if held is None else held.quantity
        self._positions[key] = after
        if before <= 0 < after:
            assert held is not None
            meta = {"quantity": after, "cost_basis": held.cost_basis, "average_price": held.average_price}
            return [(AuditEvent.POSITION_OPENED, ts_ns, {"symbol": key, "side": Side.BUY, "metadata": meta})]
        if after <= 0 < before:
            meta = {"closed_quantity": before, "realized_pnl_today": snap.realized_pnl_today}
            return [(AuditEvent.POSITION_CLOSED, ts_ns, {"symbol": key, "side": Side.SELL, "metadata": meta})]
        return []


def _since(switch: SwitchState, snap: RiskSnapshot) -> int:
    return switch.since_ns if switch.since_ns is not None else snap.updated_ns


def _switch_fields(switch: SwitchState) -> _Fields:
    return {"reason": switch.reason, "metadata": {"by": switch.by}}
