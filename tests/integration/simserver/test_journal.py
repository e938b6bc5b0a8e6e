"""The venue journals like an exchange: what a client was told survives a crash of the venue, exactly.

A crash here is :meth:`LiveVenue.crash` (the event loop stopped dead, no clean stop, nothing saved);
the subprocess ``kill -9`` version is ``tests/chaos/test_venue_crash.py``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import pytest

from tests.integration.simserver.conftest import ccxt_binance
from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.venues.simserver.journal import JournalError
from thunes.adapters.venues.simserver.streams import HUB


def _client(live: LiveVenue) -> ccxt.binance:
    exchange = ccxt_binance(live, live.key)  # type: ignore[arg-type]
    exchange.load_markets()
    return exchange


def _told(exchange: ccxt.binance) -> dict[str, Any]:
    """Everything a client can know of its account: balances, every order, every trade."""
    balance = exchange.fetch_balance()
    orders = exchange.fetch_orders("BTC/USDT", limit=1000)
    trades = exchange.fetch_my_trades("BTC/USDT", limit=1000)
    return {
        "balances": {a: (balance[a]["free"], balance[a]["used"]) for a in ("BTC", "USDT")},
        "orders": [(o["id"], o["clientOrderId"], o["status"], o["filled"], o["price"], o["timestamp"]) for o in orders],
        "trades": [(t["id"], t["order"], t["price"], t["amount"], t["fee"]["cost"]) for t in trades],
    }


async def _place_and_see_filled(live: LiveVenue, exchange: ccxt.binance) -> tuple[dict[str, Any], dict[str, Any]]:
    """Place a SELL resting just above the bid and wait on the user data stream for its TRADE report:
    a fill the replay makes, without any request. On a slow machine the bid can pass the price between
    reading it and placing the order, which then fills at once: that one is not the case tested, so
    another is placed, once (the account holds 0.002 BTC to sell; an order filled at placement is told
    and journaled like any other)."""
    headers = {"X-MBX-APIKEY": live.key.key}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{live.base_url}/api/v3/userDataStream", headers=headers) as answer:
            listen_key = (await answer.json())["listenKey"]
        async with session.ws_connect(f"{live.ws_url}/ws/{listen_key}") as ws, asyncio.timeout(TIMEOUT * 3):
            for _ in range(2):  # the replay runs on: a bid that rose past the price between the two requests
                bid = (await asyncio.to_thread(exchange.fetch_ticker, "BTC/USDT"))["bid"]  # fills it at once;
                order = await asyncio.to_thread(exchange.create_order, "BTC/USDT", "limit", "sell", 0.001, bid + 0.01)
                if order["status"] == "open":  # place another until one rests
                    break
            async for message in ws:
                event = json.loads(message.data)
                if event.get("e") == "executionReport" and event["x"] == "TRADE" and str(event["i"]) == order["id"]:
                    return order, dict(event)
    raise AssertionError("the stream ended before the fill")


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _stored_clock(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        clock_ns: int = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'replay'").fetchone()[0])[
            "clock_ns"
        ]
    return clock_ns


def test_crash_when_orders_fills_and_cancels_were_told_then_restart_shows_exactly_them(tmp_path: Path) -> None:
    first = LiveVenue(state_file=tmp_path / "venue.db")
    try:
        exchange = _client(first)
        last = exchange.fetch_ticker("BTC/USDT")["last"]
        exchange.create_order("BTC/USDT", "limit", "buy", 0.002, round(last * 0.6, 2))  # rests
        cancelled = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 0.5, 2))
        exchange.cancel_order(cancelled["id"], "BTC/USDT")
        exchange.create_order("BTC/USDT", "market", "buy", 0.003)
        exchange.create_order("BTC/USDT", "market", "sell", 0.001)
        resting_sell, report = asyncio.run(_place_and_see_filled(first, exchange))
        told = _told(exchange)
        clock_at_crash = first.state.clock.ns
    finally:
        first.crash()
    stored = _stored_clock(tmp_path / "venue.db")

    second = LiveVenue(state_file=tmp_path / "venue.db")
    try:
        resumed_at = second.state.clock.ns
        exchange = _client(second)
        recovered = _told(exchange)
        after = exchange.create_order("BTC/USDT", "market", "buy", 0.001)
        new_trades = exchange.fetch_my_trades("BTC/USDT", limit=1000)[len(recovered["trades"]) :]
    finally:
        second.stop()

    assert report["X"] in {"PARTIALLY_FILLED", "FILLED"}
    assert resting_sell["status"] == "open"  # it rested: the fill came from the replay
    assert recovered == told
    assert int(after["id"]) > max(int(o[0]) for o in told["orders"])  # an id the client knows never names another order
    assert new_trades and min(int(t["id"]) for t in new_trades) > max(int(t[0]) for t in told["trades"])
    assert max(o[5] for o in told["orders"]) * 1_000_000 <= stored <= clock_at_crash  # the market resumes there
    assert resumed_at >= stored


def test_crash_when_nothing_traded_then_restart_resumes_the_market_not_the_warmup(tmp_path: Path) -> None:
    first = LiveVenue(state_file=tmp_path / "venue.db")
    try:
        warm = first.state.clock.ns
        _until(lambda: first.state.clock.ns >= warm + 3 * 60 * 10**9)  # three 1m bars later
        _client(first).create_order("BTC/USDT", "market", "buy", 0.001)
        placed_at = first.state.clock.ns
    finally:
        first.crash()
    fresh = LiveVenue()
    second = LiveVenue(state_file=tmp_path / "venue.db")
    try:
        resumed, fresh_at = second.state.clock.ns, fresh.state.clock.ns
    finally:
        second.stop()
        fresh.stop()

    assert resumed >= placed_at > warm
    assert resumed > fresh_at  # a venue without the journal starts over after its warm-up


def test_journal_when_admin_restart_then_state_survives_and_journal_still_commits(tmp_path: Path) -> None:
    live = LiveVenue(state_file=tmp_path / "venue.db")
    try:
        exchange = _client(live)
        exchange.create_order("BTC/USDT", "market", "buy", 0.002)
        live.admin("/admin/restart", {})
        exchange.create_order("BTC/USDT", "market", "sell", 0.001)
        told = _told(exchange)
    finally:
        live.crash()
    again = LiveVenue(state_file=tmp_path / "venue.db")
    try:
        recovered = _told(_client(again))
    finally:
        again.stop()

    assert recovered == told
    assert len(told["orders"]) == 2


def test_commit_when_the_journal_cannot_be_written_then_the_venue_halts_before_answering(tmp_path: Path) -> None:
    live = LiveVenue(state_file=tmp_path / "venue.db")
    halted: list[JournalError] = []
    try:
        exchange = _client(live)
        journal = live.running.journal
        assert journal is not None
        journal._halt = halted.append  # instead of exiting the test process
        journal._conn.close()  # every write now fails, as on a full or vanished disk
        with pytest.raises(ccxt.BaseError) as answer:
            exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    finally:
        live.crash()

    assert not isinstance(answer.value, ccxt.InvalidOrder)  # not a rejection: the outcome is unknown (5xx)
    assert halted and str(tmp_path / "venue.db") in str(halted[0])


def test_start_when_an_old_json_state_file_then_it_is_converted_and_kept_beside(tmp_path: Path) -> None:
    first = LiveVenue()
    try:
        exchange = _client(first)
        exchange.create_order("BTC/USDT", "market", "buy", 0.002)
        told = _told(exchange)
        old = first.state.venue.export_state()
    finally:
        first.stop()
    state_file = tmp_path / "venue.json"
    state_file.write_text(json.dumps(old))

    second = LiveVenue(state_file=state_file)
    try:
        recovered = _told(_client(second))
    finally:
        second.stop()

    assert recovered["balances"] == told["balances"]
    assert recovered["orders"] == told["orders"]
    assert json.loads((tmp_path / "venue.json.v1.json").read_text()) == old
    with sqlite3.connect(state_file) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SQLite format 3\x00" + b"\x00" * 200, "venue.db"),
        (b"garbage, not a journal", "not a venue journal"),
        (b'{"version": 1, "accounts": ', "not a valid venue state file"),
        (b'{"version": 99}', "not a valid venue state file"),
    ],
)
def test_start_when_the_state_file_is_corrupt_then_journal_error_names_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    state_file = tmp_path / "venue.db"
    state_file.write_bytes(content)

    with pytest.raises(RuntimeError, match="venue did not start") as failed:
        LiveVenue(state_file=state_file)

    assert isinstance(failed.value.__cause__, JournalError)
    assert message in str(failed.value.__cause__)
    assert str(state_file) in str(failed.value.__cause__) or "venue.db" in str(failed.value.__cause__)


def test_stream_when_the_replay_fills_a_resting_order_then_the_fill_is_journaled_before_it_is_pushed(
    tmp_path: Path,
) -> None:
    live = LiveVenue(state_file=tmp_path / "venue.db")
    hub = live.running.runner.app[HUB]
    pushed: list[tuple[str, bool]] = []  # (execution type, its order's row already in the journal)
    push = hub.publish_user

    def spy(account: str, event: dict[str, Any]) -> list[Any]:  # runs on the venue's loop, as each report goes out
        if event["e"] == "executionReport":  # its order as the journal has it: at least as far as the report
            with closing(sqlite3.connect(tmp_path / "venue.db")) as conn:
                row = conn.execute("SELECT row FROM orders WHERE order_id = ?", (event["i"],)).fetchone()
            journaled = row is not None and Decimal(json.loads(row[0])["executed_qty"]) >= Decimal(event["z"])
            pushed.append((event["x"], journaled))
        return push(account, event)

    hub.publish_user = spy  # type: ignore[method-assign]
    try:
        exchange = _client(live)
        asyncio.run(_place_and_see_filled(live, exchange))
    finally:
        live.stop()

    assert ("TRADE", True) in pushed
    assert all(journaled for _, journaled in pushed), pushed


def test_crash_when_two_symbols_traded_then_restart_resumes_both_markets_and_accounts(tmp_path: Path) -> None:
    pair = ("BTCUSDT", "ETHUSDT")
    funds = {"trader": {"USDT": Decimal(100_000)}}
    first = LiveVenue(pair, state_file=tmp_path / "venue.db", funds=funds)
    try:
        exchange = _client(first)
        exchange.create_order("BTC/USDT", "market", "buy", 0.002)
        exchange.create_order("ETH/USDT", "market", "buy", 0.05)
        told = {m: exchange.fetch_my_trades(m) for m in ("BTC/USDT", "ETH/USDT")}
        balances = {a: exchange.fetch_balance()[a]["total"] for a in ("BTC", "ETH", "USDT")}
    finally:
        first.crash()
    stored = _stored_clock(tmp_path / "venue.db")

    second = LiveVenue(pair, state_file=tmp_path / "venue.db", funds=funds)
    try:
        exchange = _client(second)
        recovered = {m: exchange.fetch_my_trades(m) for m in ("BTC/USDT", "ETH/USDT")}
        recovered_balances = {a: exchange.fetch_balance()[a]["total"] for a in ("BTC", "ETH", "USDT")}
        latest = {s: second.state.candles.klines(s, "1m", None, None, 1)[-1].open_ms for s in pair}
        resumed = second.state.clock.ns
    finally:
        second.stop()

    assert recovered == told
    assert recovered_balances == balances
    assert resumed >= stored
    assert len(set(latest.values())) == 1  # both symbols' markets stand at the same resumed time
    assert latest["BTCUSDT"] * 1_000_000 <= resumed < latest["BTCUSDT"] * 1_000_000 + 60 * 10**9


def test_warm_up_when_two_symbols_then_each_has_closed_the_same_candles() -> None:
    venue = LiveVenue(("BTCUSDT", "ETHUSDT"), speed=1e-6)  # stands still after the warm-up
    try:
        closed = {s: [c.open_ms for c in venue.state.candles.klines(s, "1m", None, None, 10_000) if c.closed]
                  for s in ("BTCUSDT", "ETHUSDT")}  # fmt: skip
    finally:
        venue.stop()

    assert len(closed["BTCUSDT"]) == 120
    assert closed["BTCUSDT"] == closed["ETHUSDT"]
