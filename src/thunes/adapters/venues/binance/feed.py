"""One stream connection's plumbing: its bounded inbox, reconnect backoff, settings and counters.

Why a queue of our own instead of ccxt.pro's futures: a ccxt watch future resolves only for the
next message, so events arriving while the consumer is busy wake nobody, and ccxt keeps parsed
floats only. Every raw event is appended here the moment ccxt reads it; the consumer drains it at
its own pace. Market data may be dropped (oldest first, counted): a fresh price beats a stale one.
Order updates never are: on overflow the connection is declared broken instead, and the reconnect
resynchronises over REST (the venue server does the same to slow user-data clients).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thunes.domain.venue import RetryableVenueError, VenueError

__all__ = ["Feed", "RotateConnectionError", "StaleStreamError", "StreamSettings", "StreamStats", "backoff_delay"]


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Reconnect and liveness rules (SPEC §3); seconds unless named otherwise.

    Backoff: ``backoff_base_s`` doubling per failed attempt up to ``backoff_cap_s``, never giving
    up, each delay spread by ``±jitter`` (a fraction) drawn from ``rng`` so many clients do not
    reconnect in lockstep. A market stream with no message for ``stale_after_s`` is stale and
    reconnected. The user-data stream is silent whenever no order moves, so its silence proves
    nothing (``order_stale_after_s`` None); ccxt's ping/pong keep-alive catches a dead socket.
    Connections are renewed after ``max_connection_s``, ahead of Binance's 24 h cut-off.
    """

    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    jitter: float = 0.2
    stale_after_s: float | None = 60.0
    order_stale_after_s: float | None = None
    max_connection_s: float = 23.5 * 3600
    market_queue_size: int = 10_000
    order_queue_size: int = 100_000
    recent_orders: int = 100  # orders per symbol read back after a user-data reconnect
    rng: Callable[[], float] = field(default=random.random)
    received_ns: Callable[[], int] = field(default=time.time_ns)  # stamps quotes, which carry no time

    def __post_init__(self) -> None:
        if not 0 < self.backoff_base_s <= self.backoff_cap_s:
            raise ValueError("need 0 < backoff_base_s <= backoff_cap_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.market_queue_size < 1 or self.order_queue_size < 1:
            raise ValueError("queue sizes must be >= 1")


def backoff_delay(attempt: int, settings: StreamSettings) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 = first): ``base * 2**attempt``, capped, jittered."""
    nominal = min(settings.backoff_cap_s, settings.backoff_base_s * 2.0 ** min(attempt, 32))
    spread = 1 - settings.jitter + 2 * settings.jitter * float(settings.rng())
    return min(settings.backoff_cap_s, nominal * spread)


@dataclass
class StreamStats:
    """Counters of one subscription, for metrics and tests (``ws_reconnects_total``, drops, gaps)."""

    messages: int = 0
    reconnects: int = 0
    stale: int = 0
    rotations: int = 0
    dropped: int = 0
    backfilled: int = 0
    duplicates: int = 0
    malformed: int = 0
    connected: bool = False
    last_error: str | None = None


class StaleStreamError(RetryableVenueError):
    """No message within the stale timeout: the connection is presumed dead and replaced."""


class RotateConnectionError(RetryableVenueError):
    """The connection reached its planned age: replace it now, without backoff."""


class Feed:
    """The inbox of one connection: ``(received_ns, event)`` pairs, bounded, in arrival order."""

    def __init__(self, maxsize: int, *, droppable: bool, stats: StreamStats, settings: StreamSettings) -> None:
        self._items: deque[tuple[int, dict[str, Any]]] = deque()
        self._maxsize = maxsize
        self._droppable = droppable
        self._stats = stats
        self._settings = settings
        self._wake = asyncio.Event()
        self._error: VenueError | None = None
        self._loop = asyncio.get_running_loop()
        self.opened_at = self.last_activity = self._loop.time()

    def put(self, event: dict[str, Any]) -> None:
        """Called by ccxt's reader for each event this connection wants (synchronously, on the loop)."""
        if self._error is not None:
            return  # the connection is already given up; the reconnect's REST backfill covers it
        if len(self._items) >= self._maxsize:
            if not self._droppable:
                self.fail(RetryableVenueError("order update queue overflow: resynchronising over REST", None, 0.0))
                return
            self._items.popleft()
            self._stats.dropped += 1
        self._items.append((self._settings.received_ns(), event))
        self._stats.messages += 1
        self.last_activity = self._loop.time()
        self._wake.set()

    def fail(self, error: VenueError) -> None:
        """Mark the connection broken; queued events are still delivered first."""
        if self._error is None:
            self._error = error
            self._wake.set()

    async def get(self, stale_after_s: float | None) -> tuple[int, dict[str, Any]]:
        """The next event; raises the connection's error, :class:`StaleStreamError` after
        ``stale_after_s`` of silence, or :class:`RotateConnectionError` when the connection is old."""
        while True:
            if self._items:
                return self._items.popleft()
            if self._error is not None:
                raise self._error
            now = self._loop.time()
            waits = [self.opened_at + self._settings.max_connection_s - now]
            if stale_after_s is not None:
                waits.append(self.last_activity + stale_after_s - now)
            if waits[0] <= 0:
                raise RotateConnectionError("planned reconnect before the venue's connection age limit", None, 0.0)
            if len(waits) > 1 and waits[1] <= 0:
                raise StaleStreamError(f"no message for {stale_after_s} s", None, 0.0)
            self._wake.clear()
            try:
                async with asyncio.timeout(min(waits)):
                    await self._wake.wait()
            except TimeoutError:
                continue  # re-check: stale or rotation
