"""Client-side rate limiting that keeps us under Binance's limits, so no 429 and never a 418.

From rest-api.md, "LIMITS": REQUEST_WEIGHT is counted per minute, ORDERS per 10 s and per day
(exchangeInfo ``rateLimits``). Windows are fixed and aligned to the epoch, as the venue counts
them (a minute window resets on the minute; the day window at 00:00 UTC). The venue's own counts
come back in ``X-MBX-USED-WEIGHT-1M`` and ``X-MBX-ORDER-COUNT-10S``/``-1D``: when the venue has
counted more than we have (another client on the same IP or account, a request we did not see),
its number wins. A 429 carries ``Retry-After``: everything waits until then, because sending again
before it passes earns an IP ban (418).

``acquire`` charges the budget only when the request may go now and otherwise returns how many
seconds to wait, so a caller can never overdraw it, whatever the number of threads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from thunes.domain.exchange_info import RateLimit

__all__ = ["RateLimiter", "WindowUsage"]

NS_PER_SECOND = 1_000_000_000
_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
_ENFORCED = ("REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS")


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """What one limit's current window has used, for metrics and tests."""

    limit: RateLimit
    used: int
    allowed: int


@dataclass(slots=True)
class _Window:
    """One fixed window of one limit; ``allowed`` is the limit less the configured headroom."""

    limit: RateLimit
    span_ns: int
    allowed: int
    header: str
    start_ns: int = 0
    used: int = 0

    def roll(self, now_ns: int) -> None:
        start = now_ns - now_ns % self.span_ns
        if start != self.start_ns:
            self.start_ns, self.used = start, 0

    def cost(self, weight: int, is_order: bool) -> int:
        kind = self.limit.rate_limit_type
        if kind == "REQUEST_WEIGHT":
            return weight
        if kind == "ORDERS":
            return 1 if is_order else 0
        return 1  # RAW_REQUESTS: every request counts once

    def seconds_to_reset(self, now_ns: int) -> float:
        return (self.start_ns + self.span_ns - now_ns) / NS_PER_SECOND


def _header_name(limit: RateLimit) -> str:
    suffix = f"{limit.interval_num}{limit.interval[0]}".lower()
    if limit.rate_limit_type == "REQUEST_WEIGHT":
        return f"x-mbx-used-weight-{suffix}"
    if limit.rate_limit_type == "ORDERS":
        return f"x-mbx-order-count-{suffix}"
    return ""  # RAW_REQUESTS has no header


class RateLimiter:
    """Budget of request weight and order counts for one account on one venue.

    ``headroom`` keeps a share of every limit unused (0.1 = stop at 90 %), a margin for clocks that
    disagree with the venue's on where a window starts. ``retry_after_fallback_s`` applies to a
    429/418 that arrives without ``Retry-After``.
    """

    def __init__(
        self,
        rate_limits: Iterable[RateLimit],
        clock_ns: Callable[[], int],
        *,
        headroom: float = 0.0,
        retry_after_fallback_s: float = 60.0,
    ) -> None:
        if not 0.0 <= headroom < 1.0:
            raise ValueError("headroom must be in [0, 1)")
        self._clock_ns = clock_ns
        self._fallback_s = retry_after_fallback_s
        self._windows = [
            _Window(r, _SECONDS[r.interval] * r.interval_num * NS_PER_SECOND, _allowed(r, headroom), _header_name(r))
            for r in rate_limits
            if r.rate_limit_type in _ENFORCED and r.interval in _SECONDS
        ]
        self._blocked_until_ns = 0
        self._lock = threading.RLock()

    def acquire(self, weight: int = 1, is_order: bool = False) -> float:
        """Charge one request of ``weight`` (an order when ``is_order``) and return 0.0, or return the
        seconds to wait before asking again without charging anything.

        Raises ``ValueError`` for a request heavier than a whole window allows: it could never go.
        """
        if weight < 0:
            raise ValueError("weight must be >= 0")
        with self._lock:
            now = self._clock_ns()
            if now < self._blocked_until_ns:
                return (self._blocked_until_ns - now) / NS_PER_SECOND
            wait = 0.0
            for window in self._windows:
                window.roll(now)
                cost = window.cost(weight, is_order)
                if cost > window.allowed:
                    raise ValueError(f"a request costing {cost} never fits {window.limit}")
                if window.used + cost > window.allowed:
                    wait = max(wait, window.seconds_to_reset(now))
            if wait > 0:
                return wait
            for window in self._windows:
                window.used += window.cost(weight, is_order)
            return 0.0

    def on_response(self, headers: Mapping[str, str], status: int | None = None) -> None:
        """Take the venue's counts from a response; on 429/418 block until ``Retry-After`` passes."""
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            now = self._clock_ns()
            for window in self._windows:
                value = _as_int(lowered.get(window.header)) if window.header else None
                if value is not None:
                    window.roll(now)
                    window.used = max(window.used, value)
            if status in (418, 429):
                retry_after = _as_float(lowered.get("retry-after"))
                self._block_until(now, self._fallback_s if retry_after is None else retry_after)

    def block_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (e.g. an adapter saw a -1003 ban message)."""
        with self._lock:
            self._block_until(self._clock_ns(), seconds)

    def _block_until(self, now_ns: int, seconds: float) -> None:
        until = now_ns + math.ceil(max(0.0, seconds) * NS_PER_SECOND)
        self._blocked_until_ns = max(self._blocked_until_ns, until)

    def usage(self) -> list[WindowUsage]:
        """Current use of every enforced window."""
        with self._lock:
            now = self._clock_ns()
            for window in self._windows:
                window.roll(now)
            return [WindowUsage(w.limit, w.used, w.allowed) for w in self._windows]

    @property
    def blocked_for_s(self) -> float:
        """Seconds left of a Retry-After block (0 when none)."""
        with self._lock:
            return max(0.0, (self._blocked_until_ns - self._clock_ns()) / NS_PER_SECOND)


def _allowed(limit: RateLimit, headroom: float) -> int:
    return max(1, math.floor(limit.limit * (1.0 - headroom)))


def _as_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None  # a malformed header must not take the limiter down


def _as_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
