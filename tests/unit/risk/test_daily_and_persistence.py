"""The UTC day window driven by an explicit clock, and state that survives a restart."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.domain import DenialReason, Symbol
from thunes.risk import (
    InMemoryRiskStore,
    RiskEngine,
    RiskLimits,
    RiskSnapshot,
    RiskStoreError,
    TradingState,
    snapshot_from_dict,
    snapshot_to_dict,
    utc_day,
)
from thunes.risk.state import next_day_ns

from . import FakeClock, buy, close_position, intent, make_engine, open_position, ts

LOSSY = RiskLimits(max_daily_loss=Decimal(2), cool_down_s=0)


def test_utc_day_changes_exactly_at_midnight_utc() -> None:
    assert str(utc_day(ts("2024-08-08T23:59:59"))) == "2024-08-08"
    assert str(utc_day(ts("2024-08-09T00:00:00"))) == "2024-08-09"
    assert str(utc_day(ts("2024-08-09T00:00:00") - 1)) == "2024-08-08"


@pytest.mark.parametrize(
    "at", ["1970-01-01T00:00:00", "2024-02-28T23:59:59", "2024-02-29T12:00:00", "2024-12-31T00:00:01"]
)
def test_next_day_ns_when_compared_with_utc_day_then_the_first_ns_of_the_next_day(at: str) -> None:
    day = utc_day(ts(at))
    assert utc_day(next_day_ns(day)) > day
    assert utc_day(next_day_ns(day) - 1) == day


def test_daily_reset_when_one_ns_before_midnight_then_same_day_and_at_midnight_rolled() -> None:
    clock = FakeClock(ts("2024-08-08T12:00:00"))
    engine, _, _ = make_engine(LOSSY, clock)

    clock.set(ts("2024-08-09T00:00:00") - 1)
    before = engine.daily_reset()
    clock.set(ts("2024-08-09T00:00:00"))

    assert not before
    assert engine.daily_reset()
    assert not engine.daily_reset()


def test_check_when_utc_midnight_crossed_then_daily_loss_cleared_but_kill_switch_kept() -> None:
    clock = FakeClock(ts("2024-08-08T23:00:00"))
    engine, _, store = make_engine(LOSSY, clock)
    open_position(engine, "BTCUSDT", "b1")
    close_position(engine, "BTCUSDT", "s1", price="39000")  # -2.2: kill-switch on
    engine.deactivate(by="alice")
    engine.activate_kill_switch(by="alice", reason="keep it on overnight")

    clock.set(ts("2024-08-08T23:59:59"))
    before = engine.check(intent(buy("ETHUSDT", "b2")))
    clock.set(ts("2024-08-09T00:00:00"))
    rolled = engine.daily_reset()

    assert before.reason is DenialReason.KILL_SWITCH
    assert rolled
    assert engine.realized_pnl_today == 0
    assert engine.trading_state is TradingState.REDUCING  # the reset never clears the kill-switch
    stored = store.load()
    assert stored is not None and str(stored.day) == "2024-08-09" and stored.kill_switch.active


def test_daily_reset_when_called_twice_same_day_then_loss_not_erased() -> None:
    clock = FakeClock(ts("2024-08-09T00:00:00"))
    engine, _, _ = make_engine(RiskLimits(max_daily_loss=Decimal(100)), clock)
    open_position(engine, "BTCUSDT", "b1")
    close_position(engine, "BTCUSDT", "s1", price="49000")

    second = engine.daily_reset()

    assert not second
    assert engine.realized_pnl_today == Decimal("-0.2")


def test_check_when_scheduler_late_then_first_call_of_new_day_rolls_it() -> None:
    clock = FakeClock(ts("2024-08-08T22:00:00"))
    engine, _, _ = make_engine(LOSSY, clock)
    open_position(engine, "BTCUSDT", "b1")
    close_position(engine, "BTCUSDT", "s1", price="39000")
    engine.deactivate(by="alice")
    denied = engine.check(intent(buy("ETHUSDT", "b2")))

    clock.set(ts("2024-08-09T00:00:01"))  # daily_reset not called yet
    approved = engine.check(intent(buy("ETHUSDT", "b3")))

    assert denied.reason is DenialReason.DAILY_LOSS
    assert approved.approved


def test_fill_pnl_counts_for_the_day_of_the_clock() -> None:
    clock = FakeClock(ts("2024-08-08T23:59:00"))
    engine, _, _ = make_engine(RiskLimits(max_daily_loss=Decimal(100)), clock)
    open_position(engine, "BTCUSDT", "b1")

    clock.set(ts("2024-08-09T00:01:00"))
    close_position(engine, "BTCUSDT", "s1", price="49000")

    assert engine.realized_pnl_today == Decimal("-0.2")
    assert str(engine.snapshot().day) == "2024-08-09"


def test_restart_when_kill_switch_on_then_new_engine_resumes_it(tmp_path: Path) -> None:
    path = tmp_path / "risk" / "state.json"
    clock = FakeClock()
    first = RiskEngine(RiskLimits(), clock, JsonFileRiskStore(path))
    first.check(intent(buy("ETHUSDT", "b9")))
    open_position(first, "BTCUSDT", "b1")
    first.activate_kill_switch(by="alice", reason="suspicious fills")

    second = RiskEngine(RiskLimits(), clock, JsonFileRiskStore(path))

    assert second.trading_state is TradingState.REDUCING
    assert (second.kill_switch.by, second.kill_switch.reason) == ("alice", "suspicious fills")
    assert second.open_symbols() == {Symbol("BTCUSDT"), Symbol("ETHUSDT")}
    assert second.check(intent(buy("XRPUSDT", "b2"))).reason is DenialReason.KILL_SWITCH


def test_restart_on_a_later_day_then_pnl_cleared_and_cool_down_kept() -> None:
    store = InMemoryRiskStore()
    clock = FakeClock(ts("2024-08-08T23:50:00"))
    first, _, _ = make_engine(RiskLimits(max_daily_loss=Decimal(100)), clock, store)
    open_position(first, "BTCUSDT", "b1")
    close_position(first, "BTCUSDT", "s1", price="49000")

    clock.set(ts("2024-08-09T00:10:00"))
    second = RiskEngine(RiskLimits(max_daily_loss=Decimal(100)), clock, store)

    assert second.realized_pnl_today == 0
    assert second.check(intent(buy("ETHUSDT", "b2"))).reason is DenialReason.COOL_DOWN


def test_json_store_round_trip_equals_snapshot(tmp_path: Path) -> None:
    engine, _, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1")
    engine.check(intent(buy("ETHUSDT", "b2")))
    engine.halt(by="bob", reason="maintenance")
    store = JsonFileRiskStore(tmp_path / "state.json")

    store.save(engine.snapshot())
    loaded = store.load()

    assert loaded == engine.snapshot()  # the clock has not moved: even updated_ns matches
    data = json.loads((tmp_path / "state.json").read_text())
    assert data["trading_state"] == "HALTED"
    assert snapshot_from_dict(snapshot_to_dict(engine.snapshot())) == engine.snapshot()


def test_json_store_when_file_missing_then_none_and_when_damaged_then_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert JsonFileRiskStore(path).load() is None

    path.write_text('{"schema_version": 1, "day": "2024-08-0')

    with pytest.raises(RiskStoreError, match="unreadable"):
        JsonFileRiskStore(path).load()


def test_json_store_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = JsonFileRiskStore(tmp_path / "state.json")
    engine = RiskEngine(RiskLimits(), FakeClock(), store)

    for i in range(5):
        engine.check(intent(buy(f"C{i}USDT", f"b{i}")))

    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_snapshot_from_dict_when_schema_unknown_then_error() -> None:
    engine, _, _ = make_engine()
    data = snapshot_to_dict(engine.snapshot())
    data["schema_version"] = 99

    with pytest.raises(ValueError, match="schema_version"):
        snapshot_from_dict(data)


class _FailingStore(InMemoryRiskStore):
    """Saves until told to fail (a full disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def save(self, snapshot: RiskSnapshot) -> None:
        if self.broken:
            raise OSError("No space left on device")
        super().save(snapshot)


def test_check_when_store_fails_then_error_raised_and_slot_not_kept() -> None:
    store = _FailingStore()
    engine, _, _ = make_engine(RiskLimits(max_open_positions=1), store=store)
    store.broken = True

    with pytest.raises(OSError, match="No space"):
        engine.check(intent(buy()))
    store.broken = False

    assert engine.open_symbols() == frozenset()
    assert engine.check(intent(buy("ETHUSDT", "b2"))).approved


def test_activate_when_store_fails_then_error_raised_but_switch_stays_on_in_memory() -> None:
    store = _FailingStore()
    engine, _, _ = make_engine(store=store)
    store.broken = True

    with pytest.raises(OSError, match="No space"):
        engine.activate_kill_switch(by="alice", reason="x")

    assert engine.trading_state is TradingState.REDUCING  # the safe side
