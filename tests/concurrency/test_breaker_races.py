"""The circuit breaker under concurrent failures and probes: it opens once, one probe goes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.concurrency import preemptive, race, race_async
from tests.unit.risk import FakeClock, intent, make_engine, sell
from thunes.domain import DenialReason, Position, Symbol, VenueId
from thunes.risk import BreakerConfig, BreakerState, CircuitBreaker, FailureKind, RiskEngine, RiskLimits

ROUNDS = 10
A, B = VenueId("venue-a"), VenueId("venue-b")


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    with preemptive():
        yield


def _open(clock: FakeClock, config: BreakerConfig | None = None) -> CircuitBreaker:
    breaker = CircuitBreaker(A, clock, config)
    for _ in range(breaker.config.failure_threshold):
        breaker.record_failure(FailureKind.SERVER_ERROR)
    assert breaker.state is BreakerState.OPEN
    return breaker


@pytest.mark.parametrize("threads", [5, 16, 32])
def test_concurrent_server_failures_open_the_breaker_exactly_once(threads: int) -> None:
    for _ in range(ROUNDS):
        breaker = CircuitBreaker(A, FakeClock())

        opened = race(threads, lambda _i, b=breaker: b.record_failure(FailureKind.TIMEOUT))  # type: ignore[misc]

        assert opened.count(True) == 1
        assert breaker.times_opened == 1
        assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize("threads", [2, 8, 32])
def test_half_open_lets_exactly_one_probe_among_concurrent_callers(threads: int) -> None:
    for _ in range(3 * ROUNDS):
        clock = FakeClock()
        breaker = _open(clock)
        clock.advance(60)

        allowed = race(threads, lambda _i, b=breaker: b.allow())  # type: ignore[misc]

        assert allowed.count(True) == 1


def test_half_open_probe_among_asyncio_tasks_exactly_one() -> None:
    for _ in range(2 * ROUNDS):
        clock = FakeClock()
        breaker = _open(clock)
        clock.advance(60)

        allowed = race_async(12, lambda _i, b=breaker: b.allow())  # type: ignore[misc]

        assert allowed.count(True) == 1


def test_half_open_through_engine_checks_exactly_one_order_approved() -> None:
    for _ in range(2 * ROUNDS):
        engine, clock, _ = make_engine(RiskLimits())
        for i in range(4):
            engine.sync_position(Position(Symbol(f"H{i}USDT"), f"H{i}", "USDT", Decimal("0.001"), Decimal(50)))
        breaker = engine.breaker(A)
        for _ in range(5):
            breaker.record_failure(FailureKind.SERVER_ERROR)
        clock.advance(60)

        decisions = race(
            16,
            lambda i, e=engine: e.check(intent(sell(f"H{i % 4}USDT", f"s{i}", "0.0001"), venue=A)),  # type: ignore[misc]
        )

        assert sum(d.approved for d in decisions) == 1
        assert {d.reason for d in decisions if not d.approved} == {DenialReason.CIRCUIT_OPEN}


def test_streak_from_many_threads_opens_at_exactly_the_threshold() -> None:
    for _ in range(3):
        breaker = CircuitBreaker(A, FakeClock(), BreakerConfig(failure_threshold=150))

        def fail(_i: int, b: CircuitBreaker = breaker) -> int:
            return sum(b.record_failure(FailureKind.CONNECTION) for _ in range(20))

        opened = race(16, fail)

        assert sum(opened) == 1 == breaker.times_opened
        assert breaker.consecutive_failures == 150  # failures after opening are late answers: not counted


def test_probe_failure_while_others_ask_then_no_second_call_gets_through() -> None:
    for _ in range(ROUNDS):
        clock = FakeClock()
        breaker = _open(clock)
        clock.advance(60)

        def caller(_i: int, b: CircuitBreaker = breaker) -> int:
            granted = 0
            for _ in range(10):
                if b.allow():
                    granted += 1
                    b.record_failure(FailureKind.SERVER_ERROR)  # the probe fails: open again
            return granted

        granted = race(8, caller)

        assert sum(granted) == 1  # the clock is frozen: after the failed probe it stays open
        assert breaker.times_opened == 2


def test_mixed_successes_and_failures_never_open_twice_in_a_row() -> None:
    for _ in range(ROUNDS):
        breaker = CircuitBreaker(A, FakeClock())

        def report(i: int, b: CircuitBreaker = breaker) -> int:
            return sum(b.record(FailureKind.SERVER_ERROR if i % 4 else FailureKind.CLIENT_ERROR) for _ in range(3))

        opened = race(16, report)

        assert sum(opened) == 1 == breaker.times_opened  # client errors neither count nor reset


def test_breaker_for_a_venue_is_created_once_under_concurrency() -> None:
    for _ in range(ROUNDS):
        engine, _, _ = make_engine()

        breakers = race(12, lambda i, e=engine: e.breaker(A if i % 2 else B))  # type: ignore[misc]

        assert len({id(b) for b in breakers}) == 2


def test_failures_on_one_venue_never_open_another() -> None:
    for _ in range(ROUNDS):
        engine, _, _ = make_engine()

        def report(i: int, e: RiskEngine = engine) -> bool:
            venue = A if i % 2 else B
            breaker = e.breaker(venue)
            return breaker.record(FailureKind.SERVER_ERROR if venue == A else None)

        opened = race(16, report)

        assert opened.count(True) == 1
        assert engine.breaker(A).state is BreakerState.OPEN and engine.breaker(A).times_opened == 1
        assert engine.breaker(B).state is BreakerState.CLOSED
