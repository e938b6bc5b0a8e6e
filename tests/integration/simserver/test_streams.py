"""WebSocket streams of the running venue: raw and combined market streams, depth sync, user data,
and an unmodified ``ccxt.pro.binance`` watching tickers, candles, trades, the book and orders."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt.pro
import pytest

from tests.integration.simserver.conftest import ccxt_binance
from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.simvenue.book import DiffResult, L2Book

D = Decimal


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


async def _messages(url: str, count: int, send: dict[str, Any] | None = None) -> list[Any]:
    out: list[Any] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        if send is not None:
            await ws.send_json(send)
        async with asyncio.timeout(TIMEOUT):
            while len(out) < count:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    out.append(json.loads(msg.data))
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE):
                    break
    return out


def _capture_keys(shared_data: Path, stream: str) -> set[str]:
    """Keys of the first ``stream`` message in the recorded 2024-08-08 capture."""
    with gzip.open(shared_data / "binance/ws_capture_hftbacktest/spot_btcusdt_20240808.gz", "rt") as lines:
        for line in lines:
            message = json.loads(line.split(" ", 1)[1])
            if message.get("stream") == stream:
                return set(message["data"])
    raise AssertionError(f"no {stream} message in the capture")


def _fixture_keys(shared_data: Path, name: str) -> set[str]:
    data = json.loads((shared_data / "binance/nautilus_py_resources" / name).read_text())
    return set(data.get("data", data))


def test_raw_trade_stream_when_replaying_then_messages_have_binance_trade_shape(
    live: LiveVenue, shared_data: Path
) -> None:
    messages = asyncio.run(_messages(f"{live.ws_url}/ws/btcusdt@trade", 5))

    assert len(messages) == 5
    assert {m["e"] for m in messages} == {"trade"}
    expected = _capture_keys(shared_data, "btcusdt@trade")  # a real 2024 message (b/a ids left the API in 2023)
    assert all(set(m) == expected for m in messages), (set(messages[0]), expected)
    ids = [m["t"] for m in messages]
    assert ids == sorted(ids)


def test_combined_stream_when_two_streams_then_enveloped_by_stream_name(live: LiveVenue, shared_data: Path) -> None:
    url = f"{live.ws_url}/stream?streams=btcusdt@bookTicker/btcusdt@kline_1m"

    messages = asyncio.run(_messages(url, 12))

    assert {m["stream"] for m in messages} == {"btcusdt@bookTicker", "btcusdt@kline_1m"}
    ticker = next(m["data"] for m in messages if m["stream"] == "btcusdt@bookTicker")
    assert set(ticker) == _capture_keys(shared_data, "btcusdt@bookTicker")
    kline = next(m["data"] for m in messages if m["stream"] == "btcusdt@kline_1m")
    assert kline["e"] == "kline"
    assert kline["k"]["i"] == "1m"


def test_subscribe_when_live_then_ack_list_and_messages(live: LiveVenue) -> None:
    async def scenario() -> tuple[list[Any], list[Any]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws") as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1})
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
            await ws.send_json({"method": "SUBSCRIBE", "params": ["not a stream"], "id": 3})
            replies, data = [], []
            async with asyncio.timeout(TIMEOUT):
                while len(replies) < 3 or len(data) < 3:
                    msg = json.loads((await ws.receive()).data)
                    (replies if "id" in msg else data).append(msg)
            return replies, data

    replies, data = asyncio.run(scenario())

    by_id = {r["id"]: r for r in replies}
    assert by_id[1] == {"result": None, "id": 1}
    assert by_id[2] == {"result": ["btcusdt@aggTrade"], "id": 2}
    assert by_id[3]["error"]["code"] == 2
    assert {m["e"] for m in data} == {"aggTrade"}


def test_depth_diffs_when_applied_to_rest_snapshot_then_book_matches_book_ticker(live: LiveVenue) -> None:
    async def scenario() -> tuple[L2Book, int, int]:
        book = L2Book(D("0.01"), D("0.00001"))
        applied = matched = 0
        url = f"{live.ws_url}/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            buffered: list[dict[str, Any]] = []
            async with asyncio.timeout(TIMEOUT):
                buffered.append(json.loads((await ws.receive()).data))  # stream first, then the snapshot
                async with session.get(f"{live.base_url}/api/v3/depth?symbol=BTCUSDT&limit=100") as resp:
                    snap = await resp.json()
                book.apply_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
                while applied < 20:
                    msg = buffered.pop(0) if buffered else json.loads((await ws.receive()).data)
                    data = msg["data"]
                    if msg["stream"].endswith("@bookTicker"):
                        if book.last_update_id == data["u"]:
                            assert book.price(book.best_bid()[0]) == D(data["b"])  # type: ignore[index]
                            assert book.price(book.best_ask()[0]) == D(data["a"])  # type: ignore[index]
                            matched += 1
                        continue
                    result = book.apply_diff(data["U"], data["u"], data["b"], data["a"])
                    assert result in (DiffResult.APPLIED, DiffResult.STALE), result
                    applied += result is DiffResult.APPLIED
        return book, applied, matched

    book, applied, matched = asyncio.run(scenario())

    assert book.synced
    assert applied == 20
    assert matched > 0


def test_user_data_stream_when_order_placed_then_execution_reports_arrive(live: LiveVenue, shared_data: Path) -> None:
    exchange = ccxt_binance(live, live.key)  # type: ignore[arg-type]
    listen_key = exchange.public_post_userdatastream()["listenKey"]

    async def scenario() -> list[Any]:
        out: list[Any] = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws/{listen_key}") as ws:
            await asyncio.to_thread(exchange.create_order, "BTC/USDT", "market", "buy", 0.001)
            async with asyncio.timeout(TIMEOUT):
                while not out or out[-1].get("e") != "outboundAccountPosition" or len(out) < 3:
                    out.append(json.loads((await ws.receive()).data))
        return out

    events = asyncio.run(scenario())

    reports = [e for e in events if e["e"] == "executionReport"]
    assert [r["x"] for r in reports] == ["NEW", "TRADE"]
    assert reports[1]["X"] == "FILLED"
    fixture = json.loads(
        (shared_data / "binance/nautilus_rust_spot/user_data_json/execution_report_trade.json").read_text()
    )
    documented = set(
        [
            "e",
            "E",
            "s",
            "c",
            "S",
            "o",
            "f",
            "q",
            "p",
            "P",
            "F",
            "g",
            "C",
            "x",
            "X",
            "r",
            "i",
            "l",
            "z",
            "L",
            "n",
            "N",
            "T",
            "t",
            "v",
            "I",
            "w",
            "m",
            "M",
            "O",
            "Z",
            "Y",
            "Q",
            "W",
            "V",
        ]
    )  # user-data-stream.md
    assert set(fixture) <= set(reports[1]) <= documented, set(reports[1]) ^ set(fixture)
    assert any(e["e"] == "outboundAccountPosition" for e in events)


def _listening(live: LiveVenue, account: str) -> bool:
    """Whether a WebSocket receives ``account``'s user data (read on the venue's own loop)."""

    async def check() -> bool:
        return any(account in conn.accounts for conn in live.running.driver.hub.connections)

    return asyncio.run_coroutine_threadsafe(check(), live.loop).result(TIMEOUT)


def test_ccxt_pro_when_watching_then_tickers_candles_trades_book_and_orders(live: LiveVenue) -> None:
    async def scenario() -> dict[str, Any]:
        exchange = ccxt.pro.binance(
            {
                "apiKey": live.key.key,
                "secret": live.key.secret,
                "enableRateLimit": False,
                "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchMargins": False,
                            "fetchCurrencies": False},
            }
        )  # fmt: skip
        for name, url in list(exchange.urls["api"].items()):
            if isinstance(url, str):
                exchange.urls["api"][name] = url.replace("https://api.binance.com", live.base_url)
        for name, url in list(exchange.urls["api"].items()):
            if isinstance(url, str) and url.startswith("https://"):
                exchange.urls["api"][name] = live.base_url + "/" + url.split("/", 3)[3]
        exchange.urls["api"]["ws"] = {"spot": f"{live.ws_url}/ws", "ws-api": {"spot": f"{live.ws_url}/ws-api/v3"}}
        try:
            async with asyncio.timeout(3 * TIMEOUT):
                seen: dict[str, Any] = {}
                seen["ticker"] = await exchange.watch_ticker("BTC/USDT")
                seen["ohlcv"] = await exchange.watch_ohlcv("BTC/USDT", "1m")
                seen["trades"] = await exchange.watch_trades("BTC/USDT")
                seen["book"] = await exchange.watch_order_book("BTC/USDT")
                watcher = asyncio.ensure_future(exchange.watch_orders("BTC/USDT"))
                while not await asyncio.to_thread(_listening, live, live.key.account):  # its user-data stream
                    await asyncio.sleep(0.01)
                passive = round(seen["ticker"]["last"] * 0.5, 2)  # rests: far below, inside the 0.2x-5x band
                placed = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, passive)
                seen["orders"] = await watcher
                seen["placed"] = placed
                return seen
        finally:
            await exchange.close()

    seen = asyncio.run(scenario())

    assert seen["ticker"]["symbol"] == "BTC/USDT"
    assert seen["ticker"]["last"] > 0
    assert len(seen["ohlcv"][-1]) == 6
    assert seen["trades"][-1]["price"] > 0
    assert seen["book"]["bids"][0][0] < seen["book"]["asks"][0][0]
    assert any(o["id"] == seen["placed"]["id"] and o["status"] == "open" for o in seen["orders"])


def test_connection_when_older_than_the_limit_then_server_closes_it() -> None:
    venue = LiveVenue(max_connection_seconds=1.0)  # Binance: 24 h; compressed here

    async def scenario() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{venue.ws_url}/ws/btcusdt@trade") as ws:
            opened, received = loop.time(), 0
            async with asyncio.timeout(TIMEOUT):
                while (await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                    received += 1
            return loop.time() - opened, received

    try:
        lived, received = asyncio.run(scenario())
    finally:
        venue.stop()

    assert 0.9 <= lived < 5.0
    assert received > 0
