"""Per-order cost of the event-driven backtest (issue 16: at most 60 µs an order through sizing, risk,
filters, order manager, matching and ledger).

The workload is the issue's: synthetic one-minute bars (1,000,000 by default), an SMA 10/30 crossover,
the risk limits opened so that every signal trades (about 39,000 orders on 1M bars). The per-order
cost is the run's time less the strategy's scan of the same bars (what the run pays with no order at
all), over the orders sent. Not run by the tests; prints, never asserts a time.

    python bench/profile_orders.py [N_BARS]            # timings
    python bench/profile_orders.py [N_BARS] --profile  # cProfile of one run, top functions by own time
    python bench/profile_orders.py [N_BARS] --plain    # without app.speedups.install (its gain)
    python bench/profile_orders.py [N_BARS] --digest   # SHA-256 of every order report and fill (bit-for-bit
                                                       # comparisons of two versions of the code)

The cycle collector is set as ``thunes`` sets it at its entry point (:mod:`thunes.app.collector`), once
the bars are built; ``--default-gc`` leaves CPython's defaults.
"""

from __future__ import annotations

import cProfile
import hashlib
import pstats
import sys
import time
from typing import Any

N_BARS = 1_000_000
REPEATS = 3


def world(n_bars: int) -> tuple[Any, Any, Any, Any]:
    """(settings, instrument, bars, info) of the issue's workload, as :mod:`workload` defines it for the peers."""
    import workload
    from thunes.adapters.exchange_info_file import builtin_exchange_info

    info = builtin_exchange_info()
    market = workload.MARKETS[0]
    return workload.settings(), info.get(market.symbol), workload.bars(market, n_bars), info


def _run(built: tuple[Any, Any, Any, Any]) -> Any:
    from thunes.backtest.event import run_event_backtest

    settings, instrument, bars, info = built
    return run_event_backtest(settings, instrument, bars, info)


def _scan_seconds(built: tuple[Any, Any, Any, Any]) -> float:
    """The strategy's scan over every bar, nothing else: the run's cost without orders (CPU time)."""
    from thunes.app.composition import strategy_for
    from thunes.features.tick_bars import TickBars
    from thunes.strategy.base import Signal

    settings, instrument, bars, _ = built
    strategy = strategy_for(settings, instrument.tick_size)
    ticks = TickBars(bars, instrument.tick_size)
    start = time.process_time()
    for _first, _times, opens, highs, lows, closes in ticks.chunks():
        row, end = 0, len(opens)
        while row < end:
            hit, signal = strategy.scan(opens, highs, lows, closes, row, end)
            row = hit + 1 if signal is not Signal.HOLD else end
    return time.process_time() - start


def digest(result: Any) -> str:
    """SHA-256 over the reprs of every order report and fill, in order (Decimals' reprs keep exponents)."""
    h = hashlib.sha256()
    for report in result.orders:
        h.update(repr(report).encode())
    for fill in result.fills:
        h.update(repr(fill).encode())
    h.update(repr((result.stats, result.position, list(result.equity))).encode())
    return h.hexdigest()


def main(argv: list[str]) -> None:
    from thunes.app.collector import settle_process

    n_bars = int(next((a for a in argv if a.isdigit()), N_BARS))
    built = world(n_bars)
    if "--default-gc" not in argv:  # the collector as `thunes` sets it at its entry point
        settle_process()
    if "--digest" in argv:
        result = _run(built)
        print(f"bars={n_bars} orders={len(result.orders)} fills={len(result.fills)} digest={digest(result)}")
        return
    if "--profile" in argv:
        _run(world(5_000))  # imports and first-call costs out of the profile
        profiler = cProfile.Profile()
        profiler.enable()
        result = _run(built)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(70)
        return
    _run(world(5_000))  # imports and first-call costs out of the timing
    scan = min(_scan_seconds(built) for _ in range(REPEATS))
    best, best_cpu = float("inf"), float("inf")
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = _run(built)
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - start_cpu)
    orders = len(result.orders)
    per_order, per_order_cpu = ((t - scan) / orders * 1e6 if orders else float("nan") for t in (best, best_cpu))
    print(f"bars={n_bars} orders={orders} fills={len(result.fills)} run={best:.3f}s cpu={best_cpu:.3f}s "
          f"scan={scan:.3f}s per_bar={scan / n_bars * 1e9:.0f}ns per_order={per_order:.1f}µs "
          f"per_order_cpu={per_order_cpu:.1f}µs")  # fmt: skip


if __name__ == "__main__":
    if "--plain" not in sys.argv:  # --plain: the dataclasses' own constructors (what install() speeds up)
        from thunes.app.speedups import install

        install()
    main(sys.argv[1:])
