"""Fault injection on the real server, seen through an unmodified ccxt.binance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import aiohttp
import ccxt
import pytest

from tests.integration.simserver.conftest import ccxt_binance
from tests.integration.simserver.live import TIMEOUT, LiveVenue

T = TypeVar("T")


@pytest.fixture
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


def _client(live: LiveVenue) -> ccxt.binance:
    exchange = ccxt_binance(live, live.key)  # type: ignore[arg-type]
    exchange.load_markets()
    return exchange


def test_5xx_storm_when_n_errors_armed_then_exactly_n_calls_fail_then_recover(live: LiveVenue) -> None:
    exchange = _client(live)
    live.admin("/admin/faults", {"error_count": 3, "error_status": 503})

    failures = 0
    for _ in range(3):
        with pytest.raises(ccxt.OperationFailed):  # ccxt's retryable family (-1001 on a 503)
            exchange.fetch_balance()
        failures += 1
    balance = exchange.fetch_balance()

    assert failures == 3
    assert balance["USDT"]["free"] == 100_000
    assert live.admin("/admin/faults")["injected"] == 3


def test_429_storm_when_armed_then_rate_limit_error_with_retry_after(live: LiveVenue) -> None:
    exchange = _client(live)
    live.admin("/admin/faults", {"error_count": 2, "error_status": 429, "retry_after_s": 1})

    with pytest.raises(ccxt.DDoSProtection):  # how ccxt maps Binance's 429
        exchange.fetch_ticker("BTC/USDT")
    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_ticker("BTC/USDT")
    retry_after = exchange.last_response_headers.get("Retry-After")
    time.sleep(1.1)  # honour it: no ban

    assert retry_after == "1"
    assert exchange.fetch_ticker("BTC/USDT")["last"] > 0
    assert live.admin("/admin/faults")["bans"] == 0


def test_429_when_client_ignores_retry_after_then_banned_with_418_until_cleared(live: LiveVenue) -> None:
    exchange = _client(live)
    live.admin("/admin/faults", {"error_count": 1, "error_status": 429, "retry_after_s": 30})

    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_ticker("BTC/USDT")
    with pytest.raises(ccxt.DDoSProtection):  # sent inside the Retry-After window
        exchange.fetch_ticker("BTC/USDT")
    status_after = exchange.last_http_response, exchange.last_response_headers.get("Retry-After")
    bans = live.admin("/admin/faults")["bans"]
    live.admin("/admin/faults/clear", {})

    assert "banned until" in str(status_after[0])
    assert int(status_after[1]) >= 60  # the first ban is longer than the 429's window
    assert bans == 1
    assert exchange.fetch_ticker("BTC/USDT")["last"] > 0


def test_latency_when_added_then_round_trip_takes_at_least_that_long(live: LiveVenue) -> None:
    exchange = _client(live)
    live.admin("/admin/faults", {"latency_ms": 200})

    started = time.perf_counter()
    exchange.fetch_time()
    elapsed = time.perf_counter() - started

    assert elapsed >= 0.2


def test_silence_when_active_then_client_times_out_and_later_recovers(live: LiveVenue) -> None:
    exchange = _client(live)
    exchange.timeout = 300  # ms
    live.admin("/admin/faults/silence", {"seconds": 3.0})  # long enough that the first call surely meets it

    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_time()

    assert _answered_again(exchange.fetch_time) > 0


def _answered_again(call: Callable[[], T]) -> T:
    """``call`` once the venue answers again: retried while it times out (the silence, or a loaded
    machine answering a retry slower than its short timeout), until a generous deadline."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return call()
        except ccxt.RequestTimeout:
            assert time.monotonic() < deadline, "the venue never answered again"
            time.sleep(0.1)


def test_dropped_order_response_when_order_accepted_then_client_unsure_but_order_exists_once(live: LiveVenue) -> None:
    exchange = _client(live)
    live.admin("/admin/faults", {"drop_order_responses": 1})
    price = round(exchange.fetch_ticker("BTC/USDT")["last"] * 0.6, 2)

    with pytest.raises(ccxt.NetworkError):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price, {"newClientOrderId": "lost-answer-1"})
    found = exchange.fetch_order(None, "BTC/USDT", {"origClientOrderId": "lost-answer-1"})

    assert found["clientOrderId"] == "lost-answer-1"
    assert found["status"] == "open"
    orders = exchange.fetch_orders("BTC/USDT")
    assert sum(1 for o in orders if o["clientOrderId"] == "lost-answer-1") == 1


def test_drop_ws_when_requested_then_every_stream_connection_closes(live: LiveVenue) -> None:
    async def scenario() -> tuple[int | None, int]:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{live.ws_url}/ws/btcusdt@trade") as ws:
            await ws.receive()  # connected and streaming
            dropped = (await asyncio.to_thread(live.admin, "/admin/ws/drop", {}))["dropped"]
            async with asyncio.timeout(TIMEOUT):
                message = await ws.receive()
                while message.type is aiohttp.WSMsgType.TEXT:
                    message = await ws.receive()
            return message.data, dropped  # the close frame's code

    code, dropped = asyncio.run(scenario())

    assert code == 1001
    assert dropped >= 1


def test_restart_when_state_file_then_orders_and_balances_survive(tmp_path: Path) -> None:
    live = LiveVenue(state_file=tmp_path / "venue.json")
    try:
        exchange = _client(live)
        price = round(exchange.fetch_ticker("BTC/USDT")["last"] * 0.6, 2)
        placed = exchange.create_order("BTC/USDT", "limit", "buy", 0.002, price)
        exchange.create_order("BTC/USDT", "market", "sell", 0.001)
        before = (exchange.fetch_balance()["total"], exchange.fetch_open_orders("BTC/USDT"))

        answer = live.admin("/admin/restart", {})
        after = (exchange.fetch_balance()["total"], exchange.fetch_open_orders("BTC/USDT"))
    finally:
        live.stop()

    assert answer["restarted"] is True
    assert (tmp_path / "venue.json").is_file()
    assert after[0] == before[0]
    assert [o["id"] for o in after[1]] == [o["id"] for o in before[1]] == [placed["id"]]


def test_start_when_state_file_exists_then_venue_resumes_from_it(tmp_path: Path) -> None:
    first = LiveVenue(state_file=tmp_path / "venue.json")
    try:
        exchange = _client(first)
        exchange.create_order("BTC/USDT", "market", "buy", 0.003)
        total = exchange.fetch_balance()["total"]["BTC"]
    finally:
        first.stop()  # saves the state file

    second = LiveVenue(state_file=tmp_path / "venue.json")
    try:
        resumed = _client(second).fetch_balance()["total"]["BTC"]
    finally:
        second.stop()

    assert resumed == total
    assert total > 1


def test_cli_when_fault_commands_used_then_venue_state_changes_and_bad_input_is_one_line(live: LiveVenue) -> None:
    from typer.testing import CliRunner

    from thunes.app.cli.main import app

    runner = CliRunner(env={"THUNES_VENUE_ADMIN_TOKEN": live.running.admin_token})
    armed = runner.invoke(app, ["venue", "fault", "errors", "--count", "4", "--status", "502", "--url", live.base_url])
    shown = runner.invoke(app, ["venue", "fault", "status", "--url", live.base_url])
    bad = runner.invoke(app, ["venue", "fault", "errors", "--status", "404", "--url", live.base_url])
    cleared = runner.invoke(app, ["venue", "fault", "clear", "--url", live.base_url])

    assert armed.exit_code == 0
    assert '"error_count": 4' in shown.output
    assert '"error_status": 502' in shown.output
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == ["error: --status must be 429 or 5xx, got 404"]
    assert cleared.exit_code == 0
    assert live.admin("/admin/faults")["error_count"] == 0
