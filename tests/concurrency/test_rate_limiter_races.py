"""The rate limiter under concurrent acquire: the budget is spent exactly, never overdrawn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.concurrency import preemptive, race, race_async
from tests.unit.risk import FakeClock
from thunes.domain import RateLimit
from thunes.risk import RateLimiter

WEIGHT = RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000)
ORDERS_10S = RateLimit("ORDERS", "SECOND", 10, 50)
ORDERS_DAY = RateLimit("ORDERS", "DAY", 1, 160000)


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    with preemptive():
        yield


def _drain(limiter: RateLimiter, weight: int, is_order: bool = False) -> int:
    """Acquire until told to wait; returns the weight granted."""
    granted = 0
    while limiter.acquire(weight, is_order) == 0.0:
        granted += weight
    return granted


def _used(limiter: RateLimiter, rate_limit: RateLimit) -> int:
    return next(u.used for u in limiter.usage() if u.limit == rate_limit)


@pytest.mark.parametrize(("limit", "weight", "threads"), [(300, 1, 8), (301, 7, 12), (500, 20, 16), (64, 2, 32)])
def test_concurrent_acquire_spends_the_weight_window_exactly(limit: int, weight: int, threads: int) -> None:
    limiter = RateLimiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, limit)], FakeClock())

    granted = race(threads, lambda _i: _drain(limiter, weight))

    assert sum(granted) == limit // weight * weight
    assert _used(limiter, limiter.usage()[0].limit) == sum(granted)


def test_concurrent_orders_never_exceed_ten_second_window() -> None:
    limiter = RateLimiter([WEIGHT, ORDERS_10S, ORDERS_DAY], FakeClock())

    granted = race(16, lambda _i: _drain(limiter, 1, is_order=True))

    assert sum(granted) == 50
    assert _used(limiter, ORDERS_10S) == 50 and _used(limiter, ORDERS_DAY) == 50 and _used(limiter, WEIGHT) == 50


def test_mixed_orders_and_queries_spend_each_budget_exactly() -> None:
    limiter = RateLimiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 400), ORDERS_10S], FakeClock())

    def work(i: int) -> tuple[int, int]:
        orders = queries = 0
        for _ in range(60):
            if i % 2:
                orders += limiter.acquire(1, is_order=True) == 0.0
            else:
                queries += limiter.acquire(5) == 0.0
        return orders, queries

    results = race(12, work)

    orders, queries = sum(r[0] for r in results), sum(r[1] for r in results)
    used = _used(limiter, limiter.usage()[0].limit)
    assert orders + 5 * queries == used <= 400
    assert orders <= 50
    assert orders == 50 or used == 400  # an order refused for lack of weight means the weight ran out


def test_venue_headers_racing_with_acquire_never_let_usage_pass_the_limit() -> None:
    limiter = RateLimiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 1000)], FakeClock())

    def work(i: int) -> int:
        if i == 0:  # responses reporting what another client on our IP used
            for used in range(0, 600, 50):
                limiter.on_response({"X-MBX-USED-WEIGHT-1M": str(used)})
            return 0
        return _drain(limiter, 3)

    granted = race(10, work)

    assert _used(limiter, limiter.usage()[0].limit) <= 1000
    assert sum(granted) <= 1000  # never more than the whole window, whatever the headers said
    assert sum(granted) >= 1000 - 550 - 3  # and the venue's count only ever cost what it reported


def test_retry_after_blocks_every_thread_and_counts_stay_exact() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 200)], clock)

    def work(i: int) -> tuple[int, int]:
        if i == 0:
            limiter.on_response({"Retry-After": "30"}, status=429)
            return 0, 0
        granted = blocked = 0
        for _ in range(40):
            if limiter.acquire(1) == 0.0:
                granted += 1
            else:
                blocked += 1
        return granted, blocked

    results = race(9, work)

    assert sum(r[0] for r in results) == _used(limiter, limiter.usage()[0].limit) <= 200
    assert limiter.acquire(1) == pytest.approx(30)
    clock.advance(30)
    assert limiter.acquire(1) == 0.0


def test_window_rollover_between_two_bursts_grants_exactly_one_window_each() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 240)], clock)

    first = race(12, lambda _i: _drain(limiter, 2))
    clock.advance(60)
    second = race(12, lambda _i: _drain(limiter, 2))

    assert sum(first) == sum(second) == 240


def test_asyncio_tasks_acquire_the_budget_exactly() -> None:
    limiter = RateLimiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 150)], FakeClock())

    granted = race_async(10, lambda _i: _drain(limiter, 1))

    assert sum(granted) == 150
