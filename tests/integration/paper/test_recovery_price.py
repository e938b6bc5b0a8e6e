"""The reference price of an exit a restart resumes: the latest closed candle, from the real venue
server through the real client (a forming candle's price would be one nobody has traded at yet)."""

from __future__ import annotations

import asyncio

from tests.integration.simserver.live import LiveVenue
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.domain import Symbol
from thunes.domain.market import Timeframe
from thunes.session.recovery import last_close

BTC = Symbol("BTCUSDT")


def test_last_close_when_a_candle_is_forming_then_the_close_of_the_one_before_it() -> None:
    venue = LiveVenue(speed=1.0)  # 120 candles closed at once, then real time: the next closes in a minute

    async def scenario() -> tuple[object, object, int, int]:
        config = BinanceConfig(mode="paper", rest_url=venue.base_url, ws_url=venue.ws_url)
        async with BinanceClient(config, venue.key.key, venue.key.secret) as client:
            price = await last_close(client, BTC, Timeframe.M1)
            closed = await client.klines(BTC, Timeframe.M1, 0)  # every closed candle (the forming one dropped)
            forming_ms = await client.forming_open_ms(BTC, Timeframe.M1)
        return price, closed[-1].close, len(closed), closed[-1].open_time_ns // 1_000_000 + 60_000 - forming_ms

    try:
        price, newest_close, closed, gap_ms = asyncio.run(scenario())
    finally:
        venue.stop()

    assert closed == 120
    assert gap_ms == 0  # the newest closed candle ends where the forming one opens
    assert price == newest_close
