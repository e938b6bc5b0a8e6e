"""The full venue replaying the recorded 2024-08-08/09 BTCUSDT WebSocket capture.

The recorded depth drives the book the venue trades against and the book it publishes: a client syncs
to it by Binance's procedure (REST snapshot + ``@depth@100ms`` diffs with the recorded ``U``/``u``), and
an unmodified ``ccxt.binance`` MARKET order walks the recorded ask levels.

The capture is 650 s long, about 11 s of wall time at 60x, so the paced venue starts with its replay
paused at the first synced book and each test resumes it once its client is listening: on a loaded
machine a replay started earlier could end before the client subscribed (the test then timed out).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from decimal import ROUND_FLOOR, ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import pytest

from tests.integration.simserver.conftest import ccxt_binance
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.simserver.server import RunningVenue, VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import ApiKey
from thunes.domain.market import Timeframe
from thunes.simvenue.book import DiffResult, L2Book
from thunes.simvenue.capture import WIRE_QTY_UNIT
from thunes.simvenue.capture_replay import RecordedDepth, capture_events
from thunes.simvenue.replay import ReplayDepthDiff, ReplayDepthSnapshot

D = Decimal
TIMEOUT = 30.0  # a deadline, generous for a loaded machine; nothing waits for it when all goes well
SNAPSHOT_ID = 50_093_239_218  # lastUpdateId of the capture's REST snapshot
LAST_ID = 50_093_696_318  # u of its last diff
FUNDS = {"trader": {"USDT": D(10_000_000)}}


def _paths(shared_data: Path) -> list[Path]:
    root = shared_data / "binance" / "ws_capture_hftbacktest"
    return [root / "spot_btcusdt_20240808.gz", root / "spot_btcusdt_20240809.gz"]


class CaptureVenue:
    """The full server (REST, streams, replay of the capture at ``speed``) in a background thread."""

    def __init__(self, paths: list[Path], speed: float | None, *, paused: bool = False) -> None:
        info = builtin_exchange_info()
        self.instrument = info.get("BTCUSDT")
        self.state = build_state(info, Timeframe.M1)
        self.key: ApiKey = self.state.add_api_key("trader")
        events = capture_events(paths, "BTCUSDT", self.instrument)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: list[RunningVenue] = []

        async def started() -> RunningVenue:
            running = await start(self.state, events, VenueConfig(port=0, speed=speed), FUNDS)
            if paused:  # before the replay's first step: not one event applied yet
                running.driver.pause()
            return running

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            holder.append(self.loop.run_until_complete(started()))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(TIMEOUT)
        self.running = holder[0]
        self.base_url = self.running.rest_url
        self.ws_url = self.running.ws_url

    def on_loop(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` on the server's event loop (between two replayed events) and return its result."""

        async def call() -> Any:
            return action()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(TIMEOUT)

    def replay_until(self, condition: Callable[[], bool]) -> None:
        """Resume the paused replay and pause it again as soon as ``condition`` holds (checked between
        two replayed events on the server's loop, so the market stops right there, however loaded)."""

        async def replay() -> None:
            self.running.driver.resume()
            while not condition():
                await asyncio.sleep(0)
            self.running.driver.pause()

        asyncio.run_coroutine_threadsafe(replay(), self.loop).result(TIMEOUT)

    def resume(self) -> None:
        self.on_loop(self.running.driver.resume)

    def depth(self, limit: int) -> dict[str, Any]:
        url = f"{self.base_url}/api/v3/depth?symbol=BTCUSDT&limit={limit}"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)


@pytest.fixture(scope="module")
def recorded_diffs(shared_data: Path) -> list[ReplayDepthDiff]:
    """The capture's depth diffs, read once and before any paced venue starts."""
    instrument = builtin_exchange_info().get("BTCUSDT")
    return [e for e in capture_events(_paths(shared_data), "BTCUSDT", instrument) if isinstance(e, ReplayDepthDiff)]


@pytest.fixture
def paced(shared_data: Path) -> Iterator[CaptureVenue]:
    """The capture at 60x (a recorded 100 ms diff every 1.7 ms, ~7000 messages a second with the book
    ticker), paused at its first synced book: the test resumes it when its client listens."""
    venue = CaptureVenue(_paths(shared_data), speed=60.0, paused=True)
    venue.replay_until(_book_synced(venue))
    yield venue
    venue.stop()


def _book_synced(venue: CaptureVenue) -> Callable[[], bool]:
    return lambda: "BTCUSDT" in venue.state.books and venue.state.books["BTCUSDT"].synced


@pytest.mark.parametrize("stall_s", [0.0, 3.0])
def test_depth_stream_when_synced_from_rest_snapshot_then_recorded_ids_and_book_matches_book_ticker(
    paced: CaptureVenue, recorded_diffs: list[ReplayDepthDiff], stall_s: float
) -> None:
    """``stall_s``: the venue's loop is blocked that long once the client synced, as a loaded machine
    may deschedule the process; the paced replay then catches up. It used to do so without yielding,
    so no stream writer ran, the client's queue overflowed and dropped diffs: a GAP under load."""
    recorded_ids = {(e.first_update_id, e.final_update_id) for e in recorded_diffs}

    async def scenario() -> tuple[L2Book, list[tuple[int, int]], int, int]:
        book = L2Book(D("0.01"), D("0.00001"), qty_unit=WIRE_QTY_UNIT)
        received: list[tuple[int, int]] = []
        tickers: deque[dict[str, Any]] = deque()
        matched = mismatched = applied = 0
        url = f"{paced.ws_url}/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await asyncio.to_thread(paced.resume)
            async with asyncio.timeout(TIMEOUT):
                buffered = [json.loads((await ws.receive()).data)]  # open the stream first, then the snapshot
                async with session.get(f"{paced.base_url}/api/v3/depth?symbol=BTCUSDT&limit=1000") as resp:
                    snap = await resp.json()
                book.apply_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
                if stall_s:
                    paced.loop.call_soon_threadsafe(time.sleep, stall_s)
                while applied < 300:
                    msg = buffered.pop(0) if buffered else json.loads((await ws.receive()).data)
                    data = msg["data"]
                    if msg["stream"] == "btcusdt@bookTicker":
                        tickers.append(data)  # usually ahead of the diff that contains its update id
                        continue
                    received.append((data["U"], data["u"]))
                    result = book.apply_diff(data["U"], data["u"], data["b"], data["a"])
                    assert result in (DiffResult.APPLIED, DiffResult.STALE), (result, data["U"], data["u"])
                    applied += result is DiffResult.APPLIED
                    while tickers and tickers[0]["u"] <= data["u"]:
                        ticker = tickers.popleft()
                        if ticker["u"] != book.last_update_id:
                            continue
                        bid, ask = book.best_bid(), book.best_ask()
                        assert bid is not None and ask is not None
                        shown = [book.price(bid[0]), book.qty(bid[1]), book.price(ask[0]), book.qty(ask[1])]
                        same = shown == [D(ticker[k]) for k in ("b", "B", "a", "A")]
                        matched += same
                        mismatched += not same
        return book, received, matched, mismatched

    book, received, matched, mismatched = asyncio.run(scenario())

    assert book.synced
    assert set(received) <= recorded_ids  # re-published with the recorded U/u, none invented
    assert matched > 0 and mismatched == 0, (matched, mismatched)


def test_partial_depth_stream_when_replaying_then_top_levels_at_recorded_update_ids(
    paced: CaptureVenue, recorded_diffs: list[ReplayDepthDiff]
) -> None:
    finals = {e.final_update_id for e in recorded_diffs}

    async def scenario() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{paced.ws_url}/ws/btcusdt@depth5@100ms") as ws,
        ):
            await asyncio.to_thread(paced.resume)
            async with asyncio.timeout(TIMEOUT):
                while len(out) < 5:
                    out.append(json.loads((await ws.receive()).data))
        return out

    messages = asyncio.run(scenario())

    ids = [m["lastUpdateId"] for m in messages]
    assert ids == sorted(ids) and set(ids) <= finals
    for m in messages:
        assert len(m["bids"]) == len(m["asks"]) == 5
        assert D(m["bids"][0][0]) < D(m["asks"][0][0])
        assert [D(p) for p, _ in m["asks"]] == sorted(D(p) for p, _ in m["asks"])


def test_market_buy_when_replay_paused_then_fills_walk_the_recorded_ask_levels(paced: CaptureVenue) -> None:
    exchange = ccxt_binance(paced, paced.key)  # type: ignore[arg-type]
    exchange.load_markets()
    paced.replay_until(lambda: paced.running.driver.published >= 5_000)  # a book the recorded diffs have shaped
    before = paced.depth(20)
    step = paced.instrument.step_size
    asks = [(D(p), D(q)) for p, q in before["asks"]]
    taken, whole = D(0), 0

    def halfway(taken: Decimal, level: Decimal) -> Decimal:  # on the step, about half into the next level
        return ((taken + level / 2) / step).to_integral_value(ROUND_FLOOR) * step

    while whole < 3 or halfway(taken, asks[whole][1]) <= taken:  # at least three whole levels, then part of one
        taken += asks[whole][1]
        whole += 1
    quantity = halfway(taken, asks[whole][1])

    order = exchange.create_order("BTC/USDT", "market", "buy", str(quantity))
    after = paced.depth(20)

    expected = [*asks[:whole], (asks[whole][0], quantity - taken)]
    fills = [(D(f["price"]), D(f["qty"])) for f in order["info"]["fills"]]
    assert fills == expected, (fills, expected)
    assert len({price for price, _ in fills}) == whole + 1 >= 4
    assert [D(f["commission"]) for f in order["info"]["fills"]] == [
        (qty * D("0.001")).quantize(D("1e-8"), ROUND_UP) for _, qty in expected
    ]
    assert {f["commissionAsset"] for f in order["info"]["fills"]} == {"BTC"}
    assert order["status"] == "closed" and D(str(order["filled"])) == quantity
    assert {t["fee"]["currency"] for t in order["trades"]} == {"BTC"}
    # The walked levels are gone from the venue's book; the partly taken one keeps its rest.
    assert after["lastUpdateId"] == before["lastUpdateId"]
    assert [D(p) for p, _ in after["asks"][:1]] == [asks[whole][0]]
    assert D(after["asks"][0][1]) == asks[whole][1] - (quantity - taken)


def test_replay_when_finished_then_rest_depth_is_the_recorded_final_book(shared_data: Path) -> None:
    venue = CaptureVenue(_paths(shared_data), speed=None)
    try:
        asyncio.run_coroutine_threadsafe(venue.running.driver.finished.wait(), venue.loop).result(3 * TIMEOUT)
        final = venue.depth(5000)
    finally:
        venue.stop()
    offline = RecordedDepth(venue.instrument)
    for event in capture_events(_paths(shared_data), "BTCUSDT", venue.instrument):
        if isinstance(event, ReplayDepthSnapshot):
            offline.on_snapshot(event)
        elif isinstance(event, ReplayDepthDiff):
            offline.on_diff(event)
    bids, asks = offline.book.depth(5000)
    book = offline.book

    assert final["lastUpdateId"] == LAST_ID > SNAPSHOT_ID
    assert final["bids"] == [[f"{book.price(t):.8f}", f"{book.qty(n):.8f}"] for t, n in bids]
    assert final["asks"] == [[f"{book.price(t):.8f}", f"{book.qty(n):.8f}"] for t, n in asks]


def test_replay_when_the_capture_breaks_mid_serving_then_one_error_line_and_the_market_halts_visibly(
    shared_data: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    good = gzip.decompress(_paths(shared_data)[0].read_bytes()).splitlines(keepends=True)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"".join([*good[:3000], b"1723161253937085768 {not json\n", *good[3000:3100]])))
    venue = CaptureVenue([broken], speed=None)  # the start-up check reads the first record: it is fine
    try:
        deadline = time.monotonic() + TIMEOUT
        while not venue.running.driver.finished.is_set():
            assert time.monotonic() < deadline, "the replay neither ended nor halted"
            time.sleep(0.01)
        ccxt_client = ccxt_binance(venue, venue.key)  # type: ignore[arg-type]
        info = ccxt_client.public_get_exchangeinfo()
        with pytest.raises(ccxt.MarketClosed) as refused:  # ccxt's class for -2010 "Market is closed."
            ccxt_client.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"})
        depth = venue.depth(5)
    finally:
        venue.stop()
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]

    assert len(errors) == 1, errors
    assert f"{broken}:3001:" in errors[0] and "halted" in errors[0]
    assert {s["status"] for s in info["symbols"]} == {"HALT"}  # every listed symbol: none moves any more
    assert "Market is closed." in str(refused.value)
    assert depth["bids"] and depth["asks"]  # REST keeps serving the last state
