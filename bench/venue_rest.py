"""REST order round trip on the full simulated venue over loopback: p50/p99 latency per request.

The server (``simserver.start``: REST, streams, a slow bar replay) runs in a background thread of this
process, as in the integration tests. Each client places a far-from-the-market LIMIT BUY and cancels it,
``N_ORDERS`` times after ``N_WARMUP`` unmeasured ones:

* ``ccxt.binance`` (sync, unmodified, its ``requests`` session keeps the connection alive);
* plain ``urllib`` requests signed like the Binance docs' HMAC example (a new connection per request);
* ``http.client`` on one kept-alive connection: the same signed requests, the floor for a Python client.

The venue's rate limits are lifted: this measures latency, not Binance's 50 orders per 10 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import ccxt

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.simserver.server import RunningVenue, VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import ApiKey
from thunes.domain.exchange_info import RateLimit
from thunes.domain.market import Timeframe
from thunes.simvenue.replay import bar_events

N_ORDERS = 500
N_WARMUP = 50
QUANTITY = "0.00100"
UNLIMITED = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 10**9),
    RateLimit("ORDERS", "SECOND", 10, 10**9),
    RateLimit("ORDERS", "DAY", 1, 10**9),
)


class _Venue:
    """The full server on a free loopback port, its event loop in a daemon thread."""

    def __init__(self) -> None:
        info = replace(builtin_exchange_info(), rate_limits=UNLIMITED)
        instrument = info.get("BTCUSDT")
        bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 600, seed=5, tick_size=float(instrument.tick_size))
        self.state = build_state(info, Timeframe.M1)
        self.key: ApiKey = self.state.add_api_key("bench")
        events = bar_events(bars, instrument.tick_size, instrument.step_size)
        config = VenueConfig(port=0, speed=1.0, warmup_bars=300)  # then a bar a minute: the market stands still
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: list[RunningVenue] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            holder.append(
                self.loop.run_until_complete(start(self.state, events, config, {"bench": {"USDT": Decimal(10**9)}}))
            )
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="simserver", daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the simulated venue did not start")
        self.running = holder[0]
        self.base_url = self.running.rest_url
        last = self.state.venue.market("BTCUSDT").last_price
        assert last is not None
        tick = instrument.tick_size
        self.price = str((last * Decimal("0.9") / tick).to_integral_value(ROUND_FLOOR) * tick)  # rests, never fills

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _ccxt(venue: _Venue) -> ccxt.binance:
    """An unmodified ``ccxt.binance`` with every API URL aimed at the venue (as the integration tests do)."""
    exchange = ccxt.binance({
        "apiKey": venue.key.key, "secret": venue.key.secret, "enableRateLimit": False,
        "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchMargins": False,
                    "fetchCurrencies": False},
    })  # fmt: skip
    for name, url in exchange.urls["api"].items():
        exchange.urls["api"][name] = re.sub(r"^https://[^/]+", venue.base_url, url)
    exchange.load_markets()
    return exchange


def _signed(venue: _Venue, **params: Any) -> str:
    params["timestamp"] = time.time_ns() // 1_000_000
    payload = urlencode(params)
    signature = hmac.new(venue.key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}&signature={signature}"


def _order(venue: _Venue) -> str:
    return _signed(venue, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=QUANTITY,
                   price=venue.price, newOrderRespType="ACK")  # fmt: skip


def _urllib(venue: _Venue, method: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{venue.base_url}/api/v3/order?{query}", method=method,
                                     headers={"X-MBX-APIKEY": venue.key.key})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


class _KeepAlive:
    """Signed requests on one persistent ``http.client`` connection."""

    def __init__(self, venue: _Venue) -> None:
        self.venue = venue
        self.conn = http.client.HTTPConnection(urlsplit(venue.base_url).netloc, timeout=10)

    def __call__(self, method: str, query: str) -> dict[str, Any]:
        self.conn.request(method, f"/api/v3/order?{query}", headers={"X-MBX-APIKEY": self.venue.key.key})
        answer: dict[str, Any] = json.loads(self.conn.getresponse().read())
        return answer


def _measure(create: Callable[[], str], cancel: Callable[[str], object]) -> tuple[list[float], list[float]]:
    """Seconds per create and per cancel, warm-up excluded."""
    creates: list[float] = []
    cancels: list[float] = []
    for i in range(N_WARMUP + N_ORDERS):
        t0 = time.perf_counter()
        order_id = create()
        t1 = time.perf_counter()
        cancel(order_id)
        t2 = time.perf_counter()
        if i >= N_WARMUP:
            creates.append(t1 - t0)
            cancels.append(t2 - t1)
    return creates, cancels


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(name: str, seconds: list[float]) -> tuple[str, str, str, str]:
    p50, p99 = _percentile(seconds, 0.50) * 1e3, _percentile(seconds, 0.99) * 1e3
    return name, f"{len(seconds)}", f"{p50:.2f}", f"{p99:.2f}"


def rows() -> list[tuple[str, ...]]:
    """``(benchmark, orders, p50 ms, p99 ms)`` for each client: create, cancel, and the two together."""
    venue = _Venue()
    try:
        exchange = _ccxt(venue)
        ccxt_times = _measure(
            lambda: str(exchange.create_order("BTC/USDT", "limit", "buy", QUANTITY, venue.price)["id"]),
            lambda order_id: exchange.cancel_order(order_id, "BTC/USDT"),
        )
        urllib_times = _measure(
            lambda: str(_urllib(venue, "POST", _order(venue))["orderId"]),
            lambda order_id: _urllib(venue, "DELETE", _signed(venue, symbol="BTCUSDT", orderId=order_id)),
        )
        session = _KeepAlive(venue)
        kept_times = _measure(
            lambda: str(session("POST", _order(venue))["orderId"]),
            lambda order_id: session("DELETE", _signed(venue, symbol="BTCUSDT", orderId=order_id)),
        )
    finally:
        venue.stop()
    out: list[tuple[str, ...]] = []
    for client, (creates, cancels) in (("ccxt.binance", ccxt_times), ("urllib, new connection", urllib_times),
                                       ("http.client, kept alive", kept_times)):  # fmt: skip
        out.append(_row(f"{client}: create LIMIT", creates))
        out.append(_row(f"{client}: cancel", cancels))
        out.append(_row(f"{client}: create + cancel", [a + b for a, b in zip(creates, cancels, strict=True)]))
    return out


def main() -> None:
    print(f"{'REST order round trip (loopback)':48} {'orders':>10} {'p50 ms':>9} {'p99 ms':>9}")
    for name, count, p50, p99 in rows():
        print(f"{name:48} {count:>10} {p50:>9} {p99:>9}")


if __name__ == "__main__":
    main()
