"""The fast backtest's compiled kernel: the engine core's decisions at every signal bar, in integers.

For each signal row it does what ``Trader.act`` sets in motion: the sizing, the risk gate and the
booking (``fast_risk``), and the venue's MARKET order (``simvenue``: filters at the average price, the
close's quote and slippage as ``replay.bar_events`` leaves them (``fast_market``), balance checks, the
fee rounded up). Prices are ticks, quantities lots or base units, balances quote units: every amount
is an exact integer (``fast_plan`` digests each rule into integers, ``fast_layout`` says where each
sits). Where the engine itself uses a float and the kernel cannot be sure of its exact answer, the
kernel stops with a ``B_*`` code and the caller runs the engine core.

numba compiles it once into its disk cache (``fast_jit``: keyed on every kernel module's source).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from thunes.backtest.fast_jit import FINGERPRINT, entry, helper, inlined, prefetch
from thunes.backtest.fast_layout import (
    B_EXIT,
    B_PNL,
    B_PRICE,
    B_SIZING,
    B_VOLUME,
    BAD,
    C_EXIT,
    M_C,
    M_H,
    M_L,
    M_O,
    M_T,
    M_V,
    N_OUT,
    N_STATE,
    NS_PER_MS,
    O_FEE,
    O_FILL,
    O_OID,
    O_PRICE,
    O_QTY,
    O_ROW,
    O_SIDE,
    O_TID,
    P_LOT_UB,
    P_MN_MARKET,
    P_SPAN,
    P_TSQ,
    S_BAIL,
    S_BAIL_ROW,
    S_DENIED,
    S_FILLED,
    S_NOUT,
    S_OID,
    S_POS,
    S_QUOTE,
    S_REJ_BALANCE,
    S_REJ_FILTER,
    S_ROPEN,
    S_RQTY,
    S_SIGNALS,
    S_SUBMITTED,
    S_TID,
    Bars,
    FloatArray,
    IntArray,
)
from thunes.backtest.fast_market import avg_price, level, price_range, ticks
from thunes.backtest.fast_risk import book_buy, book_sell, filter_code, mfloor, risk_code, roll_day, size_entry

__all__ = ["N_OUT", "N_STATE", "Simulate", "simulate"]

Simulate = Callable[[Bars, IntArray, npt.NDArray[np.int8], IntArray, FloatArray, IntArray, FloatArray, IntArray], None]


@inlined
def _venue_filter_code(row: int, q: int, close: int, now_ms: int, m: Bars, p: IntArray, fp: FloatArray) -> int:
    """The venue's filters on a MARKET order, priced at the average price: 0, a code, or BAD. When
    the order passes at both ends of the window's price range the average itself is not needed."""
    low, high = price_range(row, now_ms, m, p, fp)
    if low >= 0 and filter_code(q, low * q, True, p) == 0 and filter_code(q, high * q, True, p) == 0:
        return 0
    avg = avg_price(row, now_ms, close, m, p, fp)
    return BAD if avg == BAD else filter_code(q, avg * q, avg >= 0, p)


@helper
def _refused(buy: bool, counter: int, ist: IntArray) -> int:
    """The venue refused the order: a BUY is counted (its reservation is released, nothing else
    changes); a refused exit the trader schedules again (``Trader._exit_failed``), which the kernel
    does not model: it stops (``B_EXIT``)."""
    if not buy:
        return B_EXIT
    ist[counter] += 1
    return 0


@inlined
def _execute(
    row: int,
    buy: bool,
    q: int,
    close: int,
    now: int,
    m: Bars,
    p: IntArray,
    fp: FloatArray,
    ist: IntArray,
    fst: FloatArray,
    out: IntArray,
) -> int:
    """The venue takes the order (or rejects it) and the trader books the fill: 0, or a ``B_*`` code."""
    code = _venue_filter_code(row, q, close, now // NS_PER_MS, m, p, fp)
    if code == BAD:
        return B_VOLUME
    if code != 0:
        return _refused(buy, S_REJ_FILTER, ist)  # -1013
    price, filled = level(row, buy, q, close, m, p, fp)
    if price < 0:
        return -price
    if (buy and price * filled * p[P_TSQ] > ist[S_QUOTE]) or (not buy and q * p[P_LOT_UB] > ist[S_POS]):
        return _refused(buy, S_REJ_BALANCE, ist)  # -2010
    fee = book_buy(filled, price, ist, fst, p) if buy else book_sell(filled, price, now, ist, fst, p, fp)
    if fee < 0:
        return -fee
    i = ist[S_NOUT]  # one more order accepted and filled: its output row, the venue's next ids
    out[O_ROW, i], out[O_SIDE, i], out[O_QTY, i], out[O_FILL, i] = row, 1 if buy else -1, q, filled
    out[O_PRICE, i], out[O_FEE, i], out[O_OID, i], out[O_TID, i] = price, fee, ist[S_OID], ist[S_TID]
    for counter in (S_NOUT, S_OID, S_TID, S_FILLED):
        ist[counter] += 1
    return 0


@inlined
def _order(signal: int, close: int, ist: IntArray, p: IntArray) -> tuple[int, int, int]:
    """``Trader._order_for``: ``(side, lots, held)``, side 0 for no order; lots -1 when sizing raises."""
    held = ist[S_RQTY] if ist[S_ROPEN] != 0 else 0
    sellable = mfloor(min(ist[S_POS], held) // p[P_LOT_UB], p)
    holding = sellable > 0 and close * sellable >= p[P_MN_MARKET]
    if signal > 0 and not holding:
        q = size_entry(close, p)
        if q == 0:
            ist[S_DENIED + C_EXIT] += 1
        return (1 if q != 0 else 0), q, held
    if signal < 0 and holding:
        return -1, sellable, held
    return 0, 0, held


@inlined
def _act(
    row: int, signal: int, m: Bars, p: IntArray, fp: FloatArray, ist: IntArray, fst: FloatArray, out: IntArray
) -> int:
    """``Trader.act`` at the close of ``row``: 0, or the ``B_*`` reason the kernel cannot go on."""
    now = m[M_T][row] + p[P_SPAN]
    roll_day(now, ist, fst)
    ist[S_SIGNALS] += 1
    close = ticks(m[M_C][row], fp)
    if close <= 1:
        return B_PRICE
    side, q, held = _order(signal, close, ist, p)
    if q < 0:
        return B_SIZING
    if side == 0:
        return 0
    code = risk_code(side > 0, q, close, held, now, ist, fst, p, fp)
    if code < 0:
        return B_PNL
    if code > 0:
        ist[S_DENIED + code] += 1
        return 0
    ist[S_SUBMITTED] += 1
    return _execute(row, side > 0, q, close, now, m, p, fp, ist, fst, out)


_AHEAD = 6  # signals ahead whose bars are fetched from memory while the current one is acted on
_BACK = 7  # bars before a signal row also read (the average price's window, the previous bar)


@inlined
def _prefetch_bars(row: int, m: Bars) -> None:
    """Fetch the bars around ``row`` (``row - _BACK`` to ``row``: two cache lines at most) of every column."""
    back = max(row - _BACK, 0)
    prefetch(m[M_T], row)  # one by one: the columns may differ in type (a read-only one), no loop over them
    prefetch(m[M_T], back)
    prefetch(m[M_O], row)
    prefetch(m[M_O], back)
    prefetch(m[M_H], row)
    prefetch(m[M_H], back)
    prefetch(m[M_L], row)
    prefetch(m[M_L], back)
    prefetch(m[M_C], row)
    prefetch(m[M_C], back)
    prefetch(m[M_V], row)
    prefetch(m[M_V], back)


@entry(FINGERPRINT)
def simulate(fingerprint: str) -> Simulate:
    def simulate(
        m: Bars,
        rows: IntArray,
        signals: npt.NDArray[np.int8],
        p: IntArray,
        fp: FloatArray,
        ist: IntArray,
        fst: FloatArray,
        out: IntArray,
    ) -> None:
        """Act on every signal row in order; ``ist[S_BAIL]`` (and the row) says where and why it stopped."""
        fingerprint  # noqa: B018 -- in numba's cache key (``fast_jit.entry``)
        n = len(rows)
        for i in range(n):
            if i + _AHEAD < n:
                _prefetch_bars(rows[i + _AHEAD], m)
            code = _act(rows[i], signals[i], m, p, fp, ist, fst, out)
            if code != 0:
                ist[S_BAIL], ist[S_BAIL_ROW] = code, rows[i]
                return

    return simulate
