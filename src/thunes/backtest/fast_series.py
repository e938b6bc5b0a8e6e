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

import math
from collections.abc import Callable

import numpy as np

from thunes.backtest.fast_jit import FINGERPRINT, entry, helper
from thunes.backtest.fast_layout import NS_PER_MS, FloatArray, IntArray
from thunes.features.ohlcv import OHLCV
from thunes.strategy.base import SignalArray, Strategy
from thunes.strategy.sma_cross import SmaCross

__all__ = ["compiled_signal_rows", "equity_units", "sma_cross_rows"]

_TICKS_LIMIT = 9.2e18  # below 2**63: a float tick count that converts to int64 as numpy converts it
SignalRows = Callable[[FloatArray, float, int, int, int], tuple[IntArray, SignalArray, bool]]
EquityUnits = Callable[
    [
        IntArray,
        FloatArray,
        float,
        int,
        int,
        IntArray,
        IntArray,
        IntArray,
        IntArray,
        IntArray,
        IntArray,
        float,
        IntArray,
        FloatArray,
    ],
    bool,
]
_EXACT = 1 << 53  # integers below this are exact doubles
U_DEPOSIT, U_LOT, U_NOTIONAL, U_BASE_FEE, U_QUOTE_FEE, U_QUOTE_SCALE, U_BASE_SCALE = range(7)  # equity_units'


@entry(FINGERPRINT, runtime=True)
def sma_cross_rows(fingerprint: str) -> SignalRows:
    def sma_cross_rows(
        close: FloatArray, tick: float, fast: int, slow: int, warmup: int
    ) -> tuple[IntArray, SignalArray, bool]:
        """Rows from ``warmup`` on where the fast average of the closes (in ticks) crosses the slow one,
        and the signal there (+1 up, -1 down): ``SmaCross.signals``'s; False when a close has no tick."""
        fingerprint  # noqa: B018 -- in numba's cache key (``fast_jit.entry``)
        n = len(close)
        size = 1
        while size <= slow:
            size *= 2
        ring, mask = np.zeros(size, np.int64), size - 1  # the last ticks, row i's at i & mask: no array of n
        rows = np.empty(max(n - slow, 0), np.int64)
        signals = np.empty(max(n - slow, 0), np.int8)
        count, sum_fast, sum_slow, above = 0, 0, 0, False
        for i in range(n):
            x = np.rint(close[i] / tick)
            if not abs(x) < _TICKS_LIMIT:
                return rows[:0], signals[:0], False
            t = int(x)
            ring[i & mask] = t
            sum_fast += t if i < fast else t - ring[(i - fast) & mask]  # the last ``fast`` ticks
            sum_slow += t if i < slow else t - ring[(i - slow) & mask]
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


@helper
def _balances(
    open_time_ns: IntArray,
    span_ns: int,
    rows: IntArray,
    sides: IntArray,
    filled: IntArray,
    prices: IntArray,
    commissions: IntArray,
    units: IntArray,
    booked: IntArray,
    quote: IntArray,
    base: IntArray,
) -> tuple[int, int]:
    """Fill ``booked`` with each fill's row (the first whose close is at or after the fill's millisecond
    time), ``quote`` and ``base`` with the balances after 0, 1, ... fills (``units``: see
    :func:`equity_units`); their largest magnitudes."""
    nf = len(rows)
    q, b, top_q, top_b = units[U_DEPOSIT], 0, abs(units[U_DEPOSIT]), 0
    quote[0], base[0] = q, b
    for k in range(nf):
        row = rows[k]
        booked_ns = ((open_time_ns[row] + span_ns) // NS_PER_MS) * NS_PER_MS - span_ns
        while row > 0 and open_time_ns[row - 1] >= booked_ns:  # a fill is booked at its bar unless bars overlap a ms
            row -= 1
        booked[k] = row
        notional = prices[k] * filled[k] * units[U_NOTIONAL]
        if sides[k] > 0:
            q -= notional
            b += filled[k] * units[U_LOT] - commissions[k] * units[U_BASE_FEE]
        else:
            q += notional - commissions[k] * units[U_QUOTE_FEE]
            b -= filled[k] * units[U_LOT]
        quote[k + 1], base[k + 1] = q, b
        top_q, top_b = max(top_q, abs(q)), max(top_b, abs(b))
    return top_q, top_b


@entry(FINGERPRINT, runtime=True)
def equity_units(fingerprint: str) -> EquityUnits:
    def equity_units(
        open_time_ns: IntArray,
        close: FloatArray,
        tick: float,
        span_ns: int,
        warmup: int,
        rows: IntArray,
        sides: IntArray,
        filled: IntArray,
        prices: IntArray,
        commissions: IntArray,
        units: IntArray,
        unit: float,
        times: IntArray,
        values: FloatArray,
    ) -> bool:
        """Close times and equity of rows ``warmup`` on, from the kernel's fills (columns as
        ``KernelTrades``'): ``(quote * quote_scale + base * close_ticks * base_scale) / unit`` with the
        balances of the fills booked at or before the row. ``units`` holds the deposit, one lot, one
        tick-lot, one base and one quote commission unit in the balances' units, and the two scales.
        False when an amount would not be an exact double (the caller rebuilds the curve from the fills)."""
        fingerprint  # noqa: B018 -- in numba's cache key (``fast_jit.entry``)
        n = len(close)
        size = max(n - warmup, 0)
        nf = len(rows)
        booked, quote, base = np.empty(nf, np.int64), np.empty(nf + 1, np.int64), np.empty(nf + 1, np.int64)
        top_q, top_b = _balances(open_time_ns, span_ns, rows, sides, filled, prices, commissions, units, booked,
                                 quote, base)  # fmt: skip
        quote_scale, base_scale = units[U_QUOTE_SCALE], units[U_BASE_SCALE]
        if top_q > _EXACT // quote_scale or (top_b > 0 and top_b > _EXACT // base_scale):
            return False
        room = _EXACT - top_q * quote_scale  # every numerator stays below 2**53: exact as a double
        limit = float(room // (top_b * base_scale)) if top_b > 0 else math.inf
        top, no_tick = 0.0, False
        for i in range(size):  # no branch in these loops: numba vectorises them
            times[i] = open_time_ns[warmup + i] + span_ns
            x = np.rint(close[warmup + i] / tick)
            values[i] = x  # the close in ticks, for now
            top, no_tick = max(top, abs(x)), no_tick | np.isnan(x)
        if no_tick or not top <= limit:
            return False
        k, start = 0, warmup
        while start < n:  # rows start..stop - 1 hold the balances after k fills
            while k < nf and booked[k] <= start:
                k += 1
            stop = booked[k] if k < nf else n
            q, b = quote[k] * quote_scale, base[k] * base_scale
            segment = values[start - warmup : stop - warmup]
            for i in range(len(segment)):
                segment[i] = float(q + b * int(segment[i])) / unit
            start = stop
        return True

    return equity_units
