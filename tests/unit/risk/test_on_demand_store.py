"""The on-demand risk store (a backtest's) holds what the copying store holds after every step: the
state it builds when read is the state last saved, never a later one, and a restart resumes it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from thunes.domain import DenialReason, Symbol
from thunes.risk import (
    InMemoryRiskStore,
    OnDemandRiskStore,
    RiskEngine,
    RiskLimits,
    RiskSnapshot,
    TradingState,
    utc_day,
)

from . import FakeClock, buy, close_position, intent, make_engine, open_position, ts

LIMITS = RiskLimits(max_daily_loss=Decimal(100))
Step = Callable[[RiskEngine, FakeClock], object]
STEPS: list[Step] = [
    lambda engine, _clock: engine.check(intent(buy("ETHUSDT", "b9"))),  # a reservation
    lambda engine, _clock: open_position(engine, "BTCUSDT", "b1"),
    lambda engine, clock: clock.advance(60),
    lambda engine, _clock: close_position(engine, "BTCUSDT", "s1", price="49000"),  # a loss: cool-down
    lambda engine, _clock: engine.on_order_closed(buy("ETHUSDT", "b9").client_order_id),
    lambda engine, clock: clock.set(ts("2024-08-09T00:10:00")),
    lambda engine, _clock: engine.daily_reset(),  # a new day
    lambda engine, _clock: engine.activate_kill_switch(by="alice", reason="looking"),
]


def test_load_after_every_step_then_equals_what_the_copying_store_saved() -> None:
    copying, on_demand = InMemoryRiskStore(), OnDemandRiskStore()
    engines = [make_engine(LIMITS, FakeClock(ts("2024-08-08T23:50:00")), store)[:2] for store in (copying, on_demand)]
    for step in STEPS:
        for engine, clock in engines:
            step(engine, clock)
        assert on_demand.load() == copying.load()
        assert on_demand.saves == copying.saves


def test_load_when_nothing_saved_then_none_and_a_snapshot_given_whole_is_kept() -> None:
    store = OnDemandRiskStore()
    assert store.load() is None
    snapshot = RiskSnapshot(day=utc_day(ts("2024-08-08T12:00:00")), updated_ns=7)
    store.save(snapshot)
    assert store.load() is snapshot


def test_restart_from_it_then_switches_positions_and_cool_down_resume() -> None:
    store = OnDemandRiskStore()
    clock = FakeClock(ts("2024-08-08T12:00:00"))
    first, _, _ = make_engine(LIMITS, clock, store)
    open_position(first, "BTCUSDT", "b1")
    open_position(first, "ETHUSDT", "b2")
    close_position(first, "ETHUSDT", "s2", price="49000")
    first.activate_kill_switch(by="alice", reason="suspicious fills")

    second = RiskEngine(LIMITS, clock, store)

    assert second.trading_state is TradingState.REDUCING
    assert second.open_symbols() == {Symbol("BTCUSDT")}
    assert second.realized_pnl_today == first.realized_pnl_today < 0
    second.deactivate(by="alice")
    assert second.check(intent(buy("XRPUSDT", "b3"))).reason is DenialReason.COOL_DOWN
