"""The venue replays the four bundled symbols' real 1h candles on one clock, as ``thunes venue serve
--symbols`` builds them: one account trades them all at each symbol's own prices, one combined stream
connection carries every symbol in time order, and each symbol's klines are Binance's recorded candles."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.simserver.conftest import ccxt_binance
from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.datastore.loaders import load_ohlcv
from thunes.adapters.exchange_info_file import load_exchange_info
from thunes.adapters.venues.simserver.server import build_state
from thunes.adapters.venues.simserver.state import ServerState
from thunes.app.config import DataSettings
from thunes.app.sources import EXCHANGE_INFO_DUMP
from thunes.app.venue_market import BarRequest, bar_market
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import iter_bars

D = Decimal
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
MARKETLAB = Path("binance/ohlcv/marketlab_2024-09_2026-02")
FIRST, LAST = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
WARMUP = 100
HOUR_MS = 3_600_000


def real_market(shared: Path, symbols: tuple[str, ...] = SYMBOLS) -> tuple[ServerState, Any]:
    """The state and merged events ``thunes venue serve --symbols`` builds over January 2025."""
    info = load_exchange_info(shared / EXCHANGE_INFO_DUMP)
    instruments = [info.get(s) for s in symbols]
    data = DataSettings(store_dir=shared / "no-store-here", shared_data_dir=shared)
    request = BarRequest(Timeframe.H1, data, None, None, int(FIRST.timestamp()) * 10**9,
                         int(LAST.timestamp()) * 10**9, WARMUP, listed=True)  # fmt: skip
    events, _ = bar_market(instruments, request)
    served = ExchangeInfo({i.symbol: i for i in instruments}, info.rate_limits, None)
    return build_state(served, Timeframe.H1), events


def _venue(shared: Path, **config: Any) -> LiveVenue:
    market: tuple[ServerState, Any] = real_market(shared)
    return LiveVenue(market=market, funds={"trader": {"USDT": D(100_000)}}, speed=4 * 3600.0,
                     warmup_bars=WARMUP, **config)  # fmt: skip


@pytest.fixture(scope="module")
def live(shared_data: Path) -> Iterator[LiveVenue]:
    venue = _venue(shared_data)
    yield venue
    venue.stop()


def _get(live: LiveVenue, path: str) -> Any:
    with urllib.request.urlopen(live.base_url + path, timeout=TIMEOUT) as answer:
        return json.loads(answer.read())


def _recorded(shared: Path, symbol: str, interval: str, tick: D) -> list[tuple[int, D, D, D, D, D]]:
    """Binance's recorded candles, prices on the served tick (BNBUSDT's was 0.1 in the 2023 exchangeInfo)."""
    base = symbol.removesuffix("USDT")
    ohlcv = load_ohlcv(shared / MARKETLAB / f"{base}_USDT-{interval}.feather", symbol=symbol)
    return [(b.open_time_ns // 1_000_000, b.open, b.high, b.low, b.close, b.volume)
            for b in iter_bars(ohlcv, tick)]  # fmt: skip


def test_exchange_info_when_four_symbols_then_each_with_the_real_filters(live: LiveVenue, shared_data: Path) -> None:
    real = json.loads((shared_data / EXCHANGE_INFO_DUMP).read_text())
    rows = {r["symbol"]: r for r in real["symbols"]}

    served = {r["symbol"]: r for r in _get(live, "/api/v3/exchangeInfo")["symbols"]}

    assert sorted(served) == sorted(SYMBOLS)
    for symbol in SYMBOLS:
        filters = {f["filterType"]: f for f in served[symbol]["filters"]}
        recorded = {f["filterType"]: f for f in rows[symbol]["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == recorded["PRICE_FILTER"]["tickSize"]
        assert filters["LOT_SIZE"]["stepSize"] == recorded["LOT_SIZE"]["stepSize"]


def test_orders_when_on_every_symbol_then_each_fills_at_its_own_price_in_one_account(live: LiveVenue) -> None:
    exchange = ccxt_binance(live, live.key)  # type: ignore[arg-type]
    exchange.load_markets()
    fills: dict[str, tuple[float, float]] = {}

    for symbol in SYMBOLS:
        market = f"{symbol.removesuffix('USDT')}/USDT"
        last = exchange.fetch_ticker(market)["last"]
        amount = float(exchange.amount_to_precision(market, 200 / last))
        order = exchange.create_order(market, "market", "buy", amount)
        fills[symbol] = (last, float(order["average"]))
    balance = exchange.fetch_balance()

    for symbol, (last, average) in fills.items():
        assert abs(average - last) / last < 0.02, (symbol, last, average)  # its own market, not another's
    assert fills["BTCUSDT"][1] > 10 * fills["ETHUSDT"][1] > 10 * fills["SOLUSDT"][1]
    assert all(balance[s.removesuffix("USDT")]["total"] > 0 for s in SYMBOLS)  # one account holds them all
    assert balance["USDT"]["total"] < 100_000 - 4 * 190


def test_combined_stream_when_every_symbol_then_events_arrive_in_time_order_across_symbols(live: LiveVenue) -> None:
    names = [s.lower() for s in SYMBOLS]
    streams = [f"{n}@trade" for n in names] + ["btcusdt@kline_1h", "solusdt@kline_4h", "ethusdt@bookTicker",
                                                "bnbusdt@depth@100ms", "solusdt@aggTrade", "ethusdt@depth5"]  # fmt: skip

    async def collect() -> list[tuple[str, dict[str, Any]]]:
        seen: list[tuple[str, dict[str, Any]]] = []
        url = f"{live.ws_url}/stream?streams={'/'.join(streams)}"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            async with asyncio.timeout(TIMEOUT * 3):
                async for message in ws:
                    envelope = json.loads(message.data)
                    seen.append((envelope["stream"], envelope["data"]))
                    if {s for s, _ in seen} == set(streams) and len(seen) >= 200:
                        return seen
        raise AssertionError("the stream ended early")

    seen = asyncio.run(collect())

    trades = [(data["s"], data["T"]) for stream, data in seen if stream.endswith("@trade")]
    assert {s for s, _ in trades} == set(SYMBOLS)
    assert [t for _, t in trades] == sorted(t for _, t in trades)  # one clock across symbols
    timed = [data["E"] for _, data in seen if "E" in data]
    assert timed == sorted(timed)
    for stream, data in seen:  # each stream carries its own symbol only
        symbol = data.get("s") or stream.split("@")[0].upper()
        assert symbol == stream.split("@")[0].upper()


@pytest.mark.parametrize("interval", ["1h", "4h"])
def test_klines_when_each_symbol_then_equal_binances_recorded_candles(
    live: LiveVenue, shared_data: Path, interval: str
) -> None:
    now_ms = live.state.clock.ns // 1_000_000
    span = HOUR_MS * (1 if interval == "1h" else 4)
    start_ms = int(FIRST.timestamp() * 1000)

    for symbol in SYMBOLS:
        rows = _get(live, f"/api/v3/klines?symbol={symbol}&interval={interval}&startTime={start_ms}&limit=1000")
        closed = [(r[0], *(D(v) for v in r[1:6])) for r in rows if r[0] + span <= now_ms]
        tick = live.state.exchange_info.get(symbol).tick_size
        truth = [t for t in _recorded(shared_data, symbol, interval, tick) if start_ms <= t[0] <= closed[-1][0]]
        assert len(closed) >= WARMUP // (1 if interval == "1h" else 4)
        assert closed == truth, symbol


def test_restart_when_crashed_then_every_symbol_resumes_where_the_journal_left_it(
    shared_data: Path, tmp_path: Path
) -> None:
    first = _venue(shared_data, state_file=tmp_path / "venue.db")
    try:
        exchange = ccxt_binance(first, first.key)  # type: ignore[arg-type]
        exchange.load_markets()
        exchange.create_order("BTC/USDT", "market", "buy", 0.001)
        exchange.create_order("SOL/USDT", "market", "buy", 1)
        told = {m: exchange.fetch_my_trades(m) for m in ("BTC/USDT", "SOL/USDT")}
        balance = {a: exchange.fetch_balance()[a]["total"] for a in ("BTC", "SOL", "USDT")}
    finally:
        first.crash()

    second = _venue(shared_data, state_file=tmp_path / "venue.db")
    try:
        exchange = ccxt_binance(second, second.key)  # type: ignore[arg-type]
        exchange.load_markets()
        resumed_ms = second.state.clock.ns // 1_000_000
        recovered = {m: exchange.fetch_my_trades(m) for m in ("BTC/USDT", "SOL/USDT")}
        recovered_balance = {a: exchange.fetch_balance()[a]["total"] for a in ("BTC", "SOL", "USDT")}
        last_candles = {s: _get(second, f"/api/v3/klines?symbol={s}&interval=1h&limit=1")[0] for s in SYMBOLS}
        asked_ms = second.state.clock.ns // 1_000_000  # the replay ran on meanwhile (an hour a second)
    finally:
        second.stop()

    assert [t["id"] for m in told for t in told[m]] == [t["id"] for m in recovered for t in recovered[m]]
    assert recovered_balance == balance
    newest = max(t["timestamp"] for m in told for t in told[m])
    assert resumed_ms >= newest
    for symbol, candle in last_candles.items():  # every symbol's market was replayed up to the resumed clock
        assert resumed_ms < candle[0] + HOUR_MS + 1 and candle[0] <= asked_ms, symbol
        assert candle[0] >= newest - HOUR_MS, symbol
