"""The trader's order updates survive a venue crash: ``thunes venue serve --state-file`` is SIGKILLed and
restarted on the same port while ``BinanceStreams.watch_orders`` is subscribed; the user data stream
resumes and every fill is reported exactly once (the one made while the stream was down through the
REST backfill after the reconnect).

Why it recovers without a listenKey: ccxt (4.5) subscribes a spot user data stream with the WebSocket
API's ``userDataStream.subscribe.signature``, signed anew on every connection, so nothing of the old
process (a listenKey it forgot) is needed; Binance retired the REST listenKey endpoints on 2026-02-20
(CHANGELOG 2026-01-21). A client on the legacy listenKey flow would get -1125 on its keepalive after
a restart of a venue that does not journal its keys (see test_journal.py for the venue's side).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from decimal import Decimal
from pathlib import Path

from tests.chaos.test_venue_crash import Venue
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig, BinanceStreams, StreamSettings
from thunes.adapters.venues.binance.feed import StreamStats
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.domain.enums import OrderStatus, OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import OrderRequest
from thunes.domain.venue import OrderReport

BTC = Symbol("BTCUSDT")
# reconnects wait 4 s: the order placed as soon as the restarted venue answers fills before the stream is back
SLOW_RECONNECT = StreamSettings(backoff_base_s=4.0, backoff_cap_s=4.0, jitter=0.0)


def _buy(client_id: str) -> OrderRequest:
    return OrderRequest(ClientOrderId(client_id), BTC, Side.BUY, OrderType.MARKET, quantity=Decimal("0.001"))


async def _session(venue: Venue) -> tuple[list[OrderReport], StreamStats]:
    config = BinanceConfig("paper", venue.url, venue.url.replace("http", "ws", 1))
    seen: list[OrderReport] = []

    def filled(client_id: str) -> bool:
        return any(r.client_order_id == client_id and r.status is OrderStatus.FILLED for r in seen)

    async def until(condition: object) -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    async with (
        BinanceClient(config, PAPER_API_KEY, PAPER_API_SECRET) as client,
        asyncio.timeout(120),
        BinanceStreams(client, SLOW_RECONNECT).watch_orders([BTC]) as sub,
    ):

        async def collect() -> None:
            async for report in sub:
                seen.append(report)

        task = asyncio.ensure_future(collect())
        await until(lambda: sub.stats.connected)
        await client.submit(_buy("before-crash"))
        await until(lambda: filled("before-crash"))
        await asyncio.to_thread(venue.kill_and_restart)
        async with BinanceClient(config, PAPER_API_KEY, PAPER_API_SECRET) as fresh:  # no pooled dead socket
            await fresh.submit(_buy("while-down"))
        await until(lambda: filled("while-down"))
        await until(lambda: sub.stats.connected)
        await client.submit(_buy("after-restart"))
        await until(lambda: filled("after-restart"))
        await asyncio.sleep(0.3)  # room for a duplicate to show
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # the generator unwinds before the subscription closes
        return seen, sub.stats


def test_watch_orders_when_the_venue_is_killed_and_restarted_then_the_stream_resumes_and_no_fill_is_missed(
    tmp_path: Path, shared_data: Path
) -> None:
    venue = Venue(tmp_path, shared_data)
    try:
        seen, stats = asyncio.run(_session(venue))
    finally:
        venue.stop()

    fills = Counter(r.client_order_id for r in seen if r.status is OrderStatus.FILLED)
    assert fills == {"before-crash": 1, "while-down": 1, "after-restart": 1}
    assert stats.reconnects >= 1
    assert stats.backfilled >= 1  # the fill made while the stream was down came from the REST backfill
