"""The circuit breaker's state machine, driven by an explicit clock."""

from __future__ import annotations

import pytest

from thunes.domain import VenueId
from thunes.risk import BreakerConfig, BreakerState, CircuitBreaker, FailureKind

from . import FakeClock

SERVER_SIDE = [FailureKind.SERVER_ERROR, FailureKind.RATE_LIMITED, FailureKind.IP_BANNED, FailureKind.TIMEOUT]


def make() -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(VenueId("binance"), clock), clock


def trip(breaker: CircuitBreaker, kind: FailureKind = FailureKind.SERVER_ERROR) -> None:
    for _ in range(5):
        breaker.record_failure(kind)


@pytest.mark.parametrize("kind", [*SERVER_SIDE, FailureKind.CONNECTION])
def test_fifth_consecutive_server_failure_opens(kind: FailureKind) -> None:
    breaker, _ = make()

    opened = [breaker.record_failure(kind) for _ in range(5)]

    assert opened == [False, False, False, False, True]
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_success_resets_the_streak() -> None:
    breaker, _ = make()
    for _ in range(4):
        breaker.record_failure(FailureKind.TIMEOUT)

    breaker.record_success()
    breaker.record_failure(FailureKind.TIMEOUT)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 1


def test_client_errors_neither_count_nor_reset() -> None:
    breaker, _ = make()
    for _ in range(4):
        breaker.record_failure(FailureKind.SERVER_ERROR)

    for _ in range(10):
        breaker.record_failure(FailureKind.CLIENT_ERROR)
    assert breaker.consecutive_failures == 4
    before = breaker.state
    breaker.record_failure(FailureKind.SERVER_ERROR)

    assert before is BreakerState.CLOSED
    assert breaker.state is BreakerState.OPEN


def test_open_for_60_s_then_half_open_lets_exactly_one_probe() -> None:
    breaker, clock = make()
    trip(breaker)

    clock.advance(59.999)
    still_open = breaker.allow()
    clock.advance(0.001)
    state = breaker.state
    probes = [breaker.allow() for _ in range(3)]

    assert not still_open
    assert state is BreakerState.HALF_OPEN
    assert probes == [True, False, False]


def test_probe_success_closes() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60)
    assert breaker.allow()

    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.consecutive_failures == 0


def test_probe_failure_reopens_for_another_60_s() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60)
    breaker.allow()

    reopened = breaker.record_failure(FailureKind.CONNECTION)
    clock.advance(59)
    closed_still = breaker.allow()
    clock.advance(1)

    assert reopened and breaker.times_opened == 2
    assert not closed_still
    assert breaker.allow()


def test_probe_answered_with_client_error_frees_the_probe_slot() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60)
    breaker.allow()

    breaker.record_failure(FailureKind.CLIENT_ERROR)

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()


def test_probe_that_never_answers_frees_its_slot_after_timeout() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60)
    breaker.allow()

    clock.advance(30)
    assert not breaker.allow()
    assert breaker.seconds_until_probe() == pytest.approx(30)
    clock.advance(30)
    assert breaker.allow()


def test_late_answers_while_open_are_ignored() -> None:
    breaker, _ = make()
    trip(breaker)

    breaker.record_success()
    again = breaker.record_failure(FailureKind.SERVER_ERROR)

    assert breaker.state is BreakerState.OPEN and not again and breaker.times_opened == 1


def test_seconds_until_probe_counts_down() -> None:
    breaker, clock = make()
    assert breaker.seconds_until_probe() == 0
    trip(breaker)

    clock.advance(45)

    assert breaker.seconds_until_probe() == pytest.approx(15)


def test_config_is_honoured_and_validated() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(VenueId("sim"), clock, BreakerConfig(failure_threshold=2, open_s=5))
    breaker.record_failure(FailureKind.TIMEOUT)
    breaker.record_failure(FailureKind.TIMEOUT)
    opened = breaker.state
    clock.advance(5)

    assert opened is BreakerState.OPEN
    assert breaker.state is BreakerState.HALF_OPEN

    with pytest.raises(ValueError, match="failure_threshold"):
        BreakerConfig(failure_threshold=0)


def test_reset_closes_by_hand() -> None:
    breaker, _ = make()
    trip(breaker)

    breaker.reset()

    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (302, None),
        (400, FailureKind.CLIENT_ERROR),
        (404, FailureKind.CLIENT_ERROR),
        (418, FailureKind.IP_BANNED),
        (429, FailureKind.RATE_LIMITED),
        (500, FailureKind.SERVER_ERROR),
        (503, FailureKind.SERVER_ERROR),
    ],
)
def test_failure_kind_from_http_status(status: int, kind: FailureKind | None) -> None:
    assert FailureKind.from_http_status(status) is kind


def test_record_maps_none_to_success() -> None:
    breaker, _ = make()
    breaker.record(FailureKind.SERVER_ERROR)

    breaker.record(None)

    assert breaker.consecutive_failures == 0
