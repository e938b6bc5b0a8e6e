from __future__ import annotations

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import ExchangeInfo
from thunes.execution import InstrumentCache

SECOND = 1_000_000_000


class _Venue:
    """Counts exchangeInfo fetches; can be told to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def fetch(self) -> ExchangeInfo:
        self.calls += 1
        if self.down:
            raise ConnectionError("venue down")
        return builtin_exchange_info()


def test_get_when_within_ttl_then_one_fetch_and_after_ttl_then_refetch() -> None:
    venue, now = _Venue(), [0]
    cache = InstrumentCache(venue.fetch, lambda: now[0], ttl_seconds=3600)

    cache.get("BTCUSDT")
    now[0] = 3599 * SECOND
    cache.get("ETHUSDT")
    assert venue.calls == 1
    now[0] = 3600 * SECOND
    cache.get("BTCUSDT")

    assert venue.calls == 2


def test_on_venue_error_when_filter_failure_then_next_get_refetches() -> None:
    venue = _Venue()
    cache = InstrumentCache(venue.fetch, lambda: 0)
    cache.get("BTCUSDT")

    assert cache.on_venue_error(-2010) is False
    cache.get("BTCUSDT")
    assert venue.calls == 1
    assert cache.on_venue_error(-1013) is True
    cache.get("BTCUSDT")
    assert venue.calls == 2


def test_get_when_refresh_fails_then_error_propagates_and_later_retry_succeeds() -> None:
    venue, now = _Venue(), [0]
    cache = InstrumentCache(venue.fetch, lambda: now[0], ttl_seconds=1)
    cache.get("BTCUSDT")
    venue.down, now[0] = True, 5 * SECOND

    with pytest.raises(ConnectionError):
        cache.get("BTCUSDT")
    venue.down = False

    assert cache.get("BTCUSDT").symbol == "BTCUSDT"


def test_get_when_unknown_symbol_then_key_error() -> None:
    with pytest.raises(KeyError, match="XYZUSDT"):
        InstrumentCache(_Venue().fetch, lambda: 0).get("XYZUSDT")
