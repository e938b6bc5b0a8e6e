"""One time for clients: ``serverTime`` is the replay clock, as are orders, trades and candles;
signatures stay checked on the wall clock (``simserver/state.py`` says why).

Before, ``/api/v3/time`` answered the wall clock while orders carried the replayed market's time:
ccxt reported an order two years away from the server's time.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import ccxt

from tests.integration.simserver.conftest import RawClient, RunningServer, ccxt_binance
from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.domain.venue import RetryableVenueError

YEAR_MS = 365 * 86_400_000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def test_time_when_read_by_ccxt_then_orders_trades_and_candles_share_it(exchange: ccxt.binance, raw: RawClient) -> None:
    server_ms = exchange.fetch_time()
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.001)  # signed on ccxt's wall clock
    trade = exchange.fetch_my_trades("BTC/USDT")[-1]
    fetched = exchange.fetch_order(order["id"], "BTC/USDT")
    candle = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=1)[-1]
    info_ms = raw.public("/api/v3/exchangeInfo", symbol="BTCUSDT").body["serverTime"]

    assert order["status"] == "closed"
    assert order["timestamp"] == trade["timestamp"] == fetched["timestamp"] == server_ms == info_ms
    assert candle[0] <= server_ms <= candle[0] + 60_000  # the newest candle is the one of this time
    assert abs(_wall_ms() - server_ms) > YEAR_MS  # the replayed 2024 market, not this machine's clock


def test_signature_when_timestamp_on_wall_clock_then_accepted_on_server_time_then_1021(
    sim_server: RunningServer, raw: RawClient, api_key: Any
) -> None:
    server_ms = raw.public("/api/v3/time").body["serverTime"]

    on_wall = raw.signed(api_key, "GET", "/api/v3/account")
    on_server_time = raw.signed(api_key, "GET", "/api/v3/account", timestamp=server_ms)

    assert on_wall.status == 200
    assert (on_server_time.status, on_server_time.body["code"]) == (400, -1021)


def test_time_when_replay_runs_then_rest_websocket_api_and_orders_agree() -> None:
    venue = LiveVenue()  # replays at 240x: the server's time moves four minutes a second
    try:
        exchange = ccxt_binance(venue, venue.key)  # type: ignore[arg-type]
        exchange.load_markets()

        async def ws_time() -> int:
            async with aiohttp.ClientSession() as session, session.ws_connect(f"{venue.ws_url}/ws-api/v3") as ws:
                await ws.send_json({"id": 1, "method": "time"})
                async with asyncio.timeout(TIMEOUT):
                    answer = json.loads((await ws.receive()).data)
            return int(answer["result"]["serverTime"])

        before = exchange.fetch_time()
        order = exchange.create_order("BTC/USDT", "market", "buy", 0.001)
        on_ws = asyncio.run(ws_time())
        after = exchange.fetch_time()
    finally:
        venue.stop()

    assert before <= order["timestamp"] <= on_ws <= after
    assert after - before < 30 * 60_000  # minutes of replay apart, not years
    assert abs(_wall_ms() - after) > YEAR_MS


def test_binance_client_when_1021_after_a_stall_then_retries_on_its_own_clock_and_recovers() -> None:
    """THUNES's client must not adopt ``serverTime - its clock`` (years on a replay) after a -1021
    caused by a slow answer; even after two in a row it is back within one more call."""
    venue = LiveVenue()

    async def scenario() -> list[str]:
        config = BinanceConfig(mode="paper", rest_url=venue.base_url, ws_url=venue.ws_url, recv_window_ms=300)
        outcomes: list[str] = []
        async with BinanceClient(config, venue.key.key, venue.key.secret) as client:
            for stall in (True, True, False, False, False):
                if stall:  # held past the 300 ms recvWindow before the venue checks the timestamp
                    await asyncio.to_thread(venue.admin, "/admin/faults/silence", {"seconds": 0.6})
                try:
                    await client.balances()
                    outcomes.append("ok")
                except RetryableVenueError as e:
                    outcomes.append(str(e.code))
        return outcomes

    try:
        outcomes = asyncio.run(scenario())
    finally:
        venue.stop()

    assert outcomes[:2] == ["-1021", "-1021"]
    assert outcomes[-2:] == ["ok", "ok"]
    assert outcomes[2:].count("-1021") <= 1
