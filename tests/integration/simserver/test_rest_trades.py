"""Public trades over REST (issue 15, item 16): ``/trades``, ``/historicalTrades``, ``/aggTrades`` serve
the trades the replay published, and an unmodified ccxt's ``fetch_trades`` works against them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest

from tests.integration.simserver.conftest import RawClient, RunningServer
from tests.integration.simserver.live import TIMEOUT, LiveVenue
from tests.integration.simserver.test_rest_errors import assert_binance_error
from thunes.adapters.venues.simserver.tape import PublicTrade, TradeTape

D = Decimal
BTC = "BTC/USDT"


def _tape(server: RunningServer) -> list[PublicTrade]:
    return server.state.tape.recent("BTCUSDT", 10**9)


def test_trades_when_replayed_then_newest_trades_oldest_first_with_binance_fields(
    raw: RawClient, sim_server: RunningServer
) -> None:
    tape = _tape(sim_server)
    assert len(tape) > 500

    rows = raw.public("/api/v3/trades", symbol="BTCUSDT", limit=3)
    default = raw.public("/api/v3/trades", symbol="BTCUSDT")
    capped = raw.public("/api/v3/trades", symbol="BTCUSDT", limit=5000)  # at most 1000

    assert rows.status == 200
    assert [r["id"] for r in rows.body] == [t.trade_id for t in tape[-3:]]
    last = tape[-1]
    assert rows.body[-1] == {
        "id": last.trade_id, "price": f"{last.price:.8f}", "qty": f"{last.qty:.8f}",
        "quoteQty": f"{last.price * last.qty:.8f}", "time": last.time_ms, "isBuyerMaker": last.buyer_is_maker,
        "isBestMatch": True,
    }  # fmt: skip
    assert (len(default.body), len(capped.body)) == (500, min(len(tape), 1000))
    assert rows.headers["X-MBX-USED-WEIGHT-1M"]


def test_historical_trades_when_from_id_then_trades_from_that_id_without_a_key(
    raw: RawClient, sim_server: RunningServer
) -> None:
    tape = _tape(sim_server)
    first = tape[100].trade_id

    rows = raw.public("/api/v3/historicalTrades", symbol="BTCUSDT", fromId=first, limit=4)
    newest = raw.public("/api/v3/historicalTrades", symbol="BTCUSDT", limit=2)

    assert [r["id"] for r in rows.body] == [t.trade_id for t in tape[100:104]]
    assert [r["id"] for r in newest.body] == [t.trade_id for t in tape[-2:]]


def test_agg_trades_when_time_range_then_oldest_in_range_and_from_id_exclusive_of_times(
    raw: RawClient, sim_server: RunningServer
) -> None:
    tape = _tape(sim_server)
    start, end = tape[200].time_ms, tape[260].time_ms
    in_range = [t for t in tape if start <= t.time_ms <= end]

    ranged = raw.public("/api/v3/aggTrades", symbol="BTCUSDT", startTime=start, endTime=end, limit=1000)
    micro = raw.public("/api/v3/aggTrades", symbol="BTCUSDT", startTime=start * 1000, limit=3)
    until = raw.public("/api/v3/aggTrades", symbol="BTCUSDT", endTime=end, limit=2)
    from_id = raw.public("/api/v3/aggTrades", symbol="BTCUSDT", fromId=tape[5].trade_id, limit=2)
    both = raw.public("/api/v3/aggTrades", symbol="BTCUSDT", fromId=1, startTime=start)

    assert [r["a"] for r in ranged.body] == [t.trade_id for t in in_range]
    assert all(r["f"] == r["l"] == r["a"] and r["M"] is True for r in ranged.body)
    assert [r["a"] for r in micro.body] == [t.trade_id for t in in_range[:3]]
    assert [r["a"] for r in until.body] == [t.trade_id for t in in_range[-2:]]
    assert [r["a"] for r in from_id.body] == [t.trade_id for t in tape[5:7]]
    assert_binance_error(both, 400, -1128)


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/v3/trades", {}, -1102),
        ("/api/v3/trades", {"symbol": "NOPEUSDT"}, -1121),
        ("/api/v3/trades", {"symbol": "BTCUSDT", "limit": "0"}, -1130),
        ("/api/v3/trades", {"symbol": "BTCUSDT", "fromId": "1"}, -1104),
        ("/api/v3/historicalTrades", {"symbol": "BTCUSDT", "fromId": "-1"}, -1100),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "startTime": "yesterday"}, -1100),
    ],
)
def test_trade_lists_when_params_malformed_then_binance_errors(
    raw: RawClient, path: str, params: dict[str, str], code: int
) -> None:
    assert_binance_error(raw.public(path, **params), 400, code)


@pytest.mark.parametrize("method", [None, "publicGetTrades", "publicGetHistoricalTrades"])
def test_ccxt_fetch_trades_when_served_then_unified_trades_match_the_tape(
    exchange: ccxt.binance, sim_server: RunningServer, method: str | None
) -> None:
    tape = _tape(sim_server)
    params = {} if method is None else {"fetchTradesMethod": method}

    trades = exchange.fetch_trades(BTC, limit=10, params=params)

    assert [int(t["id"]) for t in trades] == [t.trade_id for t in tape[-10:]]
    assert [D(str(t["price"])) for t in trades] == [t.price for t in tape[-10:]]
    assert all(t["symbol"] == BTC and t["side"] in ("buy", "sell") for t in trades)


def test_ccxt_fetch_trades_when_since_then_trades_from_that_time(
    exchange: ccxt.binance, sim_server: RunningServer
) -> None:
    tape = _tape(sim_server)
    since = tape[300].time_ms

    trades = exchange.fetch_trades(BTC, since=since, limit=5)

    assert [int(t["id"]) for t in trades] == [t.trade_id for t in tape if t.time_ms >= since][:5]


def test_tape_when_over_capacity_then_newest_kept_and_duplicates_ignored() -> None:
    tape = TradeTape(capacity=3)
    for i in range(1, 11):
        tape.record("X", PublicTrade(i, i * 10, D(1), D(1), False))
    tape.record("X", PublicTrade(10, 100, D(2), D(1), False))  # a replayed id: ignored

    assert [t.trade_id for t in tape.recent("X", 10)] == [8, 9, 10]
    assert [t.trade_id for t in tape.from_id("X", 1, 2)] == [8, 9]
    assert [t.trade_id for t in tape.between("X", 85, None, 10)] == [9, 10]
    assert tape.recent("Y", 5) == []


def test_tape_when_far_more_trades_than_its_capacity_then_memory_bounded_and_newest_served() -> None:
    tape = TradeTape(capacity=1000)
    held = []
    for i in range(1, 20_001):
        tape.record("X", PublicTrade(i, i, D(1), D(1), False))
        held.append(tape.held())

    assert max(held) <= 1000 + 1000 // 8  # the soak grew by the tape before (trimmed only at 2x)
    assert held[-1] >= 1000
    assert [t.trade_id for t in tape.recent("X", 1000)] == list(range(19_001, 20_001))
    assert [t.trade_id for t in tape.from_id("X", 1, 2)] == [19_001, 19_002]  # older ids: the oldest kept
    assert TradeTape().held() == 0


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


def test_rest_trades_when_stream_published_them_then_same_ids_prices_and_times(live: LiveVenue) -> None:
    async def streamed() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws/btcusdt@trade") as ws:
            async with asyncio.timeout(TIMEOUT):
                while len(out) < 5:
                    out.append(json.loads((await ws.receive()).data))
        return out

    published = asyncio.run(streamed())
    raw = RawClient(live)  # type: ignore[arg-type]
    rows = raw.public("/api/v3/historicalTrades", symbol="BTCUSDT", fromId=published[0]["t"], limit=5).body

    assert [(r["id"], r["price"], r["qty"], r["time"], r["isBuyerMaker"]) for r in rows] == [
        (m["t"], m["p"], m["q"], m["T"], m["m"]) for m in published
    ]
