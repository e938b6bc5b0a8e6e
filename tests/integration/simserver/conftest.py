"""The simulated Binance server on a real socket, seeded with a synthetic market, and clients for it.

The aiohttp server runs in a background thread with its own event loop, so tests drive it with
the *synchronous*, unmodified ``ccxt.binance`` (only its URLs and options configured) or with
plain ``urllib`` requests signed the way the Binance docs show.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import ccxt
import pytest
from aiohttp import web

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.simserver.app import build_app, make_runner
from thunes.adapters.venues.simserver.driver import ReplayDriver
from thunes.adapters.venues.simserver.exchange_info_payload import payload_from_exchange_info
from thunes.adapters.venues.simserver.hub import StreamHub
from thunes.adapters.venues.simserver.state import ApiKey, ReplayClock, ServerState
from thunes.domain.exchange_info import RateLimit
from thunes.domain.market import Timeframe
from thunes.simvenue.candles import CandleHistory
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import bar_events

D = Decimal
SEED_BARS = 180  # three hours of 1m candles per symbol
START_PRICES = {"BTCUSDT": 40_000.0, "ETHUSDT": 2_500.0}
FUNDS = {"USDT": D(100_000), "BTC": D(2), "ETH": D(20)}
_accounts = itertools.count(1)


class WallClock:
    """Real time plus an offset the test can move (rate-limit windows, bans, recvWindow)."""

    def __init__(self) -> None:
        self.offset_ns = 0

    def __call__(self) -> int:
        return time.time_ns() + self.offset_ns

    def advance(self, seconds: float) -> None:
        self.offset_ns += int(seconds * 1_000_000_000)


def build_state(rate_limits: tuple[RateLimit, ...] | None = None, wall: WallClock | None = None) -> ServerState:
    """A venue over the built-in instruments with BTCUSDT and ETHUSDT replayed for ``SEED_BARS`` minutes."""
    info = builtin_exchange_info()
    if rate_limits is not None:
        info = replace(info, rate_limits=rate_limits)
    clock = ReplayClock()
    state = ServerState(
        venue=SimVenue(info.instruments, clock, seed=3),
        exchange_info=info,
        exchange_info_payload=payload_from_exchange_info(info),
        candles=CandleHistory(Timeframe.M1),
        clock=clock,
        wall_ns=wall or WallClock(),
    )
    streams = []
    for i, (symbol, price) in enumerate(START_PRICES.items()):
        instrument = info.get(symbol)
        bars = generate_ohlcv(symbol, Timeframe.M1, SEED_BARS, seed=11 + i, start_price=price,
                              tick_size=float(instrument.tick_size))  # fmt: skip
        streams.append(bar_events(bars, instrument.tick_size, instrument.step_size))
    seeder = ReplayDriver(state, StreamHub(), ())  # what the replay does, with nobody listening yet
    for event in heapq.merge(*streams, key=lambda e: e.ts_ns):
        seeder.apply(event)
    return state


@dataclass
class RunningServer:
    """A started server: its state, base URL and the thread that runs its event loop."""

    state: ServerState
    base_url: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    keys: list[ApiKey] = field(default_factory=list)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def new_account(self, funds: dict[str, Decimal] | None = None, **key_options: Any) -> ApiKey:
        """A fresh funded account with its own API key (tests never share order books of an account)."""
        account = f"acct{next(_accounts)}"
        for asset, amount in (funds if funds is not None else FUNDS).items():
            self.state.venue.deposit(account, asset, amount)
        key = self.state.add_api_key(account)
        if key_options:
            key = replace(key, **key_options)
            self.state.api_keys[key.key] = key
        return key


def start_server(state: ServerState) -> RunningServer:
    """Serve ``state`` on 127.0.0.1 (a free port) from a background thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    ports: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = make_runner(build_app(state))
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        ports.append(runner.addresses[0][1])
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="simserver", daemon=True)
    thread.start()
    if not ready.wait(timeout=10):
        raise RuntimeError("the simulated server did not start")
    return RunningServer(state, f"http://127.0.0.1:{ports[0]}", loop, thread)


def ccxt_binance(server: RunningServer, key: ApiKey, secret: str | None = None) -> ccxt.binance:
    """An unmodified ``ccxt.binance`` aimed at ``server``: URLs and options only.

    * every ``urls['api']`` entry (spot, sapi, and the futures/options ones too) points at the
      server, so an unexpected call is a local 404, never a request to binance.com;
    * ``fetchMarkets.types = ['spot']``: no ``fapi``/``dapi`` exchangeInfo calls;
    * ``fetchMargins = False``: no ``/sapi/v1/margin/allPairs`` and ``isolated/allPairs``;
    * ``fetchCurrencies = False``: no ``/sapi/v1/capital/config/getall``;
    * ``enableRateLimit = False``: ccxt's client-side throttle would only slow the tests.
    """
    exchange = ccxt.binance(
        {
            "apiKey": key.key,
            "secret": secret if secret is not None else key.secret,
            "enableRateLimit": False,
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "fetchCurrencies": False,
            },
        }
    )
    api_urls: dict[str, str] = exchange.urls["api"]
    for name, url in api_urls.items():
        api_urls[name] = re.sub(r"^https://[^/]+", server.base_url, url)
    return exchange


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any


class RawClient:
    """Plain HTTP to the server, signed like the Binance docs' HMAC example (urllib, no ccxt)."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server

    def request(self, method: str, path: str, query: str = "", body: str = "",
                headers: dict[str, str] | None = None) -> HttpResult:  # fmt: skip
        return self.request_bytes(method, path + (f"?{query}" if query else ""), body.encode(), headers)

    def request_bytes(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> HttpResult:  # fmt: skip
        """``request`` with a raw body (any bytes) and the path sent as given, query included."""
        url = self.server.base_url + path
        data = body or None
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None and not req.has_header("Content-type"):
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return HttpResult(resp.status, dict(resp.headers), json.loads(resp.read() or b"null"))
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                payload = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                payload = raw.decode(errors="replace")
            return HttpResult(e.code, dict(e.headers), payload)

    def public(self, path: str, **params: Any) -> HttpResult:
        return self.request("GET", path, urlencode(params))

    def signed(self, key: ApiKey, method: str, path: str, *, in_body: bool = False, secret: str | None = None,
               **params: Any) -> HttpResult:  # fmt: skip
        params.setdefault("timestamp", self.server.state.wall_ns() // 1_000_000)
        payload = urlencode(params)
        signature = hmac.new((secret or key.secret).encode(), payload.encode(), hashlib.sha256).hexdigest()
        signed = f"{payload}&signature={signature}"
        headers = {"X-MBX-APIKEY": key.key}
        if in_body:
            return self.request(method, path, body=signed, headers=headers)
        return self.request(method, path, query=signed, headers=headers)


@pytest.fixture(scope="session")
def sim_server() -> Iterator[RunningServer]:
    """One seeded server for the whole session; each test opens its own account on it."""
    server = start_server(build_state())
    yield server
    server.stop()


@pytest.fixture
def api_key(sim_server: RunningServer) -> ApiKey:
    return sim_server.new_account()


@pytest.fixture
def exchange(sim_server: RunningServer, api_key: ApiKey) -> ccxt.binance:
    ex = ccxt_binance(sim_server, api_key)
    ex.load_markets()
    return ex


@pytest.fixture
def offline_state() -> ServerState:
    """A seeded state that no server runs: drive its venue directly (nothing else drains its reports)."""
    return build_state()


@pytest.fixture(scope="session")
def raw(sim_server: RunningServer) -> RawClient:
    return RawClient(sim_server)


@pytest.fixture
def make_exchange(sim_server: RunningServer) -> Callable[..., ccxt.binance]:
    """``make_exchange(key, secret=None)``: a ccxt client for another key (or a wrong secret)."""

    def make(key: ApiKey, secret: str | None = None) -> ccxt.binance:
        return ccxt_binance(sim_server, key, secret)

    return make


TINY_LIMITS = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 10),
    RateLimit("ORDERS", "SECOND", 10, 3),
    RateLimit("ORDERS", "DAY", 1, 1000),
)


@dataclass(frozen=True)
class Limited:
    server: RunningServer
    wall: WallClock
    raw: RawClient


@pytest.fixture
def limited() -> Iterator[Limited]:
    """A server whose limits are tiny (10 weight per minute, 3 orders per 10 s) on a movable wall clock."""
    wall = WallClock()
    wall.advance(60 - (time.time() % 60) + 0.001)  # start at the top of a minute: no window reset mid-test
    server = start_server(build_state(TINY_LIMITS, wall))
    yield Limited(server, wall, RawClient(server))
    server.stop()
