"""Binance's rate limits: request weight per IP, order counts per account, and IP bans.

From rest-api.md, "LIMITS":

* every response carries ``X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter)`` for each
  REQUEST_WEIGHT limit of exchangeInfo's ``rateLimits``; going over answers HTTP 429, code -1003,
  with ``Retry-After`` (seconds until the window resets);
* a client that keeps sending after a 429, before its ``Retry-After`` has passed, is banned:
  HTTP 418 with ``Retry-After`` until the ban ends; bans scale for repeat offenders from
  2 minutes to 3 days (doubling here);
* successful order placements carry ``X-MBX-ORDER-COUNT-(intervalNum)(intervalLetter)`` for each
  ORDERS limit, counted per account; going over answers 429, code -1015.

The ORDERS limits count *unfilled* orders (``faqs/order_count_decrement.md``, "Spot Unfilled Order
Count Rules"): every accepted order adds one, and "when an order is filled for the first time
(partially or fully), your unfilled order count is decremented by one order for all intervals of
the ORDERS rate limit", in the *current* interval, never below zero; cancels and expiries change
nothing. The placement's own answer still shows the count with the new order (the FAQ's taker
example: 3, then 2 once it fills; "there is a short delay"); the next request sees the decrement.
The FAQ's larger decrements for maker fills ("may be decremented by more than one") are not modelled:
one per order. Resting orders are watched through the venue's report listener (:meth:`RateLimiter.watch`).

Windows are fixed and aligned to the epoch (a minute window resets on the minute, as Binance's
``X-MBX-USED-WEIGHT-1M`` does). RAW_REQUESTS limits are not enforced.
Time is the injected wall clock (ns), so tests drive windows and bans without sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from thunes.domain.exchange_info import RateLimit
from thunes.simvenue.core import SimVenue
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import SimOrder

__all__ = ["RateLimitError", "RateLimiter", "interval_seconds"]

NS_PER_S = 1_000_000_000
_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
FIRST_BAN_S = 120
MAX_BAN_S = 3 * 86_400


def interval_seconds(limit: RateLimit) -> int:
    """Length of a limit's window, e.g. 10 for ``ORDERS 10 SECOND``."""
    return _SECONDS[limit.interval] * limit.interval_num


def _header_suffix(limit: RateLimit) -> str:
    return f"{limit.interval_num}{limit.interval[0]}"


class RateLimitError(VenueError):
    """A 429 or 418 answer; ``retry_after_s`` goes into the ``Retry-After`` header."""

    def __init__(self, code: int, msg: str, http_status: int, retry_after_s: int) -> None:
        super().__init__(code, msg, http_status)
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class _Counter:
    """Usage of one fixed window of one limit."""

    limit: RateLimit
    span_ns: int
    start_ns: int = 0
    used: int = 0

    def current(self, now_ns: int) -> int:
        start = now_ns - now_ns % self.span_ns
        if start != self.start_ns:
            self.start_ns, self.used = start, 0
        return self.used

    def reset_in_s(self, now_ns: int) -> int:
        return max(1, math.ceil((self.start_ns + self.span_ns - now_ns) / NS_PER_S))


@dataclass(slots=True)
class _IpState:
    weights: list[_Counter]
    limited_until_ns: int = 0  # a 429 was answered; requests before this time earn a ban
    banned_until_ns: int = 0
    offenses: int = 0


@dataclass(slots=True)
class _AccountOrders:
    counters: list[_Counter] = field(default_factory=list)
    unfilled: dict[int, str] = field(default_factory=dict)  # counted orders not filled yet: id -> symbol
    trades_seen: int = 0  # the account's trade count when ``unfilled`` was last checked


class RateLimiter:
    """Request weight per IP and order counts per account, from exchangeInfo's ``rateLimits``."""

    def __init__(
        self,
        rate_limits: Iterable[RateLimit],
        clock_ns: Callable[[], int],
        *,
        first_ban_s: int = FIRST_BAN_S,
        max_ban_s: int = MAX_BAN_S,
    ) -> None:
        limits = list(rate_limits)
        self._weight_limits = [r for r in limits if r.rate_limit_type == "REQUEST_WEIGHT"]
        self._order_limits = [r for r in limits if r.rate_limit_type == "ORDERS"]
        self._clock_ns = clock_ns
        self._first_ban_s = first_ban_s
        self._max_ban_s = max_ban_s
        self._ips: dict[str, _IpState] = {}
        self._accounts: dict[str, _AccountOrders] = {}
        self._venue: SimVenue | None = None
        self.bans = 0  # 418s earned by clients that ignored a Retry-After (reported by /admin/faults)

    # --- request weight -----------------------------------------------------------------------
    def _ip(self, ip: str) -> _IpState:
        state = self._ips.get(ip)
        if state is None:
            state = _IpState([_Counter(r, interval_seconds(r) * NS_PER_S) for r in self._weight_limits])
            self._ips[ip] = state
        return state

    def admit(self, ip: str, weight: int) -> None:
        """Charge ``weight`` to ``ip``; raises the 418 (banned) or 429 (over a limit) answer."""
        now = self._clock_ns()
        state = self._ip(ip)
        if state.banned_until_ns > now:
            raise self._ban_error(state, now)
        if state.limited_until_ns > now:  # did not back off after a 429
            state.offenses += 1
            self.bans += 1
            duration_s = min(self._first_ban_s * 2 ** (state.offenses - 1), self._max_ban_s)
            state.banned_until_ns = now + duration_s * NS_PER_S
            state.limited_until_ns = 0
            raise self._ban_error(state, now)
        for counter in state.weights:
            counter.current(now)
            counter.used += weight
        for counter in state.weights:
            if counter.used > counter.limit.limit:
                retry = counter.reset_in_s(now)
                state.limited_until_ns = now + retry * NS_PER_S
                per = f"{counter.limit.interval_num} {counter.limit.interval}"
                raise RateLimitError(
                    -1003,
                    f"Too much request weight used; current limit is {counter.limit.limit} request weight per {per}. "
                    "Please use WebSocket Streams for live updates to avoid polling the API.",
                    429,
                    retry,
                )

    def mark_limited(self, ip: str, retry_after_s: int) -> None:
        """A 429 was answered to ``ip`` by other means (fault injection): a request before
        ``retry_after_s`` passes earns the same 418 ban as after a real 429."""
        state = self._ip(ip)
        state.limited_until_ns = max(state.limited_until_ns, self._clock_ns() + retry_after_s * NS_PER_S)

    def forgive(self) -> None:
        """Lift every pending 429 mark and ban (``/admin/faults/clear``: a test starts clean)."""
        for state in self._ips.values():
            state.limited_until_ns = state.banned_until_ns = 0

    @staticmethod
    def _ban_error(state: _IpState, now: int) -> RateLimitError:
        until_ms = state.banned_until_ns // 1_000_000
        return RateLimitError(
            -1003,
            f"Way too much request weight used; IP banned until {until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans.",
            418,
            max(1, math.ceil((state.banned_until_ns - now) / NS_PER_S)),
        )

    def refund(self, ip: str, weight: int) -> None:
        """Give back a charge: order placement and cancels weigh 0 when they succeed (CHANGELOG 2026-03-27)."""
        now = self._clock_ns()
        for counter in self._ip(ip).weights:
            counter.current(now)
            counter.used = max(0, counter.used - weight)

    def weight_headers(self, ip: str) -> dict[str, str]:
        """``X-MBX-USED-WEIGHT-1M`` (one per REQUEST_WEIGHT limit) for ``ip``."""
        now = self._clock_ns()
        return {f"X-MBX-USED-WEIGHT-{_header_suffix(c.limit)}": str(c.current(now)) for c in self._ip(ip).weights}

    # --- order counts -------------------------------------------------------------------------
    def _orders(self, account: str) -> _AccountOrders:
        state = self._accounts.get(account)
        if state is None:
            state = _AccountOrders([_Counter(r, interval_seconds(r) * NS_PER_S) for r in self._order_limits])
            self._accounts[account] = state
        return state

    def check_orders(self, account: str) -> None:
        """Raise the 429 (-1015) answer when one more order would exceed an ORDERS limit."""
        now = self._clock_ns()
        for counter in self._orders(account).counters:
            if counter.current(now) + 1 > counter.limit.limit:
                per = f"{counter.limit.interval_num} {counter.limit.interval}"
                raise RateLimitError(
                    -1015,
                    f"Too many new orders; current limit is {counter.limit.limit} orders per {per}.",
                    429,
                    counter.reset_in_s(now),
                )

    def count_order(self, account: str, order: SimOrder | None = None) -> dict[str, str]:
        """Count an accepted order; the ``X-MBX-ORDER-COUNT-*`` headers to send with it (this order
        included). An ``order`` that already traded is then taken off again; one resting unfilled is
        watched until its first fill."""
        now = self._clock_ns()
        state = self._orders(account)
        headers: dict[str, str] = {}
        for counter in state.counters:
            counter.current(now)
            counter.used += 1
            headers[f"X-MBX-ORDER-COUNT-{_header_suffix(counter.limit)}"] = str(counter.used)
        if order is not None and order.executed_qty > 0:
            self._filled(state)
        elif order is not None and order.is_open:
            state.unfilled[order.order_id] = order.symbol
        return headers

    def _filled(self, state: _AccountOrders) -> None:
        """An order's first fill: one off every ORDERS count of the current window, never below zero."""
        now = self._clock_ns()
        for counter in state.counters:
            counter.current(now)
            counter.used = max(0, counter.used - 1)

    def watch(self, venue: SimVenue) -> None:
        """Follow ``venue``'s reports, so a resting order's first fill lowers its account's count."""
        self._venue = venue
        venue.add_listener(self._on_reports)

    def _on_reports(self, account: str) -> None:
        state, venue = self._accounts.get(account), self._venue
        if state is None or not state.unfilled or venue is None:
            return
        trades = venue.trade_count(account)
        if trades == state.trades_seen:  # no execution since the last look: no first fill either
            return
        state.trades_seen = trades
        for order_id, symbol in list(state.unfilled.items()):
            try:
                order = venue.get_order(account, symbol, order_id)
            except VenueError:  # gone (a restored state without it): nothing to count any more
                del state.unfilled[order_id]
                continue
            if order.executed_qty > 0:
                del state.unfilled[order_id]
                self._filled(state)
            elif not order.is_open:  # cancelled or expired unfilled: still counts (the FAQ)
                del state.unfilled[order_id]

    def order_usage(self, account: str) -> list[tuple[RateLimit, int]]:
        """Current count per ORDERS limit (``GET /api/v3/rateLimit/order``)."""
        now = self._clock_ns()
        return [(c.limit, c.current(now)) for c in self._orders(account).counters]
