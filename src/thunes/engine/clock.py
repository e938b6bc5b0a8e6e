"""Time for the engine: a port, and a manual clock for backtests and tests.

The engine never reads the wall clock; the live driver injects ``adapters.clock.SystemClock``.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["Clock", "ManualClock"]


class Clock(Protocol):
    """Unix time in nanoseconds (UTC)."""

    def now_ns(self) -> int: ...


class ManualClock:
    """A clock that moves only when told to (simulated time); thread-safe (moves are serialised)."""

    def __init__(self, start_ns: int = 0) -> None:
        self._ns = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        # No lock: reading one attribute is atomic, and a reader racing a writer sees the time before or
        # after the move, as it would with the lock. The engine reads the clock several times an order.
        return self._ns

    def set(self, ns: int) -> None:
        """Jump to ``ns``; time never runs backwards."""
        with self._lock:
            if ns < self._ns:
                raise ValueError(f"clock cannot go back from {self._ns} to {ns}")
            self._ns = ns

    def advance(self, ns: int) -> int:
        with self._lock:
            if ns < 0:
                raise ValueError("advance by a non-negative amount")
            self._ns += ns
            return self._ns
