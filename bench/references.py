"""Two reference backtests of the workload (``workload``): whole backtests, not signal counts.

Each computes the SMA 10/30 crossover on integer ticks (as THUNES compares its averages), keeps a
long-only position that enters on a cross up and exits on a cross down after the warm-up, sizes the
entry as THUNES does (the quote budget floored to the lot step at the signal bar's close), charges
the fee on every fill (in the base asset on a buy, in the quote asset on a sell, as the simulated
venue does), carries the unsellable remainder (dust) into the next exit, and produces the cash, the
position and the equity curve at every bar. They fill at the signal bar's close, where THUNES's venue
fills at its next price with slippage: final equities agree closely, not exactly.

- :func:`numpy_backtest`: vectorised. Crossings alternate, so entries and exits pair up; the dust
  carried from exit to exit is exact in integers (positions in millionths of a lot).
- :func:`numba_backtest`: one compiled loop (``@njit``) doing everything bar by bar: the moving sums,
  the crossing, the position, the fees and the equity. It is the fast path's yardstick: the most a
  compiled, fused single loop does on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workload import BUDGET, DEPOSIT, FAST, FEE_RATE, SLOW, WARMUP, close_ticks

PPM = 1_000_000  # positions in millionths of a lot: the base fee (a whole number of ppm) leaves no fraction
FEE_PPM = round(FEE_RATE * PPM)
MIN_NOTIONAL = 5.0  # the builtin instruments' NOTIONAL minimum: below it a remainder is dust, not a position


@dataclass(frozen=True, slots=True)
class RefResult:
    """What a reference backtest produced: its orders, fees paid (quote), final equity, the curve."""

    orders: int
    fees: float
    final_equity: float
    equity: np.ndarray


def numpy_backtest(close: np.ndarray, tick: float, step: float) -> RefResult:
    """The workload's whole backtest, vectorised (see module doc)."""
    n = len(close)
    ticks = close_ticks(close, tick)
    cum = np.concatenate((np.zeros(1, np.int64), np.cumsum(ticks)))
    end = np.arange(SLOW, n + 1)  # window ends (exclusive) for rows SLOW-1 ..
    above = SLOW * (cum[end] - cum[end - FAST]) > FAST * (cum[end] - cum[end - SLOW])
    cross = np.flatnonzero(above[1:] != above[:-1])
    rows, enter = cross + SLOW, above[cross + 1]
    keep = rows >= WARMUP
    rows, enter = rows[keep], enter[keep]
    if len(rows) and not enter[0]:
        rows = rows[1:]  # an exit while flat sends nothing
    entries, exits = rows[0::2], rows[1::2]
    price_in, price_out = close[entries], close[exits]
    lots = np.floor(BUDGET / price_in / step).astype(np.int64)
    held_ppm = np.cumsum(lots * (PPM - FEE_PPM))[: len(exits)]
    sold = np.diff(held_ppm // PPM, prepend=0)  # each exit sells every whole lot held, dust included
    paid, received = lots * step * price_in, sold * step * price_out
    cash = np.zeros(n)
    cash[entries] -= paid
    cash[exits] += received * (1 - FEE_RATE)
    position = np.zeros(n)
    position[entries] += lots * (PPM - FEE_PPM) * (step / PPM)
    position[exits] -= sold * step
    equity = DEPOSIT + np.cumsum(cash) + np.cumsum(position) * close
    fees = float(paid.sum() + received.sum()) * FEE_RATE
    return RefResult(len(entries) + len(exits), fees, float(equity[-1]) if n else DEPOSIT, equity)


def _fused_loop(close: Any, tick: float, step: float, fast: int, slow: int, warmup: int, budget: float,
                fee_ppm: int, deposit: float, min_notional: float) -> Any:  # fmt: skip
    """The whole backtest in one pass (compiled by :func:`numba_backtest`); returns
    (orders, fees, equity curve)."""
    n = len(close)
    equity = np.empty(n)
    window = np.zeros(slow, np.int64)  # the last ``slow`` closes in ticks, a ring
    sum_fast = sum_slow = 0
    previous = -1  # the last bar's comparison: -1 unknown, 0 below or equal, 1 above
    cash, held_ppm, fees, orders = deposit, 0, 0.0, 0
    fee = fee_ppm / 1_000_000
    for i in range(n):
        price = close[i]
        ticks = np.int64(np.rint(price / tick))
        if i >= fast:
            sum_fast -= window[(i - fast) % slow]
        if i >= slow:
            sum_slow -= window[i % slow]
        window[i % slow] = ticks
        sum_fast += ticks
        sum_slow += ticks
        if i >= slow - 1:
            above = 1 if slow * sum_fast > fast * sum_slow else 0
            if previous >= 0 and above != previous and i >= warmup:
                sellable = held_ppm // 1_000_000
                holding = sellable * step * price >= min_notional
                if above == 1 and not holding:
                    lots = np.int64(np.floor(budget / price / step))
                    if lots > 0:
                        notional = lots * step * price
                        cash -= notional
                        held_ppm += lots * (1_000_000 - fee_ppm)
                        fees += notional * fee
                        orders += 1
                elif above == 0 and holding:
                    notional = sellable * step * price
                    cash += notional * (1 - fee)
                    held_ppm -= sellable * 1_000_000
                    fees += notional * fee
                    orders += 1
            previous = above
        equity[i] = cash + held_ppm * (step / 1_000_000) * price
    return orders, fees, equity


_compiled: list[Any] = []


def numba_backtest(close: np.ndarray, tick: float, step: float) -> RefResult:
    """The workload's whole backtest in one compiled loop (the first call compiles, or loads numba's
    on-disk cache)."""
    if not _compiled:
        from numba import njit

        _compiled.append(njit(cache=True, nogil=True)(_fused_loop))
    orders, fees, equity = _compiled[0](close, tick, step, FAST, SLOW, WARMUP, BUDGET, FEE_PPM, DEPOSIT,
                                        MIN_NOTIONAL)  # fmt: skip
    return RefResult(int(orders), float(fees), float(equity[-1]) if len(equity) else DEPOSIT, equity)
