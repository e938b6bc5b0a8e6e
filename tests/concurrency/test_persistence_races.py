"""Persistence under concurrent changes: what is stored is always the last state, in order."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.concurrency import SlowStore, preemptive, race, race_async
from tests.unit.risk import FakeClock, buy, fill, intent, make_engine, sell, symbol_name
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.domain import ClientOrderId, Position, Symbol
from thunes.risk import RiskEngine, RiskLimits, TradingState

MANY = RiskLimits(max_open_positions=1000, max_daily_loss=Decimal(1000))


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    with preemptive():
        yield


def _mixed_work(engine: RiskEngine, i: int, ops: int) -> None:
    """Checks, cancels, fills and switch flips in a random order per thread."""
    rng = random.Random(i)
    mine: list[ClientOrderId] = []
    for n in range(ops):
        roll = rng.random()
        if roll < 0.5:
            request = buy(symbol_name(i * 100 + n), f"b{i}-{n}")
            if engine.check(intent(request)).approved:
                mine.append(request.client_order_id)
        elif roll < 0.7 and mine:
            engine.on_order_closed(mine.pop())
        elif roll < 0.85:
            engine.on_fill(fill(sell(f"H{i}USDT", f"s{i}-{n}", "0.00001"), "50000", trade_id=f"t{i}-{n}"))
        elif roll < 0.93:
            engine.activate_kill_switch(by=f"op{i}", reason="test")
        else:
            engine.deactivate(by=f"op{i}")


def _seed(engine: RiskEngine, threads: int) -> None:
    for i in range(threads):
        engine.sync_position(Position(Symbol(f"H{i}USDT"), f"H{i}", "USDT", Decimal("0.01"), Decimal(500)))


def test_stored_snapshot_equals_the_last_state_after_concurrent_changes() -> None:
    for _ in range(2):
        store = SlowStore()
        engine, _, _ = make_engine(MANY, store=store)
        _seed(engine, 8)

        race(8, lambda i, e=engine: _mixed_work(e, i, 15))  # type: ignore[misc]

        assert store.load() == engine.snapshot()


def test_kill_switch_is_stored_before_activate_returns_while_checks_keep_saving() -> None:
    for _ in range(2):
        store = SlowStore()
        engine, _, _ = make_engine(MANY, store=store)
        seen_after: list[bool] = []

        def work(i: int, e: RiskEngine = engine, s: SlowStore = store, seen: list[bool] = seen_after) -> None:
            if i == 0:
                for n in range(5):
                    e.check(intent(buy(symbol_name(n), f"op-b{n}")))
                e.activate_kill_switch(by="alice", reason="stop")
                for _ in range(20):  # a restart at any moment from now on must find it on
                    seen.append(s.load().kill_switch.active)  # type: ignore[union-attr]
                return
            for n in range(10):
                e.check(intent(buy(symbol_name(i * 100 + n), f"b{i}-{n}")))

        race(8, work)

        assert all(seen_after)
        first_on = next(k for k, snap in enumerate(store.history) if snap.kill_switch.active)
        assert all(snap.kill_switch.active for snap in store.history[first_on:])


def test_saved_history_is_in_order_while_reservations_only_grow() -> None:
    store = SlowStore()
    engine, _, _ = make_engine(MANY, store=store)
    start = len(store.history)

    race(10, lambda i: [engine.check(intent(buy(symbol_name(i * 100 + n), f"b{i}-{n}"))) for n in range(12)])

    counts = [len(s.reservations) for s in store.history[start:]]
    assert counts == list(range(1, 121))


def test_json_file_after_concurrent_changes_restores_the_same_state(tmp_path: Path) -> None:
    clock = FakeClock()
    limits = RiskLimits(max_open_positions=6 + 1, max_daily_loss=Decimal(1000))
    for attempt in range(2):
        path = tmp_path / f"risk-{attempt}.json"
        engine = RiskEngine(limits, clock, JsonFileRiskStore(path))
        _seed(engine, 6)

        race(6, lambda i, e=engine: _mixed_work(e, i, 12))  # type: ignore[misc]
        restarted = RiskEngine(limits, clock, JsonFileRiskStore(path))

        assert len(engine.open_symbols()) <= 7
        assert restarted.snapshot() == engine.snapshot()
    assert restarted.trading_state is engine.trading_state


def test_restart_after_asyncio_activity_resumes_kill_switch_and_reservations(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "risk.json"
    limits = RiskLimits(max_open_positions=3)
    engine = RiskEngine(limits, clock, JsonFileRiskStore(path))

    def work(i: int) -> bool:
        if i == 0:  # reconciliation finds drift while the strategies are busy
            time.sleep(0.002)
            return engine.on_reconciliation_drift("BTC off by one step")
        return engine.check(intent(buy(symbol_name(i), f"b{i}"))).approved

    results = race_async(12, work)
    restarted = RiskEngine(limits, clock, JsonFileRiskStore(path))

    assert sum(results[1:]) <= 3
    assert restarted.trading_state is TradingState.REDUCING
    assert restarted.kill_switch.by == "reconciliation"
    assert len(restarted.snapshot().reservations) == sum(results[1:])
    assert restarted.snapshot() == engine.snapshot()
