"""The reference price cache: an age per symbol, stale quotes refused, the REST fallback asked only when
the stream's quote is missing or stale, and a failing fallback is "no price", never a crash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.market import QuoteTick
from thunes.engine.clock import ManualClock
from thunes.rl import Quote, ReferencePriceCache

D = Decimal
MS = 1_000_000


def test_age_is_per_symbol_and_a_quote_older_than_the_limit_is_not_fresh() -> None:
    clock = ManualClock(10_000 * MS)
    cache = ReferencePriceCache(clock.now_ns, max_age_ms=2000)
    cache.on_book_ticker("BTCUSDT", D(100), D(101))
    clock.advance(1500 * MS)
    cache.on_book_ticker("ETHUSDT", D(10), D(11))
    clock.advance(500 * MS)

    assert (cache.age_ms("BTCUSDT"), cache.age_ms("ETHUSDT"), cache.age_ms("SOLUSDT")) == (2000, 500, None)
    assert cache.fresh("BTCUSDT") is not None  # exactly at the limit
    clock.advance(1)
    assert cache.fresh("BTCUSDT") is None
    assert cache.fresh("ETHUSDT") == Quote(D(10), D(11), 11_500 * MS)


def test_an_older_update_never_replaces_a_newer_one() -> None:
    clock = ManualClock(10_000 * MS)
    cache = ReferencePriceCache(clock.now_ns)
    cache.on_book_ticker("BTCUSDT", D(100), D(101), 9_000 * MS)
    cache.on_book_ticker("BTCUSDT", D(90), D(91), 8_000 * MS)  # late, out of order after a reconnect

    assert cache.peek("BTCUSDT") == Quote(D(100), D(101), 9_000 * MS)


def test_fallback_is_asked_only_when_the_quote_is_missing_or_stale_and_its_answer_is_cached() -> None:
    clock = ManualClock(10_000 * MS)
    asked: list[str] = []

    def rest(symbol: str) -> Quote | None:
        asked.append(symbol)
        return Quote(D(50), D(52), clock.now_ns())

    cache = ReferencePriceCache(clock.now_ns, max_age_ms=1000, fallback=rest)
    cache.on_book_ticker("BTCUSDT", D(100), D(101))

    fresh = cache.fresh("BTCUSDT")
    missing = cache.fresh("ETHUSDT")
    clock.advance(1001 * MS)
    stale = cache.fresh("BTCUSDT")

    assert fresh is not None and fresh.mid == D("100.5")
    assert missing is not None and cache.peek("ETHUSDT") == missing
    assert stale is not None and stale.bid == D(50)
    assert asked == ["ETHUSDT", "BTCUSDT"]


def test_a_failing_or_stale_fallback_gives_no_quote() -> None:
    clock = ManualClock(10_000 * MS)

    def broken(symbol: str) -> Quote | None:
        raise ConnectionError("venue unreachable")

    def old(symbol: str) -> Quote | None:
        return Quote(D(1), D(2), 0)

    assert ReferencePriceCache(clock.now_ns, fallback=broken).fresh("BTCUSDT") is None
    assert ReferencePriceCache(clock.now_ns, fallback=old).fresh("BTCUSDT") is None


def test_quote_touch_is_the_side_a_market_order_takes_and_bad_quotes_are_refused() -> None:
    quote = Quote(D(100), D(102), 0)

    assert (quote.touch(Side.BUY), quote.touch(Side.SELL), quote.mid) == (D(102), D(100), D(101))
    for bid, ask in ((D(0), D(1)), (D(2), D(1)), (D("NaN"), D(1)), (D(1), D("Infinity"))):
        with pytest.raises(ValueError, match="quote"):
            Quote(bid, ask, 0)


def test_stream_quote_ticks_feed_the_cache_and_a_crossed_book_is_counted_not_used() -> None:
    clock = ManualClock(10_000 * MS)
    cache = ReferencePriceCache(clock.now_ns)
    good = QuoteTick(Symbol("BTCUSDT"), D(100), D(1), D(101), D(2), 9_999 * MS, 7)
    crossed = QuoteTick(Symbol("BTCUSDT"), D(102), D(1), D(101), D(2), 10_000 * MS, 8)

    cache.on_quote_tick(good)
    cache.on_quote_tick(crossed)

    assert cache.peek("BTCUSDT") == Quote(D(100), D(101), 9_999 * MS)
    assert cache.bad_quotes == 1
