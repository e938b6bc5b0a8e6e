"""The engine core's rules as the kernel applies them, in integers: the exit-feasible sizing
(``domain/sizing.py``), the exchange filters on a MARKET order (``domain/rules.py``), the risk gate
(``risk/``: kill-switch, held quantity, filters, daily loss, cool-down, one position per symbol, order
notional, exit feasibility; its UTC day rolled as ``engine/jobs.py`` rolls it) and the booking of a fill
(``risk/ledger.py``: dust carried to the next entry, the trip's PnL, the cool-down, the daily-loss
kill-switch). ``fast_scope`` checks the run's engine is the one these reproduce.

The PnL the risk engine judges is a float in the engine (a ``Decimal`` division) and stays one here,
guarded: it decides only when clear of its boundary (zero, the daily loss limit) by far more than its
rounding error; otherwise the caller stops with ``B_PNL`` and the engine core runs.
"""

from __future__ import annotations

from thunes.backtest.fast_jit import helper, inlined
from thunes.backtest.fast_layout import (
    B_LEDGER,
    B_PNL,
    C_COOL,
    C_DAILY,
    C_DUP,
    C_INSUFF,
    C_KILL,
    C_LOT,
    C_MAXORD,
    C_MLOT,
    C_ORDER_NOTIONAL,
    F_LOSS_CAP,
    NS_PER_DAY,
    P_BUDGET_DEN,
    P_BUDGET_NUM,
    P_COOL_NS,
    P_DUST,
    P_FEEB_DEN,
    P_FEEB_NUM,
    P_FEEB_SCALE,
    P_FEEQ_DEN,
    P_FEEQ_NUM,
    P_FEEQ_SCALE,
    P_G_DEN,
    P_G_NUM,
    P_LOT_MAX,
    P_LOT_MIN,
    P_LOT_UB,
    P_MAXORD_FAIL,
    P_MLOT,
    P_MLOT_MAX,
    P_MLOT_MIN,
    P_MON,
    P_MSTEP,
    P_NCHK,
    P_NCHK0,
    P_NEED_LOT,
    P_ONE_POS,
    P_QMAX,
    P_TSQ,
    P_W_DEN,
    P_W_NUM,
    REL_TOL,
    S_COOL,
    S_DAY,
    S_DUST,
    S_HASCOOL,
    S_KILL,
    S_POS,
    S_QUOTE,
    S_ROPEN,
    S_RQTY,
    X_DUSTCOST,
    X_RCOST,
    X_RREAL,
    X_RSCALE,
    X_TODAY,
    X_TODAY_SCALE,
    FloatArray,
    IntArray,
)
from thunes.backtest.fast_market import ceil_div

__all__ = ["book_buy", "book_sell", "filter_code", "mfloor", "risk_code", "roll_day", "size_entry"]


@helper
def mfloor(lots: int, p: IntArray) -> int:
    """Down to the MARKET_LOT_SIZE step (a whole number of lots)."""
    step = p[P_MSTEP]
    return lots if step == 1 else int((lots // step) * step)


# --- sizing (domain/sizing.py) ------------------------------------------------------------------------
@helper
def _need(close: int, p: IntArray) -> int:
    """``_min_sellable`` at ``close * (1 - exit_buffer)``, in lots."""
    need = int(p[P_NEED_LOT])
    if p[P_W_DEN] > 0:
        need = max(need, ceil_div(p[P_W_NUM], close * p[P_W_DEN]))
    return need


@helper
def _feasible(q: int, need: int, p: IntArray) -> bool:
    """``is_exit_feasible``: what is left after the base fee, on the step, still sells."""
    out = mfloor((q * p[P_G_NUM]) // p[P_G_DEN], p)
    return out > 0 and out >= need


@inlined
def size_entry(close: int, p: IntArray) -> int:
    """``size_entry``: the entry in lots, 0 when no sellable exit fits the budget, -1 when it raises."""
    cap = mfloor(min(p[P_BUDGET_NUM] // (close * p[P_BUDGET_DEN]), p[P_QMAX]), p)
    need = _need(close, p)
    q = ceil_div(need * p[P_G_DEN], p[P_G_NUM])
    for _ in range(4):
        if _feasible(q, need, p):
            return cap if cap >= q else 0
        q += 1
    return -1


# --- the filters (domain/rules.py check_order, MARKET orders) -----------------------------------------
@helper
def _lot_code(q: int, p: IntArray) -> int:
    if q <= 0 or q < p[P_LOT_MIN] or q > p[P_LOT_MAX]:
        return C_LOT
    if p[P_MLOT] != 0:
        too_big = p[P_MLOT_MAX] >= 0 and q > p[P_MLOT_MAX]
        if q < p[P_MLOT_MIN] or too_big or q % p[P_MSTEP] != 0:
            return C_MLOT
    return 0


@helper
def _notional_code(notional: int, known: bool, p: IntArray) -> int:
    for i in range(p[P_NCHK]):
        kind, bound, code = p[P_NCHK0 + 3 * i], p[P_NCHK0 + 3 * i + 1], p[P_NCHK0 + 3 * i + 2]
        if not known or (kind == 0 and notional < bound) or (kind == 1 and notional > bound):
            return int(code)
    return 0


@inlined
def filter_code(q: int, notional: int, known: bool, p: IntArray) -> int:
    """The first filter a MARKET order of ``q`` lots breaks (0: none); ``notional`` in tick-lots."""
    code = _lot_code(q, p)
    if code == 0:
        code = _notional_code(notional, known, p)
    if code == 0 and p[P_MAXORD_FAIL] != 0:
        code = C_MAXORD
    return code


# --- the risk gate (risk/engine.py, risk/rules.py) ------------------------------------------------------
@helper
def _loss_code(fst: FloatArray, fp: FloatArray) -> int:
    """DailyLossRule: C_DAILY, 0, or -1 when the float sum is too close to the limit to tell."""
    cap = fp[F_LOSS_CAP]
    gap = -fst[X_TODAY] - cap
    if abs(gap) <= REL_TOL * (fst[X_TODAY_SCALE] + cap):
        return -1
    return C_DAILY if gap >= 0 else 0


@inlined
def _entry_code(q: int, close: int, now: int, ist: IntArray, fst: FloatArray, p: IntArray, fp: FloatArray) -> int:
    """The entry rules, cheapest first (MaxOpenPositionsRule cannot deny with one symbol: skipped). ``q``
    comes from :func:`size_entry`: at least the smallest feasible entry, so the exit-feasibility rule,
    whose test only grows with ``q``, approves it and is not run again."""
    code = _loss_code(fst, fp)
    if code != 0:
        return code
    if ist[S_HASCOOL] != 0 and now < ist[S_COOL]:
        return C_COOL
    if p[P_ONE_POS] != 0 and ist[S_ROPEN] != 0:
        return C_DUP
    if close * q > p[P_MON]:
        return C_ORDER_NOTIONAL
    return 0  # ExitFeasibleRule: ``size_entry`` gave ``q``, feasible (feasibility only grows with q)


@inlined
def risk_code(
    buy: bool, q: int, close: int, held: int, now: int, ist: IntArray, fst: FloatArray, p: IntArray, fp: FloatArray
) -> int:
    """``RiskEngine.check``: 0 approved, a denial code, or -1 (undecidable: stop)."""
    reduces = (not buy) and held > 0 and q * p[P_LOT_UB] <= held
    if ist[S_KILL] != 0 and not reduces:
        return C_KILL
    if not buy and not reduces:
        return C_INSUFF
    code = filter_code(q, close * q, True, p)
    if code != 0 or not buy:
        return code
    return _entry_code(q, close, now, ist, fst, p, fp)


@helper
def roll_day(now: int, ist: IntArray, fst: FloatArray) -> None:
    """The risk engine's UTC day: today's realised PnL starts again at 00:00 UTC."""
    day = now // NS_PER_DAY
    if day > ist[S_DAY]:
        ist[S_DAY] = day
        fst[X_TODAY], fst[X_TODAY_SCALE] = 0.0, 0.0


# --- booking (risk/ledger.py, risk/engine.py on_fill) ----------------------------------------------------
@inlined
def book_buy(filled: int, price: int, ist: IntArray, fst: FloatArray, p: IntArray) -> int:
    """Book a BUY fill (fee in the base asset): its fee, or ``-B_LEDGER``."""
    fee = ceil_div(filled * p[P_FEEB_NUM], p[P_FEEB_DEN])
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


@helper
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


@helper
def _loss_trips_kill(realized: float, tol: float, ist: IntArray, fst: FloatArray, fp: FloatArray) -> bool:
    """A losing fill that takes the day's realised loss to the limit turns the kill-switch on; False
    when the fill's sign or the day's total is too close to its boundary to tell."""
    if ist[S_KILL] != 0:
        return True  # already on: nothing changes (the first cause is kept)
    if abs(realized) <= tol:
        return False
    code = _loss_code(fst, fp) if realized < 0 else 0
    if code == C_DAILY:
        ist[S_KILL] = 1
    return code >= 0


@inlined
def book_sell(filled: int, price: int, now: int, ist: IntArray, fst: FloatArray, p: IntArray, fp: FloatArray) -> int:
    """Book a SELL fill: its fee, or ``-B_LEDGER`` / ``-B_PNL`` when the book cannot follow exactly."""
    fee = ceil_div(price * filled * p[P_FEEQ_NUM], p[P_FEEQ_DEN])
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
