"""Matching-core throughput: orders/s and market events/s of the in-process SimVenue.

Each row runs on a fresh venue, three times, and keeps the fastest run (as ``run._best_of`` does). A
consumer drains the account's reports after every request, as the server and the engine do; nothing
is reused between requests but the request parameters themselves. "Decimal API" rows call
``place_order`` with ``OrderParams``; "tick API" rows call ``place_order_ticks`` with the same orders
in integer ticks and lots. Issue 3 targets: >= 100,000 orders/s and >= 1,000,000 market events/s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderType, Side, TimeInForce
from thunes.simvenue import OrderParams, SimVenue

N_ORDERS = 20_000
N_EVENTS = 300_000
REPEAT = 3
START_NS = 1_700_000_000_000_000_000
SYMBOL = "BTCUSDT"
GTC = TimeInForce.GTC
LIMIT = OrderParams(SYMBOL, Side.BUY, OrderType.LIMIT, Decimal("0.01"), price=Decimal(29_000), time_in_force=GTC)
MARKET = OrderParams(SYMBOL, Side.BUY, OrderType.MARKET, Decimal("0.001"))
LIMIT_TICKS = (SYMBOL, Side.BUY, OrderType.LIMIT, 1_000, 2_900_000, GTC)  # 0.01 BTC at 29000.00
MARKET_TICKS = (SYMBOL, Side.BUY, OrderType.MARKET, 100)  # 0.001 BTC
ACCOUNTS = [f"resting{i}" for i in range(200)]  # 100 open orders each, under MAX_NUM_ORDERS (200)


def _venue() -> SimVenue:
    venue = SimVenue(builtin_exchange_info().instruments, lambda: START_NS)
    venue.deposit("bench", "USDT", Decimal(10**12))
    venue.deposit("bench", "BTC", Decimal(10**6))
    for account in ACCOUNTS:
        venue.deposit(account, "USDT", Decimal(10**9))
    venue.on_trade(SYMBOL, Decimal(30_000), Decimal(1))
    venue.on_quote(SYMBOL, Decimal("29999.99"), Decimal(100), Decimal(30_000), Decimal(100))
    return venue


def _with_resting(n: int) -> SimVenue:
    """A venue with ``n`` resting BUY orders at 29000, 28999, ... spread over the accounts (trades at 30000
    cross none of them)."""
    venue = _venue()
    for k in range(n):
        params = OrderParams(SYMBOL, Side.BUY, OrderType.LIMIT, Decimal("0.01"), price=Decimal(29_000 - k),
                             time_in_force=GTC)  # fmt: skip
        account = "bench" if n <= 100 else ACCOUNTS[k % len(ACCOUNTS)]
        venue.place_order(account, params)
        venue.drain(account)
    return venue


def _best(items: int, make: Callable[[], SimVenue], run: Callable[[SimVenue], object]) -> tuple[int, float]:
    best = float("inf")
    for _ in range(REPEAT):
        venue = make()
        start = time.perf_counter()
        run(venue)
        best = min(best, time.perf_counter() - start)
    return items, best


def _place_cancel(venue: SimVenue) -> None:
    for _ in range(N_ORDERS // 2):
        order = venue.place_order("bench", LIMIT)
        venue.cancel_order("bench", SYMBOL, order.order_id)
        venue.drain("bench")


def _place_cancel_ticks(venue: SimVenue) -> None:
    for _ in range(N_ORDERS // 2):
        order = venue.place_order_ticks("bench", *LIMIT_TICKS)
        venue.cancel_order("bench", SYMBOL, order.order_id)
        venue.drain("bench")


def _resting(venue: SimVenue) -> None:
    for i in range(N_ORDERS):
        account = ACCOUNTS[i % len(ACCOUNTS)]
        venue.place_order(account, LIMIT)
        venue.drain(account)


def _resting_ticks(venue: SimVenue) -> None:
    for i in range(N_ORDERS):
        account = ACCOUNTS[i % len(ACCOUNTS)]
        venue.place_order_ticks(account, *LIMIT_TICKS)
        venue.drain(account)


def _market(venue: SimVenue) -> None:
    for _ in range(N_ORDERS):
        venue.place_order("bench", MARKET)
        venue.drain("bench")


def _market_ticks(venue: SimVenue) -> None:
    for _ in range(N_ORDERS):
        venue.place_order_ticks("bench", *MARKET_TICKS)
        venue.drain("bench")


def _trades(venue: SimVenue) -> None:
    price, qty = Decimal(30_000), Decimal("0.01")
    for _ in range(N_EVENTS):
        venue.on_trade(SYMBOL, price, qty)


def _quotes_and_trades(venue: SimVenue) -> None:
    """A replay's mix: a quote, then a trade at the ask, with prices moving."""
    prices = [Decimal(30_000) + Decimal(k) / 100 for k in range(100)]
    bid_qty, ask_qty, qty = Decimal(2), Decimal(3), Decimal("0.01")
    tick = Decimal("0.01")
    for i in range(N_EVENTS // 2):
        ask = prices[i % 100]
        venue.on_quote(SYMBOL, ask - tick, bid_qty, ask, ask_qty)
        venue.on_trade(SYMBOL, ask, qty)


def _crossing_trades(venue: SimVenue) -> None:
    """Every 100th trade goes through all 3000 resting orders and fills the best one; the rest cross nothing."""
    quiet, through, qty = Decimal(30_000), Decimal(25_000), Decimal("0.01")
    for i in range(N_EVENTS):
        if i % 100 == 99:
            venue.on_trade(SYMBOL, through, qty)
            venue.drain(ACCOUNTS[(i // 100) % len(ACCOUNTS)])  # the owner of the order that just filled
        else:
            venue.on_trade(SYMBOL, quiet, qty)


def rows() -> list[tuple[str, int, float]]:
    """(name, items, seconds) for each measurement."""
    return [
        ("core place+cancel LIMIT (Decimal API, requests)", *_best(N_ORDERS, _venue, _place_cancel)),
        ("core place+cancel LIMIT (tick API, requests)", *_best(N_ORDERS, _venue, _place_cancel_ticks)),
        ("core LIMIT resting (Decimal API)", *_best(N_ORDERS, _venue, _resting)),
        ("core LIMIT resting (tick API)", *_best(N_ORDERS, _venue, _resting_ticks)),
        ("core MARKET with fills (Decimal API)", *_best(N_ORDERS, _venue, _market)),
        ("core MARKET with fills (tick API)", *_best(N_ORDERS, _venue, _market_ticks)),
        ("market events, no resting orders", *_best(N_EVENTS, _venue, _trades)),
        ("market events, 100 resting orders", *_best(N_EVENTS, lambda: _with_resting(100), _trades)),
        ("market events, 100 resting, quote + trade", *_best(N_EVENTS, lambda: _with_resting(100), _quotes_and_trades)),
        ("market events, 3000 resting, 1% fill one", *_best(N_EVENTS, lambda: _with_resting(3000), _crossing_trades)),
    ]  # fmt: skip


def rows_in_own_process() -> list[tuple[str, int, float]]:
    """:func:`rows` in a fresh interpreter: the caller's heap (``make bench`` holds a million bars)
    would otherwise make every garbage collection the order path triggers walk it too."""
    done = subprocess.run([sys.executable, __file__, "--json"], check=True, capture_output=True, text=True)
    return [(name, items, seconds) for name, items, seconds in json.loads(done.stdout)]


if __name__ == "__main__":
    from thunes.app.speedups import install

    install()  # as `thunes venue serve` does
    if sys.argv[1:] == ["--json"]:
        print(json.dumps(rows()))
        sys.exit(0)
    print(f"{'matching core':48} {'items':>10} {'seconds':>9} {'items/s':>14}")
    for name, items, seconds in rows():
        print(f"{name:48} {items:>10,} {seconds:>9.4f} {items / seconds:>14,.0f}")
