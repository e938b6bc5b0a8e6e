"""BinanceStreams (ccxt.pro underneath) against the real simulated venue: candles, trades, quotes and
order updates, through dropped sockets, silence and planned renewals. No mocks.

The venue replays synthetic 1m BTCUSDT at 240x (a candle closes every 0.25 s); ETHUSDT is listed
but never traded, so its streams are truly silent (the staleness test uses that).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig, BinanceStreams, StreamSettings, Subscription
from thunes.adapters.venues.binance.feed import backoff_delay
from thunes.adapters.venues.simserver.state import ApiKey
from thunes.domain.enums import OrderStatus, OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.market import Bar, Timeframe
from thunes.domain.orders import OrderRequest
from thunes.domain.venue import FatalVenueError, OrderReport
from thunes.simvenue import OrderParams

D = Decimal
T = TypeVar("T")
BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")
MINUTE_NS = 60 * 1_000_000_000
FAST = StreamSettings(backoff_base_s=0.05, backoff_cap_s=0.4, jitter=0.0)
_accounts = itertools.count(1)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


def new_account(live: LiveVenue) -> ApiKey:
    name = f"stream-test-{next(_accounts)}"

    async def make() -> ApiKey:
        live.state.venue.deposit(name, "USDT", D(100_000))
        return live.state.add_api_key(name)

    return asyncio.run_coroutine_threadsafe(make(), live.loop).result(TIMEOUT)


def run(live: LiveVenue, key: ApiKey, scenario: Callable[[BinanceClient], Awaitable[T]], secret: str | None = None
        ) -> T:  # fmt: skip
    async def main() -> T:
        config = BinanceConfig(mode="paper", rest_url=live.base_url, ws_url=live.ws_url)
        client = BinanceClient(config, key.key, secret if secret is not None else key.secret)
        async with client, asyncio.timeout(4 * TIMEOUT):
            return await scenario(client)

    return asyncio.run(main())


async def take(subscription: AsyncIterator[T], count: int, *, during: Callable[[int], Awaitable[None]] | None = None
               ) -> list[T]:  # fmt: skip
    """The next ``count`` items; ``during(i)`` runs after the i-th (e.g. to inject a fault)."""
    out: list[T] = []
    async for item in subscription:
        out.append(item)
        if during is not None:
            await during(len(out))
        if len(out) == count:
            break
    return out


def assert_consecutive(bars: list[Bar]) -> None:
    opens = [b.open_time_ns for b in bars]
    assert all(b - a == MINUTE_NS for a, b in itertools.pairwise(opens)), opens


async def cancel(task: asyncio.Future[Any]) -> None:
    """Cancel a pending ``anext`` and let the generator unwind before anyone closes it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_connected(subscription: Subscription[Any]) -> None:
    await until(lambda: subscription.stats.connected)


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (the scenario's ``asyncio.timeout`` is the deadline)."""
    while not condition():
        await asyncio.sleep(0.01)


# --- backoff -------------------------------------------------------------------------------------
def test_backoff_when_attempts_grow_then_doubles_from_base_to_cap_with_bounded_jitter() -> None:
    middle = StreamSettings(rng=lambda: 0.5)  # no spread
    low, high = StreamSettings(rng=lambda: 0.0), StreamSettings(rng=lambda: 0.999999)

    delays = [backoff_delay(n, middle) for n in range(9)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert backoff_delay(0, low) == pytest.approx(0.8)
    assert backoff_delay(0, high) == pytest.approx(1.2)
    assert backoff_delay(1_000, high) == 60.0  # never above the cap, no attempt limit


# --- candles -------------------------------------------------------------------------------------
def test_watch_klines_when_streaming_then_closed_candles_in_order_equal_to_rest(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> tuple[list[Bar], list[Bar]]:
        async with BinanceStreams(c, FAST).watch_klines(BTC, Timeframe.M1) as sub:
            bars = await take(sub, 4)
        first, last = bars[0].open_time_ns // 1_000_000, bars[-1].open_time_ns // 1_000_000
        return bars, await c.klines(BTC, Timeframe.M1, first, last)

    streamed, rest = run(live, live.key, scenario)

    assert_consecutive(streamed)
    assert streamed == rest  # closed candles only, exact Decimals, same as the venue's history


def test_watch_klines_when_sockets_dropped_then_reconnects_and_backfills_no_gap_no_duplicate(live: LiveVenue) -> None:
    settings = StreamSettings(backoff_base_s=0.6, jitter=0.0)  # ~2 candles close while disconnected

    async def scenario(c: BinanceClient) -> tuple[list[Bar], Any]:
        async def drop_after_second(i: int) -> None:
            if i == 2:
                await asyncio.to_thread(live.admin, "/admin/ws/drop", {})

        async with BinanceStreams(c, settings).watch_klines(BTC, Timeframe.M1) as sub:
            return await take(sub, 8, during=drop_after_second), sub.stats

    bars, stats = run(live, live.key, scenario)

    assert_consecutive(bars)
    assert stats.reconnects >= 1
    assert stats.backfilled >= 1  # the candles that closed during the outage came over REST


def test_watch_klines_when_connection_reaches_max_age_then_renewed_without_gap(live: LiveVenue) -> None:
    settings = StreamSettings(backoff_base_s=0.05, max_connection_s=0.5)

    async def scenario(c: BinanceClient) -> tuple[list[Bar], Any]:
        async with BinanceStreams(c, settings).watch_klines(BTC, Timeframe.M1) as sub:
            return await take(sub, 8), sub.stats

    bars, stats = run(live, live.key, scenario)

    assert_consecutive(bars)
    assert stats.rotations >= 2


def test_watch_klines_when_since_given_then_history_first_then_live_without_gap(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> list[Bar]:
        newest = (await c.klines(BTC, Timeframe.M1, 0))[-1]
        since_ms = newest.open_time_ns // 1_000_000 - 9 * 60_000
        async with BinanceStreams(c, FAST).watch_klines(BTC, Timeframe.M1, since_ms=since_ms) as sub:
            return await take(sub, 14)

    bars = run(live, live.key, scenario)

    assert_consecutive(bars)


def test_watch_klines_when_symbol_goes_quiet_then_marked_stale_and_reconnected(live: LiveVenue) -> None:
    # ETHUSDT is listed but the replay never trades it: a subscription that truly receives nothing.
    # (Admin "silence" holds REST answers only, so it cannot make a WebSocket quiet.)
    settings = StreamSettings(backoff_base_s=0.05, backoff_cap_s=0.1, jitter=0.0, stale_after_s=0.3)

    async def scenario(c: BinanceClient) -> Any:
        sub = BinanceStreams(c, settings).watch_klines(ETH, Timeframe.M1)
        waiting = asyncio.ensure_future(anext(sub))
        await until(lambda: sub.stats.stale >= 2 and sub.stats.reconnects >= 2)  # twice found quiet, reconnected
        assert not waiting.done()  # and nothing was yielded meanwhile
        await cancel(waiting)
        await sub.aclose()
        return sub.stats

    stats = run(live, live.key, scenario)

    assert stats.stale >= 2
    assert stats.reconnects >= 2
    assert stats.messages == 0


# --- trades and quotes ---------------------------------------------------------------------------
def test_watch_trades_when_consumer_slow_then_oldest_dropped_and_counted(live: LiveVenue) -> None:
    settings = StreamSettings(market_queue_size=2)

    async def scenario(c: BinanceClient) -> tuple[list[Any], Any]:
        async with BinanceStreams(c, settings).watch_trades(BTC) as sub:
            first = await anext(sub)
            await until(lambda: sub.stats.dropped > 0)  # a stalled consumer: trades print (~16 a second), queue full
            later = [await anext(sub), await anext(sub)]
            return [first, *later], sub.stats

    trades, stats = run(live, live.key, scenario)

    assert stats.dropped > 0
    assert trades[1].trade_id > trades[0].trade_id + 1  # the oldest were dropped, not the newest
    assert trades[2].trade_id > trades[1].trade_id


def test_watch_book_ticker_when_streaming_then_exact_quotes(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> list[Any]:
        async with BinanceStreams(c, FAST).watch_book_ticker(BTC) as sub:
            return await take(sub, 3)

    quotes = run(live, live.key, scenario)

    assert all(q.symbol == BTC and q.bid_price < q.ask_price for q in quotes)
    assert all(q.bid_price == q.bid_price.quantize(D("0.01")) for q in quotes)  # exact ticks, no float noise
    assert [q.update_id for q in quotes] == sorted(q.update_id for q in quotes)


# --- order updates -------------------------------------------------------------------------------
def _market_buy(client_id: str) -> OrderRequest:
    return OrderRequest(ClientOrderId(client_id), BTC, Side.BUY, OrderType.MARKET, quantity=D("0.001"))


async def _until_filled(sub: AsyncIterator[OrderReport], client_id: str) -> list[OrderReport]:
    out: list[OrderReport] = []
    async for report in sub:
        out.append(report)
        if report.client_order_id == client_id and report.status is OrderStatus.FILLED:
            break
    return out


def test_watch_orders_when_order_placed_through_client_then_new_and_filled_reports(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> list[OrderReport]:
        async with BinanceStreams(c, FAST).watch_orders([BTC]) as sub:
            reports = asyncio.ensure_future(_until_filled(sub, "watched-1"))
            await wait_connected(sub)
            await c.submit(_market_buy("watched-1"))
            return await reports

    reports = run(live, new_account(live), scenario)

    assert [(r.client_order_id, r.status) for r in reports] == [("watched-1", OrderStatus.NEW),
                                                                ("watched-1", OrderStatus.FILLED)]  # fmt: skip
    filled = reports[-1]
    assert filled.filled_quantity == D("0.001")
    assert [f.quantity for f in filled.fills] == [D("0.001")]


def _drop_then_fill(live: LiveVenue, account: str, client_id: str) -> None:
    """Drop every WebSocket, then place and fill a MARKET buy, in one step of the venue's loop: the order
    fills while the stream is down however loaded the machine (a REST submit after the drop could lose
    the race against the client's 0.5 s reconnect, and the fill then came over the stream)."""

    async def act() -> None:
        for conn in list(live.running.driver.hub.connections):
            await conn.ws.close(code=1001, message=b"dropped by the test")
        live.state.venue.place_order(account, OrderParams(BTC, Side.BUY, OrderType.MARKET, D("0.001"),
                                                          client_order_id=client_id))  # fmt: skip

    asyncio.run_coroutine_threadsafe(act(), live.loop).result(TIMEOUT)


def test_watch_orders_when_fill_happens_while_disconnected_then_backfilled_exactly_once(live: LiveVenue) -> None:
    settings = StreamSettings(backoff_base_s=0.5, jitter=0.0)
    key = new_account(live)

    async def scenario(c: BinanceClient) -> tuple[list[OrderReport], Any]:
        async with BinanceStreams(c, settings).watch_orders([BTC]) as sub:
            reports = asyncio.ensure_future(_until_filled(sub, "missed-1"))
            await wait_connected(sub)
            await asyncio.to_thread(_drop_then_fill, live, key.account, "missed-1")
            seen = await reports
            extra = asyncio.ensure_future(anext(sub))
            await asyncio.sleep(0.3)  # anything more would be a duplicate
            assert not extra.done()
            await cancel(extra)
            return seen, sub.stats

    reports, stats = run(live, key, scenario)

    assert [(r.client_order_id, r.status) for r in reports] == [("missed-1", OrderStatus.FILLED)]
    assert reports[0].filled_quantity == D("0.001")
    assert stats.reconnects >= 1
    assert stats.backfilled == 1


def test_watch_orders_when_secret_wrong_then_fatal_raised_not_retried_forever(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> Any:
        sub = BinanceStreams(c, FAST).watch_orders()
        with pytest.raises(FatalVenueError) as caught:
            await anext(sub)
        return caught.value, sub.stats

    error, stats = run(live, live.key, scenario, secret="not-the-secret")

    assert error.code == -1022
    assert stats.reconnects == 0
