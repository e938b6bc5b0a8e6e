"""The reference price of each symbol, with its age (SPEC §9, roadmap "Reference Price Cache").

Fed by the venue's bookTicker stream (:meth:`ReferencePriceCache.on_book_ticker`): best bid and ask,
stamped with the time they were received. A quote older than ``max_age_ms`` is stale: the adapter
refuses the action (``STALE_REFERENCE``) rather than price it on an old market. When the cached quote
is missing or stale, an optional ``fallback`` (a REST ``GET /api/v3/ticker/bookTicker``, wired by the
session) is asked once; what it returns is cached like a stream update.

The mid anchors the price bands of LIMIT orders; a MARKET order is checked against the live side it
would take (a BUY lifts the ask, a SELL hits the bid), not the last bar's close.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.enums import Side
from thunes.domain.market import QuoteTick

__all__ = ["Quote", "QuoteFallback", "ReferencePriceCache"]

NS_PER_MS = 1_000_000
_TWO = Decimal(2)
_BUY = Side.BUY


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and ask of one symbol, received at ``ts_ns`` (the adapter's clock)."""

    bid: Decimal
    ask: Decimal
    ts_ns: int

    def __post_init__(self) -> None:
        if not (self.bid.is_finite() and self.ask.is_finite()) or self.bid <= 0 or self.ask < self.bid:
            raise ValueError(f"a quote needs 0 < bid <= ask, finite: bid {self.bid}, ask {self.ask}")

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / _TWO

    def touch(self, side: Side) -> Decimal:
        """The price a MARKET order of ``side`` takes first: the ask for a BUY, the bid for a SELL."""
        return self.ask if side is _BUY else self.bid

    def age_ms(self, now_ns: int) -> int:
        return max(0, now_ns - self.ts_ns) // NS_PER_MS


QuoteFallback = Callable[[str], Quote | None]
"""A REST look-up of one symbol's book ticker: the quote, or None when the venue cannot say."""


class ReferencePriceCache:
    """The last quote per symbol; thread-safe (the stream writes, the adapter reads)."""

    def __init__(self, clock_ns: Callable[[], int], *, max_age_ms: int = 2000,
                 fallback: QuoteFallback | None = None) -> None:  # fmt: skip
        if max_age_ms <= 0:
            raise ValueError("max_age_ms must be positive")
        self._clock_ns = clock_ns
        self.max_age_ms = max_age_ms
        self._max_age_ns = max_age_ms * NS_PER_MS
        self._fallback = fallback
        self._quotes: dict[str, Quote] = {}
        self._lock = threading.Lock()
        self.fallback_calls = 0
        self.bad_quotes = 0  # stream quotes refused (crossed, zero, not finite): never a reference

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """A ``bookTicker`` from the market stream (subscribe it to the bus's ``QuoteTick``); its ``ts_ns``
        is when it was received (Binance's bookTicker carries no exchange time). A crossed or empty book
        is counted in ``bad_quotes`` and ignored: the last good quote ages until a good one comes."""
        try:
            self.on_book_ticker(str(tick.symbol), tick.bid_price, tick.ask_price, tick.ts_ns)
        except ValueError:
            self.bad_quotes += 1

    def on_book_ticker(self, symbol: str, bid: Decimal, ask: Decimal, ts_ns: int | None = None) -> None:
        """A bookTicker update; ``ts_ns`` defaults to now (when it arrived). An older update than the
        one held is ignored: streams can deliver out of order around a reconnect."""
        quote = Quote(bid, ask, self._clock_ns() if ts_ns is None else ts_ns)
        with self._lock:
            held = self._quotes.get(symbol)
            if held is None or quote.ts_ns >= held.ts_ns:
                self._quotes[symbol] = quote

    def peek(self, symbol: str) -> Quote | None:
        """The cached quote, fresh or not (no fallback)."""
        return self._quotes.get(symbol)

    def age_ms(self, symbol: str) -> int | None:
        """How old the cached quote is (None: never quoted)."""
        quote = self._quotes.get(symbol)
        return None if quote is None else quote.age_ms(self._clock_ns())

    def fresh(self, symbol: str, now_ns: int | None = None) -> Quote | None:
        """The quote when it is at most ``max_age_ms`` old, after asking the fallback when it is not;
        None when no fresh quote can be had."""
        now = self._clock_ns() if now_ns is None else now_ns
        quote = self._quotes.get(symbol)
        if quote is not None and now - quote.ts_ns <= self._max_age_ns:
            return quote
        if self._fallback is None:
            return None
        self.fallback_calls += 1
        try:
            got = self._fallback(symbol)
        except Exception:  # a failed look-up is "no fresh quote", never a crash of the decision path
            return None
        if got is None or now - got.ts_ns > self._max_age_ns:
            return None
        with self._lock:
            held = self._quotes.get(symbol)
            if held is None or got.ts_ns >= held.ts_ns:
                self._quotes[symbol] = got
        return got
