"""The recorder on a real bus and a real risk engine: one record per event, derived events in order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.governance import CONTEXT
from tests.unit.risk import T0, VENUE, FakeClock, buy, fill, intent, make_engine, sell
from thunes.adapters.storage.audit_jsonl import AuditLog, read_records
from thunes.adapters.storage.audit_verify import verify
from thunes.domain import ClientOrderId, DenialReason, OrderRequest, VenueOrderId
from thunes.domain.messages import (
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from thunes.engine.bus import InMemoryBus
from thunes.execution.reconciliation import Mismatch, MismatchKind
from thunes.governance import AuditEvent, AuditRecord, AuditRecorder
from thunes.risk import RiskEngine, RiskLimits
from thunes.risk.store import snapshot_to_dict


@dataclass
class Rig:
    bus: InMemoryBus
    risk: RiskEngine
    clock: FakeClock
    log: AuditLog
    recorder: AuditRecorder
    directory: Path

    def records(self) -> list[AuditRecord]:
        self.log.flush()
        out = []
        for _, _, item in read_records(self.directory):
            assert isinstance(item, AuditRecord), item
            out.append(item)
        return out

    def events(self) -> list[AuditEvent]:
        return [r.event for r in self.records()]


def _rig(tmp_path: Path, limits: RiskLimits | None = None) -> Rig:
    risk, clock, _ = make_engine(limits)
    bus = InMemoryBus()
    log = AuditLog(tmp_path)
    recorder = AuditRecorder(log, CONTEXT, risk.snapshot, clock)
    recorder.attach(bus)
    return Rig(bus, risk, clock, log, recorder, tmp_path)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = _rig(tmp_path)
    yield r
    r.log.close()


def _submitted(request: OrderRequest, ts_ns: int = T0) -> OrderSubmitted:
    return OrderSubmitted(ts_ns, VENUE, request.client_order_id, request)


def test_each_bus_event_when_published_then_exactly_one_record_of_its_kind(rig: Rig) -> None:
    request = buy("BTCUSDT", "b1")
    cid = request.client_order_id
    messages: list[object] = [
        OrderDenied(T0, VENUE, ClientOrderId("d1"), DenialReason.COOL_DOWN, "cooling down"),
        _submitted(request),
        OrderAccepted(T0 + 1, VENUE, cid, VenueOrderId("42")),
        OrderFilled(T0 + 2, VENUE, cid, fill(request, "50000", "0.0001"), False),
        OrderAmended(T0 + 3, VENUE, cid, Decimal("0.00015")),
        OrderCanceled(T0 + 4, VENUE, cid),
        OrderExpired(T0 + 5, VENUE, ClientOrderId("e1")),
        OrderRejected(T0 + 6, VENUE, ClientOrderId("r1"), -2010, "insufficient balance"),
        Mismatch(MismatchKind.BALANCE, "BTC", Decimal("0.1"), Decimal("0.2"), "REDUCING until resolved"),
    ]

    for message in messages:
        rig.bus.publish(message)

    assert rig.events() == [
        AuditEvent.TRADE_REJECTED, AuditEvent.TRADE_APPROVED, AuditEvent.ORDER_SUBMITTED, AuditEvent.ORDER_ACCEPTED,
        AuditEvent.ORDER_FILLED, AuditEvent.ORDER_AMENDED, AuditEvent.ORDER_CANCELED, AuditEvent.ORDER_EXPIRED,
        AuditEvent.ORDER_REJECTED, AuditEvent.RECONCILIATION_MISMATCH,
    ]  # fmt: skip
    assert rig.bus.handler_errors == 0
    assert verify(rig.directory).ok


def test_records_when_written_then_carry_context_and_current_risk_state(rig: Rig) -> None:
    rig.bus.publish(OrderDenied(T0, VENUE, ClientOrderId("d1"), DenialReason.KILL_SWITCH, ""))

    (r,) = rig.records()

    assert (r.strategy_id, r.param_hash, r.git_sha, r.app_version) == (
        CONTEXT.strategy_id, CONTEXT.param_hash, CONTEXT.git_sha, CONTEXT.app_version)  # fmt: skip
    assert dict(r.risk_snapshot)["trading_state"] == "ACTIVE"
    assert r.risk_snapshot["realized_pnl_today"] == snapshot_to_dict(rig.risk.snapshot())["realized_pnl_today"]
    assert r.ts_ns == T0


def test_denial_when_filter_failure_then_reason_is_the_full_filter_code(rig: Rig) -> None:
    detail = "FILTERS_LOT_SIZE: quantity 0.000001 below minQty 0.00001"
    rig.bus.publish(OrderDenied(T0, VENUE, ClientOrderId("d1"), DenialReason.FILTERS, detail))

    (r,) = rig.records()

    assert (r.event, r.reason, r.client_order_id) == (AuditEvent.TRADE_REJECTED, "FILTERS_LOT_SIZE", "d1")
    assert r.metadata["detail"] == detail


def test_submission_when_retried_under_the_same_id_then_one_approval_two_submissions(rig: Rig) -> None:
    request = buy("BTCUSDT", "b1")

    rig.bus.publish(_submitted(request, T0))
    rig.bus.publish(_submitted(request, T0 + 1))

    records = rig.records()
    assert [r.event for r in records] == [AuditEvent.TRADE_APPROVED, AuditEvent.ORDER_SUBMITTED,
                                         AuditEvent.ORDER_SUBMITTED]  # fmt: skip
    assert {(r.symbol, r.side, r.client_order_id) for r in records} == {("BTCUSDT", request.side, "b1")}
    assert records[1].metadata["quantity"] == "0.0002"
    assert records[1].metadata["price"] == "50000"


def test_later_events_when_order_known_then_carry_its_symbol_and_side(rig: Rig) -> None:
    request = sell("ETHUSDT", "s1", "0.01")
    rig.bus.publish(_submitted(request))

    rig.bus.publish(OrderAccepted(T0 + 1, VENUE, request.client_order_id, VenueOrderId("7")))
    rig.bus.publish(OrderAccepted(T0 + 2, VENUE, ClientOrderId("unknown"), VenueOrderId("8")))

    accepted = [r for r in rig.records() if r.event is AuditEvent.ORDER_ACCEPTED]
    assert [(r.symbol, r.side) for r in accepted] == [("ETHUSDT", request.side), (None, None)]
    assert accepted[0].metadata["venue_order_id"] == "7"


def test_kill_switch_when_turned_on_by_a_person_then_recorded_before_the_denial_it_caused(rig: Rig) -> None:
    rig.clock.advance(10)
    rig.risk.activate_kill_switch("alice", "news spike")
    switched_at = rig.clock()
    rig.clock.advance(60)
    decision = rig.risk.check(intent(buy("BTCUSDT", "b1")))
    rig.bus.publish(decision.denied_event())

    rig.risk.deactivate("alice")
    rig.bus.publish(OrderDenied(rig.clock(), VENUE, ClientOrderId("d2"), DenialReason.COOL_DOWN, ""))

    records = rig.records()
    assert [r.event for r in records] == [AuditEvent.KILL_SWITCH_ACTIVATED, AuditEvent.TRADE_REJECTED,
                                         AuditEvent.KILL_SWITCH_DEACTIVATED, AuditEvent.TRADE_REJECTED]  # fmt: skip
    on = records[0]
    assert (on.ts_ns, on.reason, on.metadata["by"]) == (switched_at, "news spike", "alice")
    assert records[1].reason == "KILL_SWITCH"
    assert records[2].metadata["by"] == "alice"


def test_halt_when_switched_then_recorded_as_halted_and_resumed(rig: Rig) -> None:
    rig.risk.halt("bob", "exchange maintenance")
    rig.clock.advance(1)
    rig.bus.publish(OrderDenied(rig.clock(), VENUE, ClientOrderId("d1"), DenialReason.TRADING_HALTED, ""))
    rig.risk.resume("bob")
    rig.clock.advance(1)
    rig.bus.publish(OrderDenied(rig.clock(), VENUE, ClientOrderId("d2"), DenialReason.COOL_DOWN, ""))

    assert rig.events() == [AuditEvent.TRADING_HALTED, AuditEvent.TRADE_REJECTED, AuditEvent.TRADING_RESUMED,
                            AuditEvent.TRADE_REJECTED]  # fmt: skip


def _book(rig: Rig, request: OrderRequest, price: str, quantity: str | None = None, *, complete: bool = True,
          trade_id: str = "t1") -> None:  # fmt: skip
    """What ``Trader.book`` does: risk first, then the event."""
    f = fill(request, price, quantity, trade_id=trade_id, ts_ns=rig.clock())
    rig.risk.on_fill(f, order_complete=complete)
    rig.bus.publish(OrderFilled(f.ts_ns, VENUE, request.client_order_id, f, complete))


def test_fills_when_position_goes_from_zero_and_back_then_opened_and_closed_once(rig: Rig) -> None:
    entry, exit_ = buy("BTCUSDT", "b1", "0.0002"), sell("BTCUSDT", "s1", "0.0002")
    assert rig.risk.check(intent(entry)).approved
    rig.bus.publish(_submitted(entry, rig.clock()))
    _book(rig, entry, "50000", "0.0001", complete=False, trade_id="t1")
    _book(rig, entry, "50000", "0.0001", trade_id="t2")  # a second fill adds, does not reopen
    rig.clock.advance(60)
    rig.bus.publish(_submitted(exit_, rig.clock()))
    _book(rig, exit_, "50100", trade_id="t3")

    assert rig.events() == [
        AuditEvent.TRADE_APPROVED, AuditEvent.ORDER_SUBMITTED, AuditEvent.ORDER_FILLED, AuditEvent.POSITION_OPENED,
        AuditEvent.ORDER_FILLED, AuditEvent.TRADE_APPROVED, AuditEvent.ORDER_SUBMITTED, AuditEvent.ORDER_FILLED,
        AuditEvent.POSITION_CLOSED,
    ]  # fmt: skip
    opened = next(r for r in rig.records() if r.event is AuditEvent.POSITION_OPENED)
    assert (opened.symbol, opened.metadata["quantity"]) == ("BTCUSDT", "0.0001")


def test_fill_when_a_losing_close_breaches_the_daily_limit_then_kill_switch_recorded_after_the_close(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, RiskLimits(max_daily_loss=Decimal("0.5")))
    entry, exit_ = buy("BTCUSDT", "b1", "0.0002"), sell("BTCUSDT", "s1", "0.0002")
    assert rig.risk.check(intent(entry)).approved
    _book(rig, entry, "50000")
    rig.clock.advance(60)
    _book(rig, exit_, "45000")  # loses 1 USDT > 0.5: the engine turns the kill-switch on inside on_fill
    rig.log.close()

    records = rig.records()
    assert [r.event for r in records] == [AuditEvent.ORDER_FILLED, AuditEvent.POSITION_OPENED,
                                         AuditEvent.ORDER_FILLED, AuditEvent.POSITION_CLOSED,
                                         AuditEvent.KILL_SWITCH_ACTIVATED]  # fmt: skip
    assert records[-1].metadata["by"] == "risk-engine"
    assert "daily realised loss" in (records[-1].reason or "")
    assert records[-1].risk_snapshot["trading_state"] == "REDUCING"


def test_recorder_when_started_with_switch_already_on_then_no_spurious_record(tmp_path: Path) -> None:
    risk, clock, _ = make_engine()
    risk.activate_kill_switch("alice", "overnight")
    bus, log = InMemoryBus(), AuditLog(tmp_path)
    AuditRecorder(log, CONTEXT, risk.snapshot, clock).attach(bus)

    bus.publish(OrderDenied(clock(), VENUE, ClientOrderId("d1"), DenialReason.KILL_SWITCH, ""))
    log.close()

    assert [item.event for _, _, item in read_records(tmp_path) if isinstance(item, AuditRecord)] == [
        AuditEvent.TRADE_REJECTED]  # fmt: skip
