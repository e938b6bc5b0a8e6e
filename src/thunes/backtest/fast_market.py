"""The market the kernel's venue holds at a close, read from the bars: the replay model's trades and
their times, the ``avgPrice`` window, the quote, and the slippage a MARKET order takes from it.

The model is ``simvenue/replay_model.py``'s (which trades a bar makes, at which times, their size, the
quote, the window); numba cannot call it, so ``fast_plan`` copies it into the parameters
(``P_NPOINTS`` onwards, the trade times already at the run's bar span) and the functions below read it
there. A test holds them to the model on random bars. Prices are ticks, sizes lots.

The slippage in basis points is a float in the engine and stays one here, guarded: it decides only when
clear of a tick by far more than its rounding error; otherwise the caller stops with ``B_SLIPPAGE``.
"""

from __future__ import annotations

import math

import numpy as np

from thunes.backtest.fast_jit import helper, inlined
from thunes.backtest.fast_layout import (
    B_PRICE,
    B_SLIPPAGE,
    B_VOLUME,
    BAD,
    F_BASE_BPS,
    F_CAP_BPS,
    F_PER_TICK,
    F_REF_RANGE,
    F_TICK,
    F_TRADED,
    M_C,
    M_H,
    M_L,
    M_O,
    M_T,
    M_V,
    MAXI,
    NS_PER_MS,
    P_AVG_MS,
    P_DBASE_DEN,
    P_DBASE_NUM,
    P_DCAP_DEN,
    P_DCAP_NUM,
    P_FALL0,
    P_NPOINTS,
    P_OFF0,
    P_PARTS,
    P_QTICKS,
    P_RISE0,
    P_STEP_EXP,
    P_STEP_NUM,
    POW10,
    REL_TOL,
    Bars,
    FloatArray,
    IntArray,
)

_NEAR_EXACT = 2.0**40  # below it, a few units in the last place are far below a quarter

__all__ = ["avg_price", "bar_trades", "ceil_div", "level", "part_lots", "price_range", "ticks", "trade_ms"]


@inlined
def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@helper
def ticks(x: float, fp: FloatArray) -> int:
    """``features.ohlcv.to_ticks`` of one price: ``rint(x / tick)``. Multiplying by ``1 / tick`` is off
    the exact quotient by a few units in the last place; when that product lies within a quarter of an
    integer (prices on the tick always do), the quotient rounds to the same integer, and the division
    is not needed."""
    y = x * fp[F_PER_TICK]
    whole = np.rint(y)
    if abs(y - whole) < 0.25 and abs(y) < _NEAR_EXACT:
        return int(whole)
    return int(np.rint(x / fp[F_TICK]))


@inlined
def _volume_decimal(v: float) -> tuple[int, int]:
    """``Decimal(repr(v))`` (what ``iter_bars`` gives) as ``value * 10**-k``; ``k == -1``: not short enough.

    A decimal of at most 15 digits that converts back to ``v`` is the only one (15 digits always
    round-trip a double), so ``repr`` -- the shortest that converts back -- has that very value.
    Exchanges print volumes with 8 decimals: that scale is tried first.
    """
    y = np.rint(v * 1e8)
    if abs(y) < 1e15 and y / 1e8 == v:
        return int(y), 8
    for k in range(16):
        y = np.rint(v * POW10[k])
        if abs(y) < 1e15 and y / POW10[k] == v:
            return int(y), k
    return 0, -1


@helper
def part_lots(v: float, p: IntArray) -> int:
    """``ReplayModel.part`` in lots (``floor(volume / parts / stepSize)``): a bar's trades and quotes."""
    value, k = _volume_decimal(v)
    return _part_of(value, k, p)


@inlined
def _part_of(value: int, k: int, p: IntArray) -> int:
    """:func:`part_lots` of a volume already read as ``value * 10**-k``."""
    if k < 0:
        return BAD
    e = p[P_STEP_EXP] - k
    den = p[P_PARTS] * p[P_STEP_NUM]
    if e >= 0:
        m = int(np.int64(10) ** e)
        return BAD if abs(value) > MAXI // m else int((value * m) // den)
    return int(value // (den * np.int64(10) ** (-e)))


# --- time ---------------------------------------------------------------------------------------------
@helper
def trade_ms(start: int, k: int, p: IntArray) -> int:
    """When the replay puts the ``k``-th trade of the bar opened at ``start`` (ns), in the venue's ms."""
    return int((start + p[P_OFF0 + k]) // NS_PER_MS)


@helper
def _first_open(horizon: int, p: IntArray) -> int:
    """Bars opened at or after this time (ns) have their last trade at or after ``horizon`` (ms)."""
    return int(horizon * NS_PER_MS - p[P_OFF0 + p[P_NPOINTS] - 1])


# --- the average price ------------------------------------------------------------------------------------
@helper
def bar_trades(j: int, horizon: int, pivot: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int]:
    """Sum of (price - ``pivot``) and count of bar ``j``'s replayed trades at or after ``horizon`` (ms),
    along the model's path (its rising columns, its falling ones when the bar closed down)."""
    start, horizon_ns = m[M_T][j], horizon * NS_PER_MS
    prices = (m[M_O][j], m[M_H][j], m[M_L][j], m[M_C][j])  # the model's columns (replay_model.OPEN ...)
    path = P_RISE0 if ticks(prices[3], fp) >= ticks(prices[0], fp) else P_FALL0
    total, count = 0, 0
    for k in range(p[P_NPOINTS]):
        if start + p[P_OFF0 + k] >= horizon_ns:  # trade_ms(start, k, p) >= horizon
            total += ticks(prices[p[path + k]], fp) - pivot
            count += 1
    return total, count


@inlined
def _window(row: int, horizon: int, pivot: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int, int]:
    """Sum of (price - ``pivot``) * lots, and of lots, over the replayed trades at or after ``horizon``
    (ms); the first row left out. ``den == BAD`` when a volume cannot be read exactly or a sum
    would pass 62 bits (prices taken from a pivot keep the products small)."""
    num, den, j, first = 0, 0, row, _first_open(horizon, p)
    while j >= 0 and m[M_T][j] >= first:
        part = part_lots(m[M_V][j], p)
        if part == BAD or den > MAXI - p[P_NPOINTS] * max(part, 0):
            return 0, BAD, j
        if part > 0:
            total, count = bar_trades(j, horizon, pivot, m, p, fp)
            if abs(total) > MAXI // part or abs(num) > MAXI - abs(total) * part:
                return 0, BAD, j
            num += total * part
            den += count * part
        j -= 1
    return num, den, j


@inlined
def avg_price(row: int, now_ms: int, close: int, m: Bars, p: IntArray, fp: FloatArray) -> int:
    """``MarketState.avg_price`` in ticks: -1 when no trade was ever replayed, BAD when unknown."""
    num, den, j = _window(row, now_ms - p[P_AVG_MS], close, m, p, fp)
    if den == BAD:
        return BAD
    if den > 0:
        return close + num // den  # floor(sum(price * lots) / sum(lots)), exactly
    while j >= 0:  # nothing traded within the window: the last trade (the model's last point: a close)
        part = part_lots(m[M_V][j], p)
        if part == BAD:
            return BAD
        if part > 0:
            return ticks(m[M_C][j], fp)
        j -= 1
    return -1


@inlined
def price_range(row: int, now_ms: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int]:
    """Ticks every trade of the average price's window at ``now_ms`` lies within, read from the bars
    alone (no exact volume needed); ``(-1, -1)`` when the window might hold no trade at all."""
    low, high, traded, j = np.inf, -np.inf, False, row
    first = _first_open(now_ms - p[P_AVG_MS], p)
    while j >= 0 and m[M_T][j] >= first:
        low = min(low, m[M_O][j], m[M_L][j], m[M_C][j])
        high = max(high, m[M_O][j], m[M_H][j], m[M_C][j])
        traded = traded or m[M_V][j] >= fp[F_TRADED]
        j -= 1
    if not traded:
        return -1, -1
    return ticks(low, fp), ticks(high, fp)


# --- the quote and the slippage (simvenue/market.py) ----------------------------------------------------
@inlined
def _bps(q: int, row: int, value: int, k: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[float, int, int]:
    """``SlippageModel.bps`` against the previous bar's context (its volume read as ``value * 10**-k``):
    ``(bps, num, den)``; when ``den > 0`` the basis points are exactly ``num / den`` (the base or the
    cap), else only the float is known."""
    if row == 0:
        return fp[F_BASE_BPS], p[P_DBASE_NUM], p[P_DBASE_DEN]
    if k < 0:
        return -1.0, 0, 0
    if value <= 0:
        return fp[F_BASE_BPS], p[P_DBASE_NUM], p[P_DBASE_DEN]
    e = k - p[P_STEP_EXP]
    share = (q * p[P_STEP_NUM]) / value * POW10[e] if e >= 0 else (q * p[P_STEP_NUM]) / value / POW10[-e]
    high, low, close = ticks(m[M_H][row - 1], fp), ticks(m[M_L][row - 1], fp), ticks(m[M_C][row - 1], fp)
    spread = (high - low) / close if close != 0 else 0.0
    raw = fp[F_BASE_BPS] * math.sqrt(share) * (spread / fp[F_REF_RANGE])
    if raw >= fp[F_CAP_BPS]:
        return fp[F_CAP_BPS], p[P_DCAP_NUM], p[P_DCAP_DEN]
    return raw, 0, 1 if raw == 0.0 else 0


@inlined
def _slipped(
    reference: int, buy: bool, q: int, row: int, value: int, k: int, m: Bars, p: IntArray, fp: FloatArray
) -> int:
    """``MarketState._slipped``: ``reference * (1 +- bps / 10_000)`` on the tick, against the taker;
    ``-B_SLIPPAGE`` when the float lands too close to a tick to be sure which way the exact ``Decimal``
    rounds, ``-B_VOLUME`` when the previous bar's volume cannot be read exactly."""
    bps, num, den = _bps(q, row, value, k, m, p, fp)
    if bps < 0:
        return -B_VOLUME
    if den > 0:
        move = ceil_div(reference * num, den * 10_000)
    else:
        x = reference * bps / 10_000.0
        whole = math.floor(x)
        if min(x - whole, whole + 1.0 - x) <= REL_TOL * (x + 1.0):
            return -B_SLIPPAGE
        move = whole + 1
    return reference + move if buy else reference - move


@inlined
def level(row: int, buy: bool, q: int, close: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int]:
    """``quote_levels``: the one level a MARKET order takes at the close's quote, ``(ticks, lots)``;
    ticks ``-B_*`` when the kernel cannot say exactly."""
    value, k = _volume_decimal(m[M_V][max(row - 1, 0)])  # the last bar's: the quote's size and the slippage's
    shown = _part_of(value, k, p)  # ``ReplayModel.shown``: the last bar's part, a step at least
    if shown == BAD:
        return -B_VOLUME, 0
    away = p[P_QTICKS]  # the quote around the close (the model's last point)
    price = _slipped(close + away if buy else close - away, buy, q, row, value, k, m, p, fp)
    if price < 0:
        return price, 0
    return (price if price > 0 else -B_PRICE), min(q, max(1, shown))
