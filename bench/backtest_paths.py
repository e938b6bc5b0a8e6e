"""Backtest throughput on 1,000,000 one-minute bars: the event-driven path (every replayed market
event through the in-process venue, the trader, risk and filters), the fast path (vectorised
signals, the same engine core on signal bars only) and a plain numpy SMA crossover (the floor).

Each path runs in its own process so its peak RSS is its own: ``python bench/backtest_paths.py PATH``
prints one JSON line; :func:`rows` runs all three.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

N_BARS = 1_000_000
PATHS = ("numpy", "fast", "event")


def _measure(path: str, n_bars: int) -> dict[str, Any]:
    from thunes.adapters.datastore.synthetic import generate_ohlcv
    from thunes.adapters.exchange_info_file import builtin_exchange_info
    from thunes.app.config import load_settings
    from thunes.domain import Timeframe

    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, n_bars, seed=0)
    info = builtin_exchange_info()
    instrument = info.get("BTCUSDT")
    settings = load_settings(env={})
    start = time.perf_counter()
    fills = 0
    if path == "numpy":
        import numpy as np

        c = np.concatenate(([0.0], np.cumsum(bars.close)))
        fast, slow = (c[20:] - c[:-20]) / 20, (c[50:] - c[:-50]) / 50
        fills = int(np.count_nonzero(np.diff((fast[30:] > slow).astype(np.int8))))
    elif path == "fast":
        from thunes.app.fast_backtest import run_fast_backtest

        fills = len(run_fast_backtest(settings, instrument, bars, info).fills)
    else:
        from thunes.app.event_backtest import run_event_backtest

        fills = len(run_event_backtest(settings, instrument, bars, info).fills)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"path": path, "bars": n_bars, "seconds": seconds, "peak_rss_mb": peak_mb, "fills": fills}


def rows(n_bars: int = N_BARS) -> list[dict[str, Any]]:
    """One measurement per path, each in a fresh interpreter."""
    out = []
    for path in PATHS:
        done = subprocess.run([sys.executable, __file__, path, str(n_bars)], check=True, capture_output=True,
                              text=True, env={**os.environ, "THUNES_LOGGING__LEVEL": "WARNING"})  # fmt: skip
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 2:
        print(json.dumps(_measure(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else N_BARS)))
    else:
        for row in rows():
            print(row)
