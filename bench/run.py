"""Speed and memory benchmarks (``make bench``). Prints tables; never asserts timings.

The first table's throughputs are compared with a plain numpy SMA crossover over the same bars (the
crossings only: the floor of a vectorised signal, so noisy machines can read ratios). Whole
backtests are compared with real peers on one workload in :mod:`peer_table`.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np

import engine_path
import nats_bus
import peer_table
import shadow_cli
import venue_core
import venue_rest
from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import (
    ClientOrderId,
    MarketContext,
    OrderRequest,
    OrderType,
    Side,
    Symbol,
    Timeframe,
    normalize_order,
)
from thunes.features import OHLCV, iter_bars
from thunes.strategy import RsiReversion, SmaCross

N_BARS = 1_000_000
N_INCREMENTAL = 100_000
N_ORDERS = 20_000


def _best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _numpy_sma_reference(bars: OHLCV) -> np.ndarray:
    close = bars.close
    c = np.concatenate(([0.0], np.cumsum(close)))
    fast = (c[20:] - c[:-20]) / 20
    slow = (c[50:] - c[:-50]) / 50
    above = fast[30:] > slow
    return np.diff(above.astype(np.int8))


def _orders(instrument_tick: Decimal) -> list[OrderRequest]:
    rng = np.random.default_rng(1)
    prices = 40_000 + rng.normal(0, 500, N_ORDERS)
    qtys = rng.uniform(0.0001, 0.05, N_ORDERS)
    symbol = Symbol("BTCUSDT")
    return [
        OrderRequest(
            ClientOrderId(f"b{i}"), symbol, Side.BUY, OrderType.LIMIT, Decimal(f"{q:.9f}"), Decimal(f"{p:.5f}")
        )
        for i, (p, q) in enumerate(zip(prices, qtys, strict=True))
    ]


def main() -> None:
    from thunes.app.speedups import install

    install()  # the trading path's constructors as a `thunes` process that runs the engine has them
    instrument = builtin_exchange_info().get("BTCUSDT")
    tick = instrument.tick_size
    start = time.perf_counter()
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, N_BARS, seed=0)
    generate_s = time.perf_counter() - start
    sma, rsi = SmaCross(tick_size=tick), RsiReversion(tick_size=tick)
    small = bars.slice(0, N_INCREMENTAL)
    small_bars = list(iter_bars(small, tick))
    orders = _orders(tick)
    ctx = MarketContext(Decimal(40_000))

    def validate_all() -> None:
        for order in orders:
            normalize_order(instrument, order, ctx)

    def incremental() -> None:
        sma.reset()
        for bar in small_bars:
            sma.on_bar(bar)

    rows: list[tuple[str, int, float]] = [
        ("synthetic generator (1m bars)", N_BARS, generate_s),
        ("numpy SMA crossings (signals only, floor)", N_BARS, _best_of(lambda: _numpy_sma_reference(bars))),
        ("SmaCross.signals (int ticks, vectorised)", N_BARS, _best_of(lambda: sma.signals(bars))),
        ("RsiReversion.signals (Wilder, vectorised)", N_BARS, _best_of(lambda: rsi.signals(bars), 1)),
        ("SmaCross.on_bar (incremental, Decimal bars)", N_INCREMENTAL, _best_of(incremental, 1)),
        ("normalize_order (round + every filter)", N_ORDERS, _best_of(validate_all, 1)),
    ]  # fmt: skip
    floor = rows[1][1] / rows[1][2]
    print(f"{'benchmark':48} {'items':>10} {'seconds':>9} {'items/s':>14} {'vs numpy':>9}")
    for name, items, seconds in rows:
        rate = items / seconds
        print(f"{name:48} {items:>10,} {seconds:>9.4f} {rate:>14,.0f} {rate / floor:>9.3f}")
    print()
    print(f"{'matching core':48} {'items':>10} {'seconds':>9} {'items/s':>14}")
    for name, items, seconds in venue_core.rows_in_own_process():
        print(f"{name:48} {items:>10,} {seconds:>9.4f} {items / seconds:>14,.0f}")
    print()
    print(f"{'REST order round trip (loopback)':48} {'orders':>10} {'p50 ms':>9} {'p99 ms':>14}")
    for name, orders, p50, p99 in venue_rest.rows():
        print(f"{name:48} {orders:>10} {p50:>9} {p99:>14}")
    print()
    print(f"{'trading path':48} {'n':>10} {'p50':>9} {'p99':>14}")
    for name, n, p50, p99 in engine_path.gate_rows() + engine_path.latency_rows():
        print(f"{name:48} {n:>10,} {p50:>9.3f} {p99:>14.3f}")
    print()
    print(f"{'RL shadow (its own process, target >= 10,000/s)':48} {'decisions':>10} {'actions/s':>9} "
          f"{'CPU us/line':>12} {'p95 us':>7} {'orders':>7}")  # fmt: skip
    for name, decisions, rate, cpu, p95, orders in shadow_cli.rows():
        print(f"{name:48} {decisions:>10,} {rate:>9,.0f} {cpu:>12,.0f} {p95:>7,.0f} {orders:>7}")
    print()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak RSS of this process (the tables above, MB)':48} {peak_mb:>10.0f}")
    print()
    peer_table.main()
    nats_bus.main()  # bus publish to JetStream beside raw nats-py loops (skipped without nats-server)


if __name__ == "__main__":
    main()
