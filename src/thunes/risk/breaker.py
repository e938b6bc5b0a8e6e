"""A circuit breaker per venue (SPEC §2): stop sending when the venue keeps failing server-side.

CLOSED counts consecutive server-side failures (HTTP 5xx, 429, 418, timeouts, connection errors);
the ``failure_threshold``-th opens it. OPEN refuses everything for ``open_s``. Then HALF_OPEN lets
exactly one probe through (every other caller sees it as open): the probe's success closes the
breaker, its failure re-opens it for another ``open_s``. Client errors (other 4xx) say nothing about
the venue's health, so they neither count nor reset the streak.

The caller reports each answer with :meth:`CircuitBreaker.record`; the engine's check consults
:meth:`CircuitBreaker.allow`. Time is the injected clock; thread-safe (the engine shares its lock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum

from thunes.domain.identifiers import VenueId

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker", "FailureKind"]

NS_PER_SECOND = 1_000_000_000


class FailureKind(StrEnum):
    """How a venue call failed, as the adapter classifies it."""

    SERVER_ERROR = "SERVER_ERROR"  # HTTP 5xx
    RATE_LIMITED = "RATE_LIMITED"  # HTTP 429
    IP_BANNED = "IP_BANNED"  # HTTP 418
    TIMEOUT = "TIMEOUT"
    CONNECTION = "CONNECTION"
    CLIENT_ERROR = "CLIENT_ERROR"  # any other 4xx: our request was wrong, the venue is fine

    @property
    def counts(self) -> bool:
        """True for the server-side failures that move the breaker."""
        return self is not FailureKind.CLIENT_ERROR

    @classmethod
    def from_http_status(cls, status: int) -> FailureKind | None:
        """The kind for an HTTP status; ``None`` for a success (below 400)."""
        if status < 400:
            return None
        if status == 429:
            return cls.RATE_LIMITED
        if status == 418:
            return cls.IP_BANNED
        return cls.SERVER_ERROR if status >= 500 else cls.CLIENT_ERROR


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """``probe_timeout_s``: a probe whose answer never comes frees its slot after this long."""

    failure_threshold: int = 5
    open_s: float = 60.0
    probe_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.open_s <= 0 or self.probe_timeout_s <= 0:
            raise ValueError("failure_threshold >= 1, open_s > 0 and probe_timeout_s > 0 are required")


class CircuitBreaker:
    """The breaker of one venue. ``times_opened`` counts CLOSED/HALF_OPEN -> OPEN transitions."""

    def __init__(
        self,
        venue: VenueId,
        clock_ns: Callable[[], int],
        config: BreakerConfig | None = None,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.venue = venue
        self._clock_ns = clock_ns
        self._config = config or BreakerConfig()
        self._lock: AbstractContextManager[object] = lock if lock is not None else threading.RLock()
        self._open = False  # OPEN or HALF_OPEN; which one depends on the clock
        self._open_until_ns = 0
        self._probe_since_ns: int | None = None
        self._failures = 0
        self.times_opened = 0

    @property
    def config(self) -> BreakerConfig:
        return self._config

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state(self._clock_ns())

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._failures

    def _state(self, now_ns: int) -> BreakerState:
        if not self._open:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now_ns < self._open_until_ns else BreakerState.HALF_OPEN

    def seconds_until_probe(self) -> float:
        """How long until a call may go through (0 when one may go now): when to retry an exit."""
        with self._lock:
            now = self._clock_ns()
            state = self._state(now)
            if state is BreakerState.CLOSED:
                return 0.0
            if state is BreakerState.OPEN:
                return (self._open_until_ns - now) / NS_PER_SECOND
            if self._probe_since_ns is None:
                return 0.0
            timeout_ns = int(self._config.probe_timeout_s * NS_PER_SECOND)
            return max(0.0, (self._probe_since_ns + timeout_ns - now) / NS_PER_SECOND)

    def allow(self) -> bool:
        """May one call go now? In HALF_OPEN a True answer makes the caller the single probe."""
        with self._lock:
            if not self._open:  # CLOSED, whatever the clock says: every approved order asks
                return True
            now = self._clock_ns()
            if self._state(now) is BreakerState.OPEN:
                return False
            timeout_ns = int(self._config.probe_timeout_s * NS_PER_SECOND)
            if self._probe_since_ns is not None and now - self._probe_since_ns < timeout_ns:
                return False
            self._probe_since_ns = now
            return True

    def record(self, failure: FailureKind | None) -> bool:
        """Report a call's outcome (``None`` = success); True when this report opened the breaker."""
        if failure is None:
            self.record_success()
            return False
        return self.record_failure(failure)

    def record_success(self) -> None:
        """A successful answer: resets the streak, and closes a half-open breaker."""
        with self._lock:
            state = self._state(self._clock_ns())
            if state is BreakerState.OPEN:
                return  # a late answer to a call sent before opening proves nothing about now
            self._open = False
            self._probe_since_ns = None
            self._failures = 0

    def record_failure(self, kind: FailureKind) -> bool:
        """A failed call; True when it opened (or re-opened) the breaker."""
        with self._lock:
            now = self._clock_ns()
            state = self._state(now)
            if not kind.counts:
                if state is BreakerState.HALF_OPEN:
                    self._probe_since_ns = None  # the venue answered; let another probe decide
                return False
            if state is BreakerState.OPEN:
                return False  # late failures of calls sent before opening: already accounted for
            self._failures += 1
            if state is BreakerState.HALF_OPEN or self._failures >= self._config.failure_threshold:
                self._open = True
                self._open_until_ns = now + int(self._config.open_s * NS_PER_SECOND)
                self._probe_since_ns = None
                self.times_opened += 1
                return True
            return False

    def reset(self) -> None:
        """Close the breaker by hand (operator action)."""
        with self._lock:
            self._open = False
            self._probe_since_ns = None
            self._failures = 0
