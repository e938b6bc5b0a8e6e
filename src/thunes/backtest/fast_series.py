"""Compiled passes over a whole series for the fast path: the SMA crossover's signal rows, and the
equity at every close from the kernel's fills.

Both are exact copies of numpy code they are tested equal to, compiled so that a million bars cost one
pass each instead of a dozen array temporaries: :func:`sma_cross_rows` is ``SmaCross.signals`` (the
sums of integer ticks, compared in integers) cut to the rows after the warm-up, and
:func:`equity_units` the float of an exact integer amount at each close
(``fast_result.KernelTrades.equity_curve``). A price numpy would turn into no integer tick (beyond
64 bits, or not finite) stops the pass: the caller takes the numpy way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from thunes.backtest.fast_jit import FINGERPRINT, entry
from thunes.backtest.fast_layout import FloatArray, IntArray
from thunes.features.ohlcv import OHLCV
from thunes.strategy.base import SignalArray, Strategy
from thunes.strategy.sma_cross import SmaCross

__all__ = ["compiled_signal_rows", "equity_units", "sma_cross_rows"]

_TICKS_LIMIT = 9.2e18  # below 2**63: a float tick count that converts to int64 as numpy converts it
SignalRows = Callable[[FloatArray, float, int, int, int], tuple[IntArray, SignalArray, bool]]
EquityUnits = Callable[
    [IntArray, FloatArray, float, int, int, IntArray, IntArray, IntArray, int, int, float],
    tuple[IntArray, FloatArray, int, bool],
]


@entry(FINGERPRINT, runtime=True)
def sma_cross_rows(fingerprint: str) -> SignalRows:
    def sma_cross_rows(
        close: FloatArray, tick: float, fast: int, slow: int, warmup: int
    ) -> tuple[IntArray, SignalArray, bool]:
        """Rows from ``warmup`` on where the fast average of the closes (in ticks) crosses the slow one,
        and the signal there (+1 up, -1 down): ``SmaCross.signals``'s; False when a close has no tick."""
        fingerprint  # noqa: B018 -- in numba's cache key (``fast_jit.entry``)
        n = len(close)
        ticks = np.empty(n, np.int64)
        rows = np.empty(max(n - slow, 0), np.int64)
        signals = np.empty(max(n - slow, 0), np.int8)
        count, sum_fast, sum_slow, above = 0, 0, 0, False
        for i in range(n):
            x = np.rint(close[i] / tick)
            if not abs(x) < _TICKS_LIMIT:
                return rows[:0], signals[:0], False
            t = int(x)
            ticks[i] = t
            sum_fast += t if i < fast else t - int(ticks[i - fast])  # the last ``fast`` ticks
            sum_slow += t if i < slow else t - int(ticks[i - slow])
            if i >= slow - 1:
                now = slow * sum_fast > fast * sum_slow
                if i >= slow and now != above and i >= warmup:
                    rows[count], signals[count] = i, 1 if now else -1
                    count += 1
                above = now
        return rows[:count].copy(), signals[:count].copy(), True

    return sma_cross_rows


def compiled_signal_rows(strategy: Strategy, bars: OHLCV, warmup_bars: int) -> tuple[IntArray, SignalArray] | None:
    """``fast.signal_rows`` by a compiled pass for the strategies that have one (``SmaCross``); None
    for the others, or when a price has no tick numpy would agree on."""
    if type(strategy) is not SmaCross or len(bars) <= strategy.slow:
        return None
    rows, signals, ok = sma_cross_rows(np.ascontiguousarray(bars.close, dtype=np.float64), float(strategy.tick_size),
                                       strategy.fast, strategy.slow, warmup_bars)  # fmt: skip
    return (rows, signals) if ok else None


@entry(FINGERPRINT, runtime=True)
def equity_units(fingerprint: str) -> EquityUnits:
    def equity_units(
        open_time_ns: IntArray,
        close: FloatArray,
        tick: float,
        span_ns: int,
        warmup: int,
        booked: IntArray,
        quote: IntArray,
        base: IntArray,
        quote_scale: int,
        base_scale: int,
        unit: float,
    ) -> tuple[IntArray, FloatArray, int, bool]:
        """Close times and equity of rows ``warmup`` on: ``quote[k] * quote_scale + base[k] * close_ticks *
        base_scale`` over ``unit``, ``k`` the fills booked at or before the row (``booked``: each fill's
        row, in order; ``quote``/``base``: balances after 0, 1, ... fills). Also the highest close in
        ticks, for the caller's exactness check; False when a close has no tick."""
        fingerprint  # noqa: B018 -- in numba's cache key (``fast_jit.entry``)
        n = len(close)
        size = max(n - warmup, 0)
        times, values = np.empty(size, np.int64), np.empty(size, np.float64)
        k, top = 0, 0
        for i in range(size):
            row = warmup + i
            while k < len(booked) and booked[k] <= row:
                k += 1
            x = np.rint(close[row] / tick)
            if not abs(x) < _TICKS_LIMIT:
                return times, values, top, False
            t = int(x)
            top = max(top, t)
            values[i] = float(quote[k] * quote_scale + base[k] * t * base_scale) / unit
            times[i] = open_time_ns[row] + span_ns
        return times, values, top, True

    return equity_units
