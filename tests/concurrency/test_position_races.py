"""Position limits and one-position-per-symbol under concurrent checks: counts are exact."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.concurrency import SlowStore, preemptive, race, race_async
from tests.unit.risk import buy, intent, make_engine, open_position, symbol_name
from thunes.domain import ClientOrderId, DenialReason, Symbol
from thunes.risk import RiskDecision, RiskEngine, RiskLimits

ROUNDS = 8
BIG = RiskLimits(max_order_notional=Decimal(1_000_000), max_daily_loss=Decimal(1_000_000))


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    with preemptive():
        yield


def _engine(limits: RiskLimits, used: int) -> RiskEngine:
    engine, _, _ = make_engine(limits, store=SlowStore(delay_s=0))
    for i in range(used):
        open_position(engine, f"H{i}USDT", f"h{i}")
    return engine


def _approved(decisions: list[RiskDecision]) -> list[RiskDecision]:
    return [d for d in decisions if d.approved]


def test_two_of_three_used_and_three_concurrent_buys_then_exactly_one_approved() -> None:
    for _ in range(ROUNDS):
        engine = _engine(RiskLimits(), used=2)

        decisions = race(3, lambda i, e=engine: e.check(intent(buy(symbol_name(i), f"b{i}"))))  # type: ignore[misc]

        assert len(_approved(decisions)) == 1
        assert sorted(d.reason for d in decisions if not d.approved) == [DenialReason.POSITION_LIMIT] * 2
        assert len(engine.open_symbols()) == 3


@pytest.mark.parametrize(
    ("max_positions", "used", "contenders"),
    [(3, 2, 3), (3, 0, 8), (1, 0, 12), (5, 1, 16), (10, 7, 12), (4, 3, 24)],
)
def test_position_limit_race_configurations(max_positions: int, used: int, contenders: int) -> None:
    limits = RiskLimits(max_open_positions=max_positions)
    for _ in range(3):
        engine = _engine(limits, used)

        decisions = race(contenders, lambda i, e=engine: e.check(intent(buy(symbol_name(i), f"b{i}"))))  # type: ignore[misc]

        assert len(_approved(decisions)) == min(contenders, max_positions - used)
        assert len(engine.open_symbols()) == min(max_positions, used + contenders)
        assert len(engine.snapshot().reservations) == len(_approved(decisions))


def test_same_symbol_from_sixteen_threads_then_exactly_one_approved() -> None:
    for _ in range(ROUNDS):
        engine = _engine(BIG, used=0)

        decisions = race(16, lambda i, e=engine: e.check(intent(buy("BTCUSDT", f"b{i}"))))  # type: ignore[misc]

        assert len(_approved(decisions)) == 1
        assert {d.reason for d in decisions if not d.approved} == {DenialReason.DUPLICATE_POSITION}


def test_four_symbols_from_twenty_four_threads_then_one_approval_per_symbol() -> None:
    for _ in range(ROUNDS):
        engine = _engine(RiskLimits(max_open_positions=10), used=0)

        decisions = race(24, lambda i, e=engine: e.check(intent(buy(symbol_name(i % 4), f"b{i}"))))  # type: ignore[misc]

        approved = _approved(decisions)
        assert sorted(d.order.symbol for d in approved) == [symbol_name(i) for i in range(4)]


def test_asyncio_tasks_racing_for_the_last_two_slots_then_exactly_two_approved() -> None:
    for _ in range(ROUNDS):
        engine = _engine(RiskLimits(max_open_positions=3), used=1)

        decisions = race_async(10, lambda i, e=engine: e.check(intent(buy(symbol_name(i), f"b{i}"))))  # type: ignore[misc]

        assert len(_approved(decisions)) == 2


def _trade_and_close(engine: RiskEngine, i: int) -> tuple[int, int]:
    """Check BUYs on 8 symbols and cancel own orders at random; returns (approved, closed)."""
    rng = random.Random(i)
    approved = closed = 0
    mine: list[ClientOrderId] = []
    for n in range(25):
        if mine and rng.random() < 0.5:
            assert engine.on_order_closed(mine.pop())
            closed += 1
            continue
        request = buy(symbol_name(rng.randrange(8)), f"b{i}-{n}")
        if engine.check(intent(request)).approved:
            approved += 1
            mine.append(request.client_order_id)
    return approved, closed


def test_checks_and_closes_interleaved_then_slots_never_oversubscribed() -> None:
    for _ in range(2):
        engine = _engine(RiskLimits(max_open_positions=3), used=0)
        stop = threading.Event()
        peak = [0]

        def monitor(e: RiskEngine = engine, s: threading.Event = stop, top: list[int] = peak) -> None:
            while not s.is_set():
                top[0] = max(top[0], len(e.open_symbols()))

        watcher = threading.Thread(target=monitor)
        watcher.start()
        try:
            results = race(8, lambda i, e=engine: _trade_and_close(e, i))  # type: ignore[misc]
        finally:
            stop.set()
            watcher.join()

        open_orders = sum(a - c for a, c in results)
        assert peak[0] <= 3
        assert len(engine.snapshot().reservations) == open_orders
        assert len(engine.open_symbols()) == open_orders <= 3


def test_concurrent_buys_on_distinct_symbols_reserve_exactly_what_was_approved() -> None:
    engine = _engine(RiskLimits(max_open_positions=20), used=0)

    decisions = race(32, lambda i: engine.check(intent(buy(symbol_name(i), f"b{i}"))))

    approved = {d.order.client_order_id for d in _approved(decisions)}
    stored = engine.snapshot().reservations
    assert len(approved) == 20
    assert {r.client_order_id for r in stored} == approved
    assert {r.symbol for r in stored} == {Symbol(symbol_name(int(c[1:]))) for c in approved}
