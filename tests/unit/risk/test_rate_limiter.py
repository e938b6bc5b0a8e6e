"""The client-side rate limiter: exchangeInfo limits, venue headers, Retry-After."""

from __future__ import annotations

import pytest

from thunes.domain import RateLimit
from thunes.risk import RateLimiter

from . import FakeClock, ts

BINANCE = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
    RateLimit("ORDERS", "SECOND", 10, 50),
    RateLimit("ORDERS", "DAY", 1, 160000),
    RateLimit("RAW_REQUESTS", "MINUTE", 5, 61000),
)
START = ts("2024-08-08T12:00:00")


def make(limits: tuple[RateLimit, ...] = BINANCE, **kwargs: float) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock(START)
    return RateLimiter(limits, clock, **kwargs), clock


def used(limiter: RateLimiter, kind: str, interval: str) -> int:
    return next(u.used for u in limiter.usage() if (u.limit.rate_limit_type, u.limit.interval) == (kind, interval))


def test_acquire_within_limits_charges_weight_and_orders() -> None:
    limiter, _ = make()

    waits = [limiter.acquire(20), limiter.acquire(1, is_order=True)]

    assert waits == [0.0, 0.0]
    assert used(limiter, "REQUEST_WEIGHT", "MINUTE") == 21
    assert used(limiter, "ORDERS", "SECOND") == 1
    assert used(limiter, "RAW_REQUESTS", "MINUTE") == 2


def test_acquire_when_weight_window_full_then_wait_until_the_minute_turns() -> None:
    limiter, clock = make()
    clock.advance(15)
    assert limiter.acquire(5990) == 0.0

    wait = limiter.acquire(20)
    clock.advance(wait)
    after = limiter.acquire(20)

    assert wait == pytest.approx(45)
    assert after == 0.0
    assert used(limiter, "REQUEST_WEIGHT", "MINUTE") == 20


def test_acquire_when_orders_per_10s_exhausted_then_wait_and_weight_not_charged() -> None:
    limiter, clock = make()
    for _ in range(50):
        assert limiter.acquire(1, is_order=True) == 0.0
    clock.advance(3)

    wait = limiter.acquire(1, is_order=True)
    plain = limiter.acquire(1)

    assert wait == pytest.approx(7)
    assert plain == 0.0  # a non-order request is not held back by the order limit
    assert used(limiter, "REQUEST_WEIGHT", "MINUTE") == 51


def test_on_response_when_venue_counted_more_then_venue_wins() -> None:
    limiter, _ = make()
    limiter.acquire(10)

    limiter.on_response({"X-MBX-USED-WEIGHT-1M": "5995", "x-mbx-order-count-10s": "49"})

    assert used(limiter, "REQUEST_WEIGHT", "MINUTE") == 5995
    assert limiter.acquire(6) > 0
    assert limiter.acquire(1, is_order=True) == 0.0
    assert limiter.acquire(1, is_order=True) > 0


def test_on_response_when_venue_counted_less_then_ours_kept() -> None:
    limiter, _ = make()
    limiter.acquire(100)

    limiter.on_response({"X-MBX-USED-WEIGHT-1M": "40", "X-MBX-ORDER-COUNT-1D": "garbage"})

    assert used(limiter, "REQUEST_WEIGHT", "MINUTE") == 100


@pytest.mark.parametrize("status", [429, 418])
def test_on_response_429_or_418_blocks_until_retry_after(status: int) -> None:
    limiter, clock = make()

    limiter.on_response({"Retry-After": "30"}, status=status)
    blocked = limiter.acquire(1)
    clock.advance(30)
    free = limiter.acquire(1)

    assert blocked == pytest.approx(30)
    assert free == 0.0


def test_on_response_429_without_retry_after_uses_fallback() -> None:
    limiter, _ = make(retry_after_fallback_s=12)

    limiter.on_response({}, status=429)

    assert limiter.blocked_for_s == pytest.approx(12)


def test_headroom_stops_short_of_the_limit() -> None:
    limiter, _ = make((RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 100),), headroom=0.1)

    granted = sum(1 for _ in range(200) if limiter.acquire(1) == 0.0)

    assert granted == 90


def test_acquire_heavier_than_a_window_raises() -> None:
    limiter, _ = make((RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 100),))

    with pytest.raises(ValueError, match="never fits"):
        limiter.acquire(101)


def test_day_window_resets_at_utc_midnight() -> None:
    limiter, clock = make((RateLimit("ORDERS", "DAY", 1, 2),))
    clock.set(ts("2024-08-08T23:59:00"))
    limiter.acquire(1, is_order=True)
    limiter.acquire(1, is_order=True)

    wait = limiter.acquire(1, is_order=True)
    clock.set(ts("2024-08-09T00:00:00"))

    assert wait == pytest.approx(60)
    assert limiter.acquire(1, is_order=True) == 0.0


def test_block_for_and_validation() -> None:
    limiter, _ = make()
    limiter.block_for(5)
    assert limiter.acquire(1) == pytest.approx(5)
    with pytest.raises(ValueError, match="weight"):
        limiter.acquire(-1)
    with pytest.raises(ValueError, match="headroom"):
        RateLimiter(BINANCE, FakeClock(), headroom=1.0)
