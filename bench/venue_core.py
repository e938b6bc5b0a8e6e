"""Matching-core throughput: orders/s and market events/s of the in-process SimVenue."""

from __future__ import annotations

import time
from decimal import Decimal

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderType, Side, TimeInForce
from thunes.simvenue import OrderParams, SimVenue

N_ORDERS = 20_000
N_EVENTS = 300_000
START_NS = 1_700_000_000_000_000_000


def _venue() -> SimVenue:
    venue = SimVenue(builtin_exchange_info().instruments, lambda: START_NS)
    venue.deposit("bench", "USDT", Decimal(10**12))
    venue.deposit("bench", "BTC", Decimal(10**6))
    venue.on_trade("BTCUSDT", Decimal(30_000), Decimal(1))
    venue.on_quote("BTCUSDT", Decimal("29999.99"), Decimal(100), Decimal(30_000), Decimal(100))
    return venue


def _rate(n: int, fn: object) -> tuple[int, float]:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return n, time.perf_counter() - start


def rows() -> list[tuple[str, int, float]]:  # noqa: C901 - one closure per measurement, read top to bottom
    """(name, items, seconds) for each measurement."""
    venue = _venue()
    limit = OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"), price=Decimal(29_000),
                        time_in_force=TimeInForce.GTC)  # fmt: skip
    market = OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.001"))

    # A consumer drains the reports as it goes, as the server and the engine do.
    def place_cancel() -> None:
        for _ in range(N_ORDERS // 2):
            order = venue.place_order("bench", limit)
            venue.cancel_order("bench", "BTCUSDT", order.order_id)
            venue.drain("bench")

    accounts = [f"resting{i}" for i in range(200)]
    for account in accounts:
        venue.deposit(account, "USDT", Decimal(10**9))

    def place_resting() -> None:  # up to 200 open orders per account, the MAX_NUM_ORDERS limit
        for i in range(N_ORDERS):
            account = accounts[i % len(accounts)]
            venue.place_order(account, limit)
            venue.drain(account)

    def market_orders() -> None:
        for _ in range(N_ORDERS):
            venue.place_order("bench", market)
            venue.drain("bench")

    price, qty = Decimal(30_000), Decimal("0.01")
    quiet = _venue()

    def trades() -> None:
        for _ in range(N_EVENTS):
            quiet.on_trade("BTCUSDT", price, qty)

    resting = _venue()
    for k in range(100):
        resting.place_order("bench", OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"),
                                                 price=Decimal(29_000 - k), time_in_force=TimeInForce.GTC))  # fmt: skip

    def trades_with_book() -> None:
        for _ in range(N_EVENTS):
            resting.on_trade("BTCUSDT", price, qty)

    return [
        ("SimVenue place + cancel LIMIT (requests)", *_rate(N_ORDERS, place_cancel)),
        ("SimVenue place resting LIMIT (orders)", *_rate(N_ORDERS, place_resting)),
        ("SimVenue MARKET orders with fills", *_rate(N_ORDERS, market_orders)),
        ("SimVenue market trades, no resting orders", *_rate(N_EVENTS, trades)),
        ("SimVenue market trades, 100 resting orders", *_rate(N_EVENTS, trades_with_book)),
    ]
