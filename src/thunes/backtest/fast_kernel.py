"""The fast backtest's compiled kernel: the engine core's decisions at every signal bar, in integers.

For each signal row it does what ``Trader.act`` sets in motion: the exit-feasible sizing
(``domain/sizing.py``), the risk gate (``risk/``: kill-switch, held quantity, exchange filters, daily
loss, cool-down, one position per symbol, order notional, exit feasibility; the UTC day rolled as
``engine/jobs.py`` rolls it), the venue's MARKET order (``simvenue``: filters at the average price,
the close's quote and slippage as ``replay.bar_events`` leaves them, balance checks, the fee rounded
up) and the booking (``risk/ledger.py``: dust carried to the next entry, the trip's PnL, the
cool-down, the daily-loss kill-switch). Prices are ticks, quantities lots or base units, balances
quote units: every amount is an exact integer (``fast_plan`` digests each rule into integers).

The market the venue holds at a close follows the replay model (``simvenue/replay_model.py``: which
trades a bar makes, at which times, their size, the quote, the ``avgPrice`` window). numba cannot call
it, so ``fast_plan`` copies the model into the parameters (``P_NPOINTS`` onwards) and the functions
below read it there; a test holds them to the model on random bars.

Two things are floats in the engine and stay floats here, guarded: the slippage in basis points and
the PnL the risk engine judges (a ``Decimal`` division). A float decides only when clear of its
boundary by far more than its rounding error; otherwise the kernel stops with a ``B_*`` code and the
caller runs the engine core. numba compiles it (``cache=True``: the machine code stays on disk); the
layout constants live in this file, so that changing one invalidates the cache with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["N_FLOAT_PARAMS", "N_FLOAT_STATE", "N_OUT", "N_PARAMS", "N_STATE", "Bars", "simulate"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Bars = tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]  # open time (ns), o, h, l, c, v
_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(fn: _F) -> _F:
    return cast(_F, njit(cache=True, nogil=True)(fn))


# --- integer parameters (``fast_plan`` fills them) ---------------------------------------------------
P_SPAN, P_AVG_MS, P_DAY0, P_LOT_UB, P_TSQ = 0, 1, 2, 3, 4
P_FEEB_NUM, P_FEEB_DEN, P_FEEB_SCALE, P_FEEQ_NUM, P_FEEQ_DEN, P_FEEQ_SCALE = 5, 6, 7, 8, 9, 10
P_BUDGET_NUM, P_BUDGET_DEN, P_QMAX, P_MSTEP = 11, 12, 13, 14
P_LOT_MIN, P_LOT_MAX, P_MLOT, P_MLOT_MIN, P_MLOT_MAX = 15, 16, 17, 18, 19
P_NCHK, P_NCHK0 = 20, 21  # notional checks: count, then (kind, bound, code) triplets at 21..29
P_MAXORD_FAIL, P_MN_MARKET, P_NEED_LOT, P_W_NUM, P_W_DEN, P_G_NUM, P_G_DEN = 30, 31, 32, 33, 34, 35, 36
P_MON, P_DUST, P_COOL_NS, P_ONE_POS, P_DEPOSIT, P_STEP_NUM, P_STEP_EXP = 37, 38, 39, 40, 41, 42, 43
P_DBASE_NUM, P_DBASE_DEN, P_DCAP_NUM, P_DCAP_DEN = 44, 45, 46, 47
# the replay model (``ReplayModel.kernel_layout``): points, time denominator, volume parts, quote ticks,
# then per point (up to MAX_POINTS) the time's fraction of the span and shift, the rising and falling columns
P_NPOINTS, P_TDEN, P_PARTS, P_QTICKS = 48, 49, 50, 51
MAX_POINTS = 8
P_TNUM0, P_TSHIFT0, P_RISE0, P_FALL0 = 52, 52 + MAX_POINTS, 52 + 2 * MAX_POINTS, 52 + 3 * MAX_POINTS
N_PARAMS = 52 + 4 * MAX_POINTS
# --- float parameters ----------------------------------------------------------------------------
F_TICK, F_BASE_BPS, F_CAP_BPS, F_REF_RANGE, F_LOSS_CAP, F_TRADED = 0, 1, 2, 3, 4, 5
N_FLOAT_PARAMS = 6
# --- state: integers, then floats ----------------------------------------------------------------
S_POS, S_QUOTE, S_ROPEN, S_RQTY, S_DUST, S_KILL, S_DAY, S_HASCOOL, S_COOL = 0, 1, 2, 3, 4, 5, 6, 7, 8
S_OID, S_TID, S_NOUT, S_BAIL, S_BAIL_ROW, S_SIGNALS, S_SUBMITTED, S_FILLED = 9, 10, 11, 12, 13, 14, 15, 16
S_REJ_FILTER, S_REJ_BALANCE, S_DENIED = 17, 18, 19  # denials by code from S_DENIED + 1
N_STATE = 34
X_RCOST, X_RREAL, X_DUSTCOST, X_TODAY, X_TODAY_SCALE, X_RSCALE = 0, 1, 2, 3, 4, 5
N_FLOAT_STATE = 6
# --- the bars: (open time in ns, open, high, low, close, volume), as OHLCV holds them ------------------
M_T, M_O, M_H, M_L, M_C, M_V = 0, 1, 2, 3, 4, 5
# --- one output row per order the venue accepted --------------------------------------------------
O_ROW, O_SIDE, O_QTY, O_FILL, O_PRICE, O_FEE, O_OID, O_TID = 0, 1, 2, 3, 4, 5, 6, 7
N_OUT = 8
# --- denial codes (``fast_plan.DENIAL_NAMES``) -------------------------------------------------------
C_EXIT, C_KILL, C_INSUFF, C_LOT, C_MLOT, C_NOTIONAL, C_MIN_NOTIONAL = 1, 2, 3, 4, 5, 6, 7
C_MAXORD, C_DAILY, C_COOL, C_DUP, C_ORDER_NOTIONAL = 8, 9, 10, 11, 12
# --- why the kernel stopped (``fast_plan.BAIL_REASONS``) ---------------------------------------------
B_SLIPPAGE, B_PNL, B_VOLUME, B_LEDGER, B_SIZING, B_PRICE, B_EXIT = 1, 2, 3, 4, 5, 6, 7

NS_PER_MS = 1_000_000
NS_PER_DAY = 86_400 * 1_000_000_000
MAXI = 1 << 62
BAD = -(1 << 62)  # "cannot say exactly" from the integer helpers
REL_TOL = 1e-9  # a float decides only when clear of its boundary by this share of the magnitudes
POW10 = np.array([10.0**i for i in range(23)])  # exact doubles


@_compiled
def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@_compiled
def _ticks(x: float, tick: float) -> int:
    """``features.ohlcv.to_ticks`` of one price."""
    return int(np.rint(x / tick))


@_compiled
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


@_compiled
def _part_lots(v: float, p: IntArray) -> int:
    """``ReplayModel.part`` in lots (``floor(volume / parts / stepSize)``): a bar's trades and quotes."""
    value, k = _volume_decimal(v)
    if k < 0:
        return BAD
    e = p[P_STEP_EXP] - k
    den = p[P_PARTS] * p[P_STEP_NUM]
    if e >= 0:
        m = int(np.int64(10) ** e)
        return BAD if abs(value) > MAXI // m else int((value * m) // den)
    return int(value // (den * np.int64(10) ** (-e)))


@_compiled
def _mfloor(lots: int, p: IntArray) -> int:
    """Down to the MARKET_LOT_SIZE step (a whole number of lots)."""
    return int((lots // p[P_MSTEP]) * p[P_MSTEP])


# --- sizing (domain/sizing.py) ------------------------------------------------------------------------
@_compiled
def _need(close: int, p: IntArray) -> int:
    """``_min_sellable`` at ``close * (1 - exit_buffer)``, in lots."""
    need = int(p[P_NEED_LOT])
    if p[P_W_DEN] > 0:
        need = max(need, _ceil_div(p[P_W_NUM], close * p[P_W_DEN]))
    return need


@_compiled
def _feasible(q: int, need: int, p: IntArray) -> bool:
    """``is_exit_feasible``: what is left after the base fee, on the step, still sells."""
    out = _mfloor((q * p[P_G_NUM]) // p[P_G_DEN], p)
    return out > 0 and out >= need


@_compiled
def _size_entry(close: int, p: IntArray) -> int:
    """``size_entry``: the entry in lots, 0 when no sellable exit fits the budget, -1 when it raises."""
    cap = _mfloor(min(p[P_BUDGET_NUM] // (close * p[P_BUDGET_DEN]), p[P_QMAX]), p)
    need = _need(close, p)
    q = _ceil_div(need * p[P_G_DEN], p[P_G_NUM])
    for _ in range(4):
        if _feasible(q, need, p):
            return cap if cap >= q else 0
        q += 1
    return -1


# --- the filters (domain/rules.py check_order, MARKET orders) -----------------------------------------
@_compiled
def _lot_code(q: int, p: IntArray) -> int:
    if q <= 0 or q < p[P_LOT_MIN] or q > p[P_LOT_MAX]:
        return C_LOT
    if p[P_MLOT] != 0:
        too_big = p[P_MLOT_MAX] >= 0 and q > p[P_MLOT_MAX]
        if q < p[P_MLOT_MIN] or too_big or q % p[P_MSTEP] != 0:
            return C_MLOT
    return 0


@_compiled
def _notional_code(notional: int, known: bool, p: IntArray) -> int:
    for i in range(p[P_NCHK]):
        kind, bound, code = p[P_NCHK0 + 3 * i], p[P_NCHK0 + 3 * i + 1], p[P_NCHK0 + 3 * i + 2]
        if not known or (kind == 0 and notional < bound) or (kind == 1 and notional > bound):
            return int(code)
    return 0


@_compiled
def _filter_code(q: int, notional: int, known: bool, p: IntArray) -> int:
    """The first filter a MARKET order of ``q`` lots breaks (0: none); ``notional`` in tick-lots."""
    code = _lot_code(q, p)
    if code == 0:
        code = _notional_code(notional, known, p)
    if code == 0 and p[P_MAXORD_FAIL] != 0:
        code = C_MAXORD
    return code


# --- the risk gate (risk/engine.py, risk/rules.py) ------------------------------------------------------
@_compiled
def _loss_code(ist: IntArray, fst: FloatArray, fp: FloatArray) -> int:
    """DailyLossRule: C_DAILY, 0, or -1 when the float sum is too close to the limit to tell."""
    cap = fp[F_LOSS_CAP]
    gap = -fst[X_TODAY] - cap
    if abs(gap) <= REL_TOL * (fst[X_TODAY_SCALE] + cap):
        return -1
    return C_DAILY if gap >= 0 else 0


@_compiled
def _entry_code(q: int, close: int, now: int, ist: IntArray, fst: FloatArray, p: IntArray, fp: FloatArray) -> int:
    """The entry rules, cheapest first (MaxOpenPositionsRule cannot deny with one symbol: skipped)."""
    code = _loss_code(ist, fst, fp)
    if code != 0:
        return code
    if ist[S_HASCOOL] != 0 and now < ist[S_COOL]:
        return C_COOL
    if p[P_ONE_POS] != 0 and ist[S_ROPEN] != 0:
        return C_DUP
    if close * q > p[P_MON]:
        return C_ORDER_NOTIONAL
    return 0 if _feasible(q, _need(close, p), p) else C_EXIT


@_compiled
def _risk_code(
    buy: bool, q: int, close: int, held: int, now: int, ist: IntArray, fst: FloatArray, p: IntArray, fp: FloatArray
) -> int:
    """``RiskEngine.check``: 0 approved, a denial code, or -1 (undecidable: stop)."""
    reduces = (not buy) and held > 0 and q * p[P_LOT_UB] <= held
    if ist[S_KILL] != 0 and not reduces:
        return C_KILL
    if not buy and not reduces:
        return C_INSUFF
    code = _filter_code(q, close * q, True, p)
    if code != 0 or not buy:
        return code
    return _entry_code(q, close, now, ist, fst, p, fp)


# --- the venue (simvenue/market.py, matching.py, validation.py) -----------------------------------------
@_compiled
def _trade_ms(start: int, span: int, k: int, p: IntArray) -> int:
    """When the replay puts the bar's ``k``-th trade (``ReplayModel.offsets_ns``), in the venue's ms."""
    return int((start + (span * p[P_TNUM0 + k]) // p[P_TDEN] + p[P_TSHIFT0 + k]) // NS_PER_MS)


@_compiled
def _last_trade_ms(start: int, p: IntArray) -> int:
    """When the bar's last trade (its close) is replayed, in ms."""
    return _trade_ms(start, p[P_SPAN], p[P_NPOINTS] - 1, p)


@_compiled
def _bar_trades(j: int, horizon: int, pivot: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int]:
    """Sum of (price - ``pivot``) and count of bar ``j``'s replayed trades at or after ``horizon`` (ms),
    along the model's path (its rising columns, its falling ones when the bar closed down)."""
    tick, start, span = fp[F_TICK], m[M_T][j], p[P_SPAN]
    prices = (m[M_O][j], m[M_H][j], m[M_L][j], m[M_C][j])  # the model's columns (replay_model.OPEN ...)
    path = P_RISE0 if _ticks(prices[3], tick) >= _ticks(prices[0], tick) else P_FALL0
    total, count = 0, 0
    for k in range(p[P_NPOINTS]):
        if _trade_ms(start, span, k, p) >= horizon:
            total += _ticks(prices[p[path + k]], tick) - pivot
            count += 1
    return total, count


@_compiled
def _window(row: int, horizon: int, pivot: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int, int]:
    """Sum of (price - ``pivot``) * lots, and of lots, over the replayed trades at or after ``horizon``
    (ms); the first row left out. ``den == BAD`` when a volume cannot be read exactly or a sum
    would pass 62 bits (prices taken from a pivot keep the products small)."""
    num, den, j = 0, 0, row
    while j >= 0 and _last_trade_ms(m[M_T][j], p) >= horizon:
        part = _part_lots(m[M_V][j], p)
        if part == BAD or den > MAXI - p[P_NPOINTS] * max(part, 0):
            return 0, BAD, j
        if part > 0:
            total, count = _bar_trades(j, horizon, pivot, m, p, fp)
            if abs(total) > MAXI // part or abs(num) > MAXI - abs(total) * part:
                return 0, BAD, j
            num += total * part
            den += count * part
        j -= 1
    return num, den, j


@_compiled
def _avg_price(row: int, now_ms: int, close: int, m: Bars, p: IntArray, fp: FloatArray) -> int:
    """``MarketState.avg_price`` in ticks: -1 when no trade was ever replayed, BAD when unknown."""
    num, den, j = _window(row, now_ms - p[P_AVG_MS], close, m, p, fp)
    if den == BAD:
        return BAD
    if den > 0:
        return close + num // den  # floor(sum(price * lots) / sum(lots)), exactly
    while j >= 0:  # nothing traded within the window: the last trade (the model's last point: a close)
        part = _part_lots(m[M_V][j], p)
        if part == BAD:
            return BAD
        if part > 0:
            return _ticks(m[M_C][j], fp[F_TICK])
        j -= 1
    return -1


@_compiled
def _price_range(row: int, horizon: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int]:
    """Ticks every trade of the average price's window lies within, read from the bars alone (no
    exact volume needed); ``(-1, -1)`` when the window might hold no trade at all."""
    low, high, traded, j = np.inf, -np.inf, False, row
    while j >= 0 and _last_trade_ms(m[M_T][j], p) >= horizon:
        low = min(low, m[M_O][j], m[M_L][j], m[M_C][j])
        high = max(high, m[M_O][j], m[M_H][j], m[M_C][j])
        traded = traded or m[M_V][j] >= fp[F_TRADED]
        j -= 1
    if not traded:
        return -1, -1
    return _ticks(low, fp[F_TICK]), _ticks(high, fp[F_TICK])


@_compiled
def _venue_filter_code(row: int, q: int, close: int, now_ms: int, m: Bars, p: IntArray, fp: FloatArray) -> int:
    """The venue's filters on a MARKET order, priced at the average price: 0, a code, or BAD. When
    the order passes at both ends of the window's price range the average itself is not needed."""
    low, high = _price_range(row, now_ms - p[P_AVG_MS], m, p, fp)
    if low >= 0 and _filter_code(q, low * q, True, p) == 0 and _filter_code(q, high * q, True, p) == 0:
        return 0
    avg = _avg_price(row, now_ms, close, m, p, fp)
    return BAD if avg == BAD else _filter_code(q, avg * q, avg >= 0, p)


@_compiled
def _bps(q: int, row: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[float, int, int]:
    """``SlippageModel.bps`` against the previous bar's context: ``(bps, num, den)``; when ``den > 0``
    the basis points are exactly ``num / den`` (the base or the cap), else only the float is known."""
    if row == 0:
        return fp[F_BASE_BPS], p[P_DBASE_NUM], p[P_DBASE_DEN]
    value, k = _volume_decimal(m[M_V][row - 1])
    if k < 0:
        return -1.0, 0, 0
    if value <= 0:
        return fp[F_BASE_BPS], p[P_DBASE_NUM], p[P_DBASE_DEN]
    e = k - p[P_STEP_EXP]
    share = (q * p[P_STEP_NUM]) / value * POW10[e] if e >= 0 else (q * p[P_STEP_NUM]) / value / POW10[-e]
    tick = fp[F_TICK]
    high, low, close = _ticks(m[M_H][row - 1], tick), _ticks(m[M_L][row - 1], tick), _ticks(m[M_C][row - 1], tick)
    spread = (high - low) / close if close != 0 else 0.0
    raw = fp[F_BASE_BPS] * math.sqrt(share) * (spread / fp[F_REF_RANGE])
    if raw >= fp[F_CAP_BPS]:
        return fp[F_CAP_BPS], p[P_DCAP_NUM], p[P_DCAP_DEN]
    return raw, 0, 1 if raw == 0.0 else 0


@_compiled
def _slipped(reference: int, buy: bool, q: int, row: int, m: Bars, p: IntArray, fp: FloatArray) -> int:
    """``MarketState._slipped``: ``reference * (1 +- bps / 10_000)`` on the tick, against the taker;
    ``-B_SLIPPAGE`` when the float lands too close to a tick to be sure which way the exact ``Decimal``
    rounds, ``-B_VOLUME`` when the previous bar's volume cannot be read exactly."""
    bps, num, den = _bps(q, row, m, p, fp)
    if bps < 0:
        return -B_VOLUME
    if den > 0:
        move = _ceil_div(reference * num, den * 10_000)
    else:
        x = reference * bps / 10_000.0
        whole = math.floor(x)
        if min(x - whole, whole + 1.0 - x) <= REL_TOL * (x + 1.0):
            return -B_SLIPPAGE
        move = whole + 1
    return reference + move if buy else reference - move


# --- booking (risk/ledger.py, risk/engine.py on_fill) ----------------------------------------------------
@_compiled
def _book_buy(filled: int, price: int, ist: IntArray, fst: FloatArray, p: IntArray) -> int:
    """Book a BUY fill (fee in the base asset): its fee, or ``-B_LEDGER``."""
    fee = _ceil_div(filled * p[P_FEEB_NUM], p[P_FEEB_DEN])
    received = filled * p[P_LOT_UB] - fee * p[P_FEEB_SCALE]
    notional = price * filled * p[P_TSQ]
    ist[S_QUOTE] -= notional
    ist[S_POS] += received
    if ist[S_ROPEN] == 0:  # the entry carries what the last exit left behind (dust)
        ist[S_ROPEN], ist[S_RQTY], ist[S_DUST] = 1, ist[S_DUST], 0
        fst[X_RCOST], fst[X_RREAL], fst[X_RSCALE], fst[X_DUSTCOST] = fst[X_DUSTCOST], 0.0, fst[X_DUSTCOST], 0.0
    ist[S_RQTY] += received
    fst[X_RCOST] += notional
    fst[X_RSCALE] += notional
    return fee if ist[S_RQTY] > 0 else -B_LEDGER


@_compiled
def _after_close(now: int, tol: float, ist: IntArray, fst: FloatArray, p: IntArray) -> bool:
    """A closing fill: the cool-down by the trip's sign; False when the sign is too close to call."""
    trip = fst[X_RREAL]
    if abs(trip) <= tol:
        return False
    if trip < 0:
        ist[S_HASCOOL], ist[S_COOL] = 1, now + p[P_COOL_NS]
    else:
        ist[S_HASCOOL] = 0
    return True


@_compiled
def _loss_trips_kill(realized: float, tol: float, ist: IntArray, fst: FloatArray, fp: FloatArray) -> bool:
    """A losing fill that takes the day's realised loss to the limit turns the kill-switch on; False
    when the fill's sign or the day's total is too close to its boundary to tell."""
    if ist[S_KILL] != 0:
        return True  # already on: nothing changes (the first cause is kept)
    if abs(realized) <= tol:
        return False
    code = _loss_code(ist, fst, fp) if realized < 0 else 0
    if code == C_DAILY:
        ist[S_KILL] = 1
    return code >= 0


@_compiled
def _book_sell(filled: int, price: int, now: int, ist: IntArray, fst: FloatArray, p: IntArray, fp: FloatArray) -> int:
    """Book a SELL fill: its fee, or ``-B_LEDGER`` / ``-B_PNL`` when the book cannot follow exactly."""
    fee = _ceil_div(price * filled * p[P_FEEQ_NUM], p[P_FEEQ_DEN])
    notional, given = price * filled * p[P_TSQ], filled * p[P_LOT_UB]
    proceeds = notional - fee * p[P_FEEQ_SCALE]
    ist[S_QUOTE] += proceeds
    ist[S_POS] -= given
    if ist[S_ROPEN] == 0 or given > ist[S_RQTY]:
        return -B_LEDGER  # the risk ledger would call it drift: the engine core says what happens next
    cost, held = fst[X_RCOST], ist[S_RQTY]
    remaining = held - given
    removed = cost if remaining == 0 else cost * given / held
    realized = proceeds - removed
    tol = REL_TOL * (cost + notional + 1.0)
    fst[X_RREAL] += realized
    fst[X_RCOST] = cost - removed
    fst[X_RSCALE] += notional
    ist[S_RQTY] = remaining
    fst[X_TODAY] += realized
    fst[X_TODAY_SCALE] += notional + cost
    if remaining == 0 or remaining * price < p[P_DUST]:  # closed; a remainder too small to sell is dust
        ist[S_ROPEN], ist[S_DUST], fst[X_DUSTCOST] = 0, remaining, fst[X_RCOST]
        if not _after_close(now, REL_TOL * (fst[X_RSCALE] + 1.0), ist, fst, p):
            return -B_PNL
    return fee if _loss_trips_kill(realized, tol, ist, fst, fp) else -B_PNL


@_compiled
def _level(row: int, buy: bool, q: int, close: int, m: Bars, p: IntArray, fp: FloatArray) -> tuple[int, int]:
    """``quote_levels``: the one level a MARKET order takes at the close's quote, ``(ticks, lots)``;
    ticks ``-B_*`` when the kernel cannot say exactly."""
    shown = _part_lots(m[M_V][max(row - 1, 0)], p)  # ``ReplayModel.shown``: the last bar's part, a step at least
    if shown == BAD:
        return -B_VOLUME, 0
    away = p[P_QTICKS]  # the quote around the close (the model's last point)
    price = _slipped(close + away if buy else close - away, buy, q, row, m, p, fp)
    if price < 0:
        return price, 0
    return (price if price > 0 else -B_PRICE), min(q, max(1, shown))


@_compiled
def _refused(buy: bool, counter: int, ist: IntArray) -> int:
    """The venue refused the order: a BUY is counted (its reservation is released, nothing else
    changes); a refused exit the trader schedules again (``Trader._exit_failed``), which the kernel
    does not model: it stops (``B_EXIT``)."""
    if not buy:
        return B_EXIT
    ist[counter] += 1
    return 0


@_compiled
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
    price, filled = _level(row, buy, q, close, m, p, fp)
    if price < 0:
        return -price
    if (buy and price * filled * p[P_TSQ] > ist[S_QUOTE]) or (not buy and q * p[P_LOT_UB] > ist[S_POS]):
        return _refused(buy, S_REJ_BALANCE, ist)  # -2010
    fee = _book_buy(filled, price, ist, fst, p) if buy else _book_sell(filled, price, now, ist, fst, p, fp)
    if fee < 0:
        return -fee
    i = ist[S_NOUT]  # one more order accepted and filled: its output row, the venue's next ids
    out[i, O_ROW], out[i, O_SIDE], out[i, O_QTY], out[i, O_FILL] = row, 1 if buy else -1, q, filled
    out[i, O_PRICE], out[i, O_FEE], out[i, O_OID], out[i, O_TID] = price, fee, ist[S_OID], ist[S_TID]
    for counter in (S_NOUT, S_OID, S_TID, S_FILLED):
        ist[counter] += 1
    return 0


@_compiled
def _roll_day(now: int, ist: IntArray, fst: FloatArray) -> None:
    """The risk engine's UTC day: today's realised PnL starts again at 00:00 UTC."""
    day = now // NS_PER_DAY
    if day > ist[S_DAY]:
        ist[S_DAY] = day
        fst[X_TODAY], fst[X_TODAY_SCALE] = 0.0, 0.0


@_compiled
def _order(signal: int, close: int, ist: IntArray, p: IntArray) -> tuple[int, int, int]:
    """``Trader._order_for``: ``(side, lots, held)``, side 0 for no order; lots -1 when sizing raises."""
    held = ist[S_RQTY] if ist[S_ROPEN] != 0 else 0
    sellable = _mfloor(min(ist[S_POS], held) // p[P_LOT_UB], p)
    holding = sellable > 0 and close * sellable >= p[P_MN_MARKET]
    if signal > 0 and not holding:
        q = _size_entry(close, p)
        if q == 0:
            ist[S_DENIED + C_EXIT] += 1
        return (1 if q != 0 else 0), q, held
    if signal < 0 and holding:
        return -1, sellable, held
    return 0, 0, held


@_compiled
def _act(
    row: int, signal: int, m: Bars, p: IntArray, fp: FloatArray, ist: IntArray, fst: FloatArray, out: IntArray
) -> int:
    """``Trader.act`` at the close of ``row``: 0, or the ``B_*`` reason the kernel cannot go on."""
    now = m[M_T][row] + p[P_SPAN]
    _roll_day(now, ist, fst)
    ist[S_SIGNALS] += 1
    close = _ticks(m[M_C][row], fp[F_TICK])
    if close <= 1:
        return B_PRICE
    side, q, held = _order(signal, close, ist, p)
    if q < 0:
        return B_SIZING
    if side == 0:
        return 0
    code = _risk_code(side > 0, q, close, held, now, ist, fst, p, fp)
    if code < 0:
        return B_PNL
    if code > 0:
        ist[S_DENIED + code] += 1
        return 0
    ist[S_SUBMITTED] += 1
    return _execute(row, side > 0, q, close, now, m, p, fp, ist, fst, out)


@_compiled
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
    for i in range(len(rows)):
        code = _act(rows[i], signals[i], m, p, fp, ist, fst, out)
        if code != 0:
            ist[S_BAIL], ist[S_BAIL_ROW] = code, rows[i]
            return
