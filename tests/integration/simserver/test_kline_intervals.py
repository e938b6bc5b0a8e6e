"""Klines at every Binance interval derivable from the replayed one, from the real recorded data.

Three months of real BTCUSDT 1h candles are replayed; the venue answers 2h..1M by aggregation. The
answers must equal (1) Binance's own recorded 4h and 1d candles for the same hours, and (2) a direct
computation over the replayed 1h candles with calendar arithmetic (weeks from Monday, calendar
months, 3d from the epoch), exactly. Finer intervals than the replay's stay -1120.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.simserver.conftest import RawClient, RunningServer, ccxt_binance, start_server
from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.datastore.loaders import load_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.simserver.driver import ReplayDriver
from thunes.adapters.venues.simserver.hub import StreamHub
from thunes.adapters.venues.simserver.server import build_state
from thunes.domain.market import Bar, Timeframe
from thunes.features.ohlcv import OHLCV, iter_bars
from thunes.simvenue.replay import bar_events

D = Decimal
MARKETLAB = Path("binance/ohlcv/marketlab_2024-09_2026-02")
FIRST, LAST = datetime(2024, 11, 27, tzinfo=UTC), datetime(2025, 3, 4, 13, tzinfo=UTC)  # mid-week, mid-day
AGGREGATED = ("2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
HOUR_MS = 3_600_000


def _window(ohlcv: OHLCV) -> OHLCV:
    times = ohlcv.open_time_ns.tolist()
    first = next(i for i, t in enumerate(times) if t >= FIRST.timestamp() * 1e9)
    last = next(i for i, t in enumerate(times) if t >= LAST.timestamp() * 1e9)
    return ohlcv.slice(first, last)


@pytest.fixture(scope="module")
def replayed(shared_data: Path) -> Iterator[tuple[RunningServer, list[Bar]]]:
    """A server that has replayed the window's 1h candles (all closed), and those candles."""
    info = builtin_exchange_info()
    instrument = info.get("BTCUSDT")
    hours = _window(load_ohlcv(shared_data / MARKETLAB / "BTC_USDT-1h.feather", symbol="BTCUSDT"))
    state = build_state(info, Timeframe.H1)
    driver = ReplayDriver(state, StreamHub(), ())
    for event in heapq.merge(bar_events(hours, instrument.tick_size, instrument.step_size), key=lambda e: e.ts_ns):
        driver.apply(event)
    server = start_server(state)
    yield server, list(iter_bars(hours, instrument.tick_size))
    server.stop()


def _bucket(interval: str, moment: datetime) -> datetime:
    """The candle's open, by calendar arithmetic (independent of the venue's modular arithmetic)."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "1M":
        return day.replace(day=1)
    if interval == "1w":
        return day - timedelta(days=day.weekday())  # Monday
    if interval == "3d":
        return day - timedelta(days=(day - datetime(1970, 1, 1, tzinfo=UTC)).days % 3)
    hours = {"1h": 1, "2h": 2, "4h": 4, "6h": 6, "8h": 8, "12h": 12, "1d": 24}[interval]
    return day + timedelta(hours=moment.hour - moment.hour % hours)


def _direct(bars: list[Bar], interval: str) -> list[tuple[int, D, D, D, D, D]]:
    """(open ms, O, H, L, C, V) per bucket, straight from the 1h bars."""
    groups: dict[datetime, list[Bar]] = {}
    for bar in bars:
        groups.setdefault(_bucket(interval, datetime.fromtimestamp(bar.open_time_ns / 1e9, UTC)), []).append(bar)
    return [(int(start.timestamp() * 1000), g[0].open, max(b.high for b in g), min(b.low for b in g), g[-1].close,
             sum((b.volume for b in g), D(0))) for start, g in sorted(groups.items())]  # fmt: skip


def _fetch_all(raw: RawClient, interval: str, start_ms: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    while True:
        page = raw.public("/api/v3/klines", symbol="BTCUSDT", interval=interval, startTime=start_ms, limit=1000)
        assert page.status == 200, page.body
        rows += page.body
        if len(page.body) < 1000:
            return rows
        start_ms = page.body[-1][0] + 1


def _ohlcv(row: list[Any]) -> tuple[int, D, D, D, D, D]:
    return (row[0], *(D(v) for v in row[1:6]))  # type: ignore[return-value]


@pytest.mark.parametrize("interval", AGGREGATED)
def test_klines_when_interval_is_a_multiple_then_equal_direct_aggregation_of_the_replayed_candles(
    replayed: tuple[RunningServer, list[Bar]], interval: str
) -> None:
    server, bars = replayed
    expected = _direct(bars, interval)

    rows = _fetch_all(RawClient(server), interval, expected[0][0])

    assert [_ohlcv(r) for r in rows] == expected
    closes = [r[6] for r in rows]
    assert closes[:-1] == [r[0] - 1 for r in rows[1:]]  # each candle closes 1 ms before the next opens
    assert all(r[0] < r[6] for r in rows)
    if interval == "1M":
        assert [datetime.fromtimestamp(r[0] / 1000, UTC).day for r in rows] == [1] * len(rows)
        assert datetime.fromtimestamp((rows[1][6] + 1) / 1000, UTC) == datetime(2025, 1, 1, tzinfo=UTC)
    if interval == "1w":
        assert {datetime.fromtimestamp(r[0] / 1000, UTC).strftime("%a %H:%M") for r in rows} == {"Mon 00:00"}


@pytest.mark.parametrize("interval", ["4h", "1d"])
def test_klines_when_4h_or_1d_from_1h_then_equal_binances_own_recorded_candles(
    replayed: tuple[RunningServer, list[Bar]], shared_data: Path, interval: str
) -> None:
    server, bars = replayed
    recorded = _window(load_ohlcv(shared_data / MARKETLAB / f"BTC_USDT-{interval}.feather", symbol="BTCUSDT"))
    truth = [(b.open_time_ns // 1_000_000, b.open, b.high, b.low, b.close, b.volume)
             for b in iter_bars(recorded, D("0.01"))]  # fmt: skip
    first_full = next(t for t in truth if t[0] >= bars[0].open_time_ns // 1_000_000)  # skip a partial first one

    rows = [_ohlcv(r) for r in _fetch_all(RawClient(server), interval, first_full[0])]
    complete = [r for r in rows if r[0] + (4 if interval == "4h" else 24) * HOUR_MS <= LAST.timestamp() * 1000]

    assert len(complete) >= (90 if interval == "1d" else 540)
    assert complete == [t for t in truth if first_full[0] <= t[0] <= complete[-1][0]]


def test_klines_when_limit_or_end_time_then_the_last_buckets_whole(replayed: tuple[RunningServer, list[Bar]]) -> None:
    server, bars = replayed
    raw = RawClient(server)
    weeks, months = _direct(bars, "1w"), _direct(bars, "1M")
    end = weeks[5][0] + 3 * 86_400_000  # mid-week: that week is included, whole

    last_two = raw.public("/api/v3/klines", symbol="BTCUSDT", interval="1w", limit=2).body
    up_to = raw.public("/api/v3/klines", symbol="BTCUSDT", interval="1w", endTime=end, limit=3).body
    last_month = raw.public("/api/v3/klines", symbol="BTCUSDT", interval="1M", limit=1).body
    ui = raw.public("/api/v3/uiKlines", symbol="BTCUSDT", interval="3d", limit=1000).body

    assert [_ohlcv(r) for r in last_two] == weeks[-2:]
    assert [_ohlcv(r) for r in up_to] == weeks[3:6]
    assert [_ohlcv(r) for r in last_month] == months[-1:]
    assert [_ohlcv(r) for r in ui] == _direct(bars, "3d")


@pytest.mark.parametrize("interval", ["1s", "1m", "3m", "5m", "15m", "30m", "2d", "1W", "1y", ""])
def test_klines_when_finer_than_replayed_or_unknown_then_1120(replayed: tuple[RunningServer, list[Bar]],
                                                             interval: str) -> None:  # fmt: skip
    answer = RawClient(replayed[0]).public("/api/v3/klines", symbol="BTCUSDT", interval=interval)

    assert answer.status == 400
    assert answer.body["code"] in (-1120, -1102)  # -1102: the empty value, as a missing one
    if interval:
        assert answer.body == {"code": -1120, "msg": "Invalid interval."}


def test_fetch_ohlcv_when_weekly_and_monthly_then_ccxt_reads_them(replayed: tuple[RunningServer, list[Bar]]) -> None:
    server, bars = replayed
    key = server.new_account()
    exchange = ccxt_binance(server, key)
    exchange.load_markets()

    weekly = exchange.fetch_ohlcv("BTC/USDT", "1w", limit=3)
    monthly = exchange.fetch_ohlcv("BTC/USDT", "1M", limit=3)

    assert [c[0] for c in weekly] == [w[0] for w in _direct(bars, "1w")[-3:]]
    assert [c[0] for c in monthly] == [m[0] for m in _direct(bars, "1M")[-3:]]


def test_kline_stream_when_aggregated_interval_then_pushed_with_its_bucket() -> None:
    venue = LiveVenue()  # 1m candles replayed
    try:

        async def first_of(streams: list[str]) -> dict[str, dict[str, Any]]:
            url = f"{venue.ws_url}/stream?streams={'/'.join(streams)}"
            seen: dict[str, dict[str, Any]] = {}
            async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
                async with asyncio.timeout(TIMEOUT):
                    while len(seen) < len(streams):
                        message = json.loads((await ws.receive()).data)
                        seen.setdefault(message["stream"], message["data"]["k"])
            return seen

        pushed = asyncio.run(first_of(["btcusdt@kline_1w", "btcusdt@kline_1M", "btcusdt@kline_3d",
                                       "btcusdt@kline_15m"]))  # fmt: skip
    finally:
        venue.stop()

    week, month = pushed["btcusdt@kline_1w"], pushed["btcusdt@kline_1M"]
    assert {k["i"] for k in pushed.values()} == {"1w", "1M", "3d", "15m"}
    assert datetime.fromtimestamp(week["t"] / 1000, UTC).strftime("%a %H:%M") == "Mon 00:00"
    assert week["T"] - week["t"] == 7 * 86_400_000 - 1
    assert datetime.fromtimestamp(month["t"] / 1000, UTC).strftime("%d %H:%M") == "01 00:00"
    assert pushed["btcusdt@kline_3d"]["t"] % (3 * 86_400_000) == 0
