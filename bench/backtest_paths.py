"""Backtest throughput on 1,000,000 one-minute bars: the event-driven path (every replayed market
event through the in-process venue, the trader, risk and filters), the fast path (vectorised
signals, then the compiled kernel on the signal bars: the engine core's decisions in integers) and
a plain numpy SMA crossover (the floor).

Each path runs in its own process so its peak RSS is its own: ``python bench/backtest_paths.py PATH``
prints one JSON line; :func:`rows` runs all three.

The timing is steady-state: each path imports its modules, and the fast path runs once on a small
series, before the clock starts. That first call compiles the kernel (numba, a few seconds) or loads
it from numba's on-disk cache (``cache=True``, once compiled): it is reported apart, as
``first_call_seconds``. ``seconds`` is the best of ``REPEATS`` timed runs (wall clock) and
``cpu_seconds`` the best in CPU time: on a shared VM the wall clock also counts time the host gave
to others, so the bench prints both; ``peak_rss_mb`` is the
process's peak after them. The fast path's result builds its ``Fill``/``OrderReport`` objects only
when they are read: ``fills`` counts them from the kernel's columns, and ``materialise_seconds`` and
``peak_rss_mb_materialised`` say what building them all costs afterwards (untimed otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

N_BARS = 1_000_000
PATHS = ("numpy", "fast", "event")
REPEATS = {"numpy": 3, "fast": 3, "event": 3}
WARM_BARS = 5_000


def _numpy(bars: Any, extra: dict[str, Any]) -> Callable[[], Any]:
    import numpy as np

    def run() -> int:
        c = np.concatenate(([0.0], np.cumsum(bars.close)))
        fast, slow = (c[20:] - c[:-20]) / 20, (c[50:] - c[:-50]) / 50
        return int(np.count_nonzero(np.diff((fast[30:] > slow).astype(np.int8))))

    return run


def _fast(bars: Any, extra: dict[str, Any]) -> Callable[[], Any]:
    from thunes.adapters.datastore.synthetic import generate_ohlcv
    from thunes.backtest.fast import run_fast_backtest

    settings, instrument, info = _world()
    small = generate_ohlcv("BTCUSDT", bars.timeframe, WARM_BARS, seed=1)
    start = time.perf_counter()
    warm = run_fast_backtest(settings, instrument, small, info)  # compiles the kernel, or loads it from the cache
    extra["first_call_seconds"] = round(time.perf_counter() - start, 3)
    extra["kernel"] = warm.kernel
    return lambda: run_fast_backtest(settings, instrument, bars, info)


def _event(bars: Any, extra: dict[str, Any]) -> Callable[[], Any]:
    from thunes.backtest.event import run_event_backtest

    settings, instrument, info = _world()
    return lambda: run_event_backtest(settings, instrument, bars, info)


def _world() -> tuple[Any, Any, Any]:
    from thunes.adapters.exchange_info_file import builtin_exchange_info
    from thunes.app.config import load_settings

    info = builtin_exchange_info()
    return load_settings(env={}), info.get("BTCUSDT"), info


def _count(path: str, result: Any, extra: dict[str, Any]) -> int:
    if path == "numpy":
        return int(result)
    if path == "event":
        return len(result.fills)
    extra["kernel"] = extra["kernel"] and result.kernel
    start = time.perf_counter()
    materialised = len(result.fills)  # every Fill and OrderReport built, once
    extra["materialise_seconds"] = round(time.perf_counter() - start, 3)
    extra["peak_rss_mb_materialised"] = _peak_mb()
    assert materialised == result.fill_count
    return int(result.fill_count)


def _peak_mb() -> float:
    from thunes.adapters.proc import peak_rss_bytes  # VmHWM: this process's own peak, not its parent's

    return peak_rss_bytes() / 2**20


def _measure(path: str, n_bars: int) -> dict[str, Any]:
    from thunes.adapters.datastore.synthetic import generate_ohlcv
    from thunes.domain import Timeframe

    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, n_bars, seed=0)
    extra: dict[str, Any] = {}
    run = {"numpy": _numpy, "fast": _fast, "event": _event}[path](bars, extra)
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(REPEATS[path]):
        result = None  # the last run's result goes first: the peak is one run's, not two
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - start_cpu)
    peak_mb = _peak_mb()
    fills = _count(path, result, extra)
    return {"path": path, "bars": n_bars, "seconds": best, "cpu_seconds": best_cpu,
            "bars_per_second": round(n_bars / best), "peak_rss_mb": peak_mb, "fills": fills, **extra}  # fmt: skip


def rows(n_bars: int = N_BARS) -> list[dict[str, Any]]:
    """One measurement per path, each in a fresh interpreter."""
    out = []
    env = {**os.environ, "THUNES_LOGGING__LEVEL": "WARNING"}
    # Compile the kernel into numba's disk cache in a throwaway process first: a fresh checkout's
    # compile peaks higher than any steady run, and that is not what the fast path costs a sweep.
    subprocess.run([sys.executable, __file__, "fast", str(WARM_BARS)], check=True, capture_output=True, env=env)
    for path in PATHS:
        done = subprocess.run([sys.executable, __file__, path, str(n_bars)], check=True, capture_output=True,
                              text=True, env=env)  # fmt: skip
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 2:
        print(json.dumps(_measure(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else N_BARS)))
    else:
        for row in rows():
            print(row)
