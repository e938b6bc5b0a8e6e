"""BinanceClient (ccxt underneath) against the real simulated venue on a socket: no mocks.

Each test opens its own funded account on the venue (orders of one test never show in another's
open orders or trades) and its own client inside ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.simserver.state import ApiKey
from thunes.domain.enums import Liquidity, OrderStatus, OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.market import Timeframe
from thunes.domain.orders import OrderRequest
from thunes.domain.venue import FatalVenueError, RejectedByVenueError, RetryableVenueError

D = Decimal
T = TypeVar("T")
BTC = Symbol("BTCUSDT")
MINUTE_NS = 60 * 1_000_000_000
WARMUP = 2_100  # closed candles before the first request: more than two kline pages
_accounts = itertools.count(1)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue(warmup_bars=WARMUP)
    yield venue
    venue.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(live: LiveVenue) -> Iterator[None]:
    yield
    live.admin("/admin/faults/clear", {})


def on_server(live: LiveVenue, fn: Callable[[], T]) -> T:
    """Run ``fn`` on the venue's own event loop (its state is not shared across threads)."""

    async def call() -> T:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), live.loop).result(TIMEOUT)


def new_account(live: LiveVenue, **funds: str) -> ApiKey:
    name = f"client-test-{next(_accounts)}"

    def make() -> ApiKey:
        for asset, amount in (funds or {"USDT": "100000", "BTC": "1"}).items():
            live.state.venue.deposit(name, asset, D(amount))
        return live.state.add_api_key(name)

    return on_server(live, make)


def client_for(live: LiveVenue, key: ApiKey, *, secret: str | None = None, timeout_s: float = 10.0) -> BinanceClient:
    config = BinanceConfig(mode="paper", rest_url=live.base_url, ws_url=live.ws_url, timeout_s=timeout_s)
    return BinanceClient(config, key.key, secret if secret is not None else key.secret)


def run(live: LiveVenue, key: ApiKey, scenario: Callable[[BinanceClient], Awaitable[T]], **options: Any) -> T:
    async def main() -> T:
        async with client_for(live, key, **options) as client:
            return await scenario(client)

    return asyncio.run(main())


async def passive_price(client: BinanceClient) -> Decimal:
    """A BUY price far below the market (rests), inside the 0.2x-5x PERCENT_PRICE_BY_SIDE band."""
    bars = await client.klines(BTC, Timeframe.M1, 0)
    return (bars[-1].close * D("0.6")).quantize(D("0.01"))


def limit_buy(client_id: str, quantity: str, price: Decimal) -> OrderRequest:
    return OrderRequest(ClientOrderId(client_id), BTC, Side.BUY, OrderType.LIMIT, quantity=D(quantity), price=price)


# --- configuration -------------------------------------------------------------------------------
def test_config_when_paper_without_urls_or_testnet_with_urls_or_malformed_urls_then_refused() -> None:
    with pytest.raises(ValueError, match="paper mode needs rest_url"):
        BinanceConfig(mode="paper")
    with pytest.raises(ValueError, match="for paper and live only"):
        BinanceConfig(mode="testnet", rest_url="http://127.0.0.1:8765")
    with pytest.raises(ValueError, match="ws_url must be like"):
        BinanceConfig(mode="live", ws_url="http://127.0.0.1:8765")


def test_repr_when_printed_then_credentials_never_shown(live: LiveVenue) -> None:
    client = client_for(live, ApiKey("the-api-key-123", "the-secret-456", "nobody"))

    text = repr(client)

    assert "the-api-key-123" not in text
    assert "the-secret-456" not in text
    assert "paper" in text


# --- market data ---------------------------------------------------------------------------------
def test_exchange_info_when_fetched_then_instruments_and_filters_equal_the_venues(live: LiveVenue) -> None:
    info = run(live, live.key, lambda c: c.exchange_info())

    assert info.instruments == live.state.exchange_info.instruments
    assert info.rate_limits == live.state.exchange_info.rate_limits


def test_klines_when_more_than_one_page_then_every_closed_candle_once_without_gap(live: LiveVenue) -> None:
    bars = run(live, live.key, lambda c: c.klines(BTC, Timeframe.M1, 0))
    forming = on_server(live, lambda: live.state.candles.klines("BTCUSDT", Timeframe.M1, None, None, 1)[-1])

    opens = [b.open_time_ns for b in bars]
    assert len(bars) >= WARMUP
    assert all(b - a == MINUTE_NS for a, b in itertools.pairwise(opens))
    assert opens[-1] < forming.open_ms * 1_000_000  # the forming candle is never returned
    assert all(isinstance(b.close, Decimal) for b in bars)


def test_book_ticker_when_fetched_then_the_venues_best_bid_and_ask_as_decimals(live: LiveVenue) -> None:
    on_server(live, live.running.driver.pause)  # the market stands still between the answer and the check
    try:
        before = time.time_ns()
        quote = run(live, live.key, lambda c: c.book_ticker(BTC))
        m = on_server(live, lambda: live.state.venue.market("BTCUSDT"))
        bid, bid_qty, ask = m.bid, m.bid_qty, m.ask  # read while paused: the market state lives on
    finally:
        on_server(live, live.running.driver.resume)

    assert (quote.symbol, quote.bid_price, quote.ask_price) == (BTC, bid, ask)
    assert isinstance(quote.bid_quantity, Decimal) and quote.bid_quantity == bid_qty
    assert 0 < quote.bid_price <= quote.ask_price
    assert quote.ts_ns >= before  # stamped when received: the answer carries no time


def test_klines_when_range_in_the_past_then_exactly_that_range(live: LiveVenue) -> None:
    start_ms = 1_704_067_200_000 + 5 * 60_000  # 2024-01-01 00:05, the sixth candle of the replay
    end_ms = start_ms + 1_199 * 60_000

    bars = run(live, live.key, lambda c: c.klines(BTC, Timeframe.M1, start_ms, end_ms))

    assert len(bars) == 1_200
    assert bars[0].open_time_ns == start_ms * 1_000_000
    assert bars[-1].open_time_ns == end_ms * 1_000_000


# --- orders --------------------------------------------------------------------------------------
def test_limit_order_when_submitted_looked_up_amended_cancelled_then_one_order_tracked_by_client_id(
    live: LiveVenue,
) -> None:
    key = new_account(live)

    async def scenario(c: BinanceClient) -> list[Any]:
        price = await passive_price(c)
        placed = await c.submit(limit_buy("cycle-1", "0.002", price))
        found = await c.lookup(BTC, ClientOrderId("cycle-1"))
        amended = await c.amend(BTC, ClientOrderId("cycle-1"), D("0.001"))
        still_open = await c.open_orders(BTC)
        cancelled = await c.cancel(BTC, ClientOrderId("cycle-1"))
        unknown = await c.lookup(BTC, ClientOrderId("never-placed"))
        return [price, placed, found, amended, still_open, cancelled, unknown, await c.open_orders()]

    price, placed, found, amended, still_open, cancelled, unknown, after = run(live, key, scenario)

    assert (placed.client_order_id, placed.status, placed.quantity, placed.price) == ("cycle-1", OrderStatus.NEW,
                                                                                      D("0.002"), price)  # fmt: skip
    assert found == placed
    assert (amended.client_order_id, amended.quantity, amended.status) == ("cycle-1", D("0.001"), OrderStatus.NEW)
    assert amended.venue_order_id == placed.venue_order_id  # same order, same queue place
    assert [o.client_order_id for o in still_open] == ["cycle-1"]
    assert (cancelled.client_order_id, cancelled.status) == ("cycle-1", OrderStatus.CANCELED)
    assert unknown is None
    assert after == []


def test_market_order_when_filled_then_balances_and_my_trades_are_exact_decimals(live: LiveVenue) -> None:
    key = new_account(live, USDT="1000")

    async def scenario(c: BinanceClient) -> list[Any]:
        by_qty = await c.submit(OrderRequest(ClientOrderId("mkt-qty"), BTC, Side.BUY, OrderType.MARKET,
                                             quantity=D("0.001")))  # fmt: skip
        by_quote = await c.submit(OrderRequest(ClientOrderId("mkt-quote"), BTC, Side.BUY, OrderType.MARKET,
                                               quote_quantity=D("20")))  # fmt: skip
        return [by_qty, by_quote, await c.balances(), await c.my_trades(BTC, 0)]

    by_qty, by_quote, balances, trades = run(live, key, scenario)

    assert by_qty.status is by_quote.status is OrderStatus.FILLED
    assert by_qty.filled_quantity == D("0.001")
    assert by_quote.cumulative_quote <= D("20")
    fills = [*by_qty.fills, *by_quote.fills]
    assert all(f.liquidity is Liquidity.TAKER for f in fills)
    spent = by_qty.cumulative_quote + by_quote.cumulative_quote
    bought = by_qty.filled_quantity + by_quote.filled_quantity - sum(f.commission for f in fills)
    assert balances == {"USDT": (D("1000") - spent, D(0)), "BTC": (bought, D(0))}
    assert trades == fills  # same ids, prices, quantities, commissions, client ids: exact Decimals


# --- errors on the wire --------------------------------------------------------------------------
def test_submit_when_notional_below_filter_then_rejected_with_1013(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> None:
        await c.submit(limit_buy("too-small", "0.00001", await passive_price(c)))

    with pytest.raises(RejectedByVenueError) as caught:
        run(live, new_account(live), scenario)

    assert caught.value.code == -1013


def test_submit_when_balance_too_small_then_rejected_with_2010(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> None:
        await c.submit(limit_buy("too-big", "10", await passive_price(c)))  # ~250k USDT of 100k

    with pytest.raises(RejectedByVenueError) as caught:
        run(live, new_account(live), scenario)

    assert caught.value.code == -2010


def test_unknown_symbol_when_queried_then_rejected(live: LiveVenue) -> None:
    with pytest.raises(RejectedByVenueError) as caught:
        run(live, live.key, lambda c: c.open_orders(Symbol("DOGEUSDT")))

    assert caught.value.code == -1121


def test_signed_call_when_secret_wrong_then_fatal(live: LiveVenue) -> None:
    with pytest.raises(FatalVenueError) as caught:
        run(live, live.key, lambda c: c.balances(), secret="not-the-secret")

    assert caught.value.code == -1022


def test_5xx_burst_when_armed_then_retryable_until_it_passes(live: LiveVenue) -> None:
    live.admin("/admin/faults", {"error_count": 2, "error_status": 503})

    async def scenario(c: BinanceClient) -> list[Any]:
        outcomes: list[Any] = []
        for _ in range(3):
            try:
                outcomes.append(await c.balances())
            except RetryableVenueError as e:
                outcomes.append(e)
        return outcomes

    first, second, third = run(live, live.key, scenario)

    assert isinstance(first, RetryableVenueError)
    assert isinstance(second, RetryableVenueError)
    assert first.code == -1001
    assert third["USDT"][0] > 0


def test_429_when_armed_then_retryable_with_delay_equal_to_retry_after(live: LiveVenue) -> None:
    live.admin("/admin/faults", {"error_count": 1, "error_status": 429, "retry_after_s": 7})

    with pytest.raises(RetryableVenueError) as caught:
        run(live, live.key, lambda c: c.server_time_ms())

    assert caught.value.delay_s == 7.0
    assert caught.value.code == -1003


def test_429_when_client_budgets_from_exchange_info_then_next_call_waits_retry_after_and_no_ban(
    live: LiveVenue,
) -> None:
    async def scenario(c: BinanceClient) -> tuple[float, float, int]:
        await c.exchange_info()  # installs the venue's request limits
        live.admin("/admin/faults", {"error_count": 1, "error_status": 429, "retry_after_s": 2})
        with pytest.raises(RetryableVenueError):
            await c.balances()
        started = time.monotonic()
        balances = await c.balances()  # a naive client would send now and earn a 418
        return time.monotonic() - started, balances["USDT"][0], live.admin("/admin/faults")["bans"]

    waited, usdt, bans = run(live, live.key, scenario)

    assert waited >= 1.9
    assert usdt > 0
    assert bans == 0


def test_rate_budget_when_headers_report_weight_then_limiter_follows_the_venue(live: LiveVenue) -> None:
    async def scenario(c: BinanceClient) -> tuple[int, int]:
        for _ in range(3):  # spent before the client knows its budget: only the venue counted these
            await c.balances()
        await c.exchange_info()
        assert c.limiter is not None
        await c.balances()
        return max(u.used for u in c.limiter.usage()), len(c.limiter.usage())

    used, windows = run(live, live.key, scenario)

    assert windows >= 1
    assert used >= 4 * 20 + 20  # 4 x account + exchangeInfo, as X-MBX-USED-WEIGHT-1M reported them


def test_silence_when_venue_stops_answering_then_retryable_timeout_then_recovers(live: LiveVenue) -> None:
    live.admin("/admin/faults/silence", {"seconds": 3.0})  # long enough that the first call surely meets it

    async def scenario(c: BinanceClient) -> tuple[RetryableVenueError | None, float, int]:
        started = time.perf_counter()
        error = None
        try:
            await c.server_time_ms()
        except RetryableVenueError as e:
            error = e
        waited = time.perf_counter() - started
        async with asyncio.timeout(4 * TIMEOUT):
            while True:  # the silence ends: the client answers again (a retry may still time out under load)
                try:
                    return error, waited, await c.server_time_ms()
                except RetryableVenueError:
                    await asyncio.sleep(0.1)

    error, waited, later = run(live, live.key, scenario, timeout_s=0.3)

    assert error is not None
    assert "RequestTimeout" in str(error)
    assert waited < 2.0  # its own 0.3 s timeout, not the venue's 3 s silence
    assert later > 0


def test_dropped_order_answer_when_submitted_then_retryable_and_lookup_finds_it_exactly_once(live: LiveVenue) -> None:
    key = new_account(live)

    async def scenario(c: BinanceClient) -> list[Any]:
        request = limit_buy("lost-answer", "0.001", await passive_price(c))
        live.admin("/admin/faults", {"drop_order_responses": 1})
        try:
            await c.submit(request)
        except RetryableVenueError as e:
            error: RetryableVenueError | None = e
        else:
            error = None
        return [error, await c.lookup(BTC, request.client_order_id), await c.open_orders(BTC)]

    error, found, open_orders = run(live, key, scenario)

    assert isinstance(error, RetryableVenueError)
    assert found is not None
    assert (found.client_order_id, found.status) == ("lost-answer", OrderStatus.NEW)
    assert [o.client_order_id for o in open_orders] == ["lost-answer"]  # placed once, no resend needed
