"""Exchange filters cached with a TTL and refreshed on a -1013 (SPEC §1).

Filters change rarely but do change (tick sizes are re-set when a coin's price moves by orders
of magnitude). Trusting a stale copy produces -1013 rejections, so the cache refreshes after its
TTL and whenever the venue answers ``Filter failure``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument

__all__ = ["FILTER_FAILURE_CODE", "InstrumentCache"]

FILTER_FAILURE_CODE = -1013  # errors.md: -1013 INVALID_MESSAGE, "Filter failure: <NAME>"
NS_PER_SECOND = 1_000_000_000


class InstrumentCache:
    """Instruments from ``fetch`` (exchangeInfo), at most ``ttl_seconds`` old by ``clock_ns``."""

    def __init__(self, fetch: Callable[[], ExchangeInfo], clock_ns: Callable[[], int], ttl_seconds: int = 3600) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._fetch = fetch
        self._clock_ns = clock_ns
        self._ttl_ns = ttl_seconds * NS_PER_SECOND
        self._info: ExchangeInfo | None = None
        self._loaded_ns = 0
        self._lock = threading.Lock()
        self.refreshes = 0

    def _current(self) -> ExchangeInfo:
        with self._lock:
            now = self._clock_ns()
            if self._info is None or now - self._loaded_ns >= self._ttl_ns:
                self._info = self._fetch()  # a failed fetch keeps the old copy and re-raises
                self._loaded_ns = now
                self.refreshes += 1
            return self._info

    def get(self, symbol: str) -> Instrument:
        """The instrument for ``symbol``; ``KeyError`` when the venue does not list it."""
        return self._current().get(symbol)

    def exchange_info(self) -> ExchangeInfo:
        return self._current()

    def invalidate(self) -> None:
        """Forget the cached copy; the next lookup fetches anew."""
        with self._lock:
            self._info = None

    def on_venue_error(self, code: int) -> bool:
        """Refresh on a filter failure; returns True when the code was one."""
        if code != FILTER_FAILURE_CODE:
            return False
        self.invalidate()
        return True
