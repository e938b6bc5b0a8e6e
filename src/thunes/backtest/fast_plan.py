"""What the compiled kernel needs, digested exactly from the engine's own objects, and the
kernel run itself; or the reason it cannot run, so that the caller runs the engine core instead.

Every rule becomes integers once (``Fraction`` arithmetic on the ``Decimal`` values, so nothing is
rounded): prices are ticks, order quantities lots (LOT_SIZE steps), held quantities base units
``10**-base_exp`` (fine enough for the step and the base commission precision), balances quote
units ``10**-quote_exp`` (fine enough for a tick times a step, the quote commission precision and
the deposit). A bound a filter states in ``Decimal`` becomes the first or last integer it allows.
The limits and the venue's pricing come from the engine the run would use, once ``fast_scope`` has
checked it is the one the kernel reproduces; the replay model is copied in as the kernel reads it.

Imports numba (through ``fast_kernel``): import this module only when numba is installed.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from thunes.backtest import fast_layout as k
from thunes.backtest.fast_kernel import simulate
from thunes.backtest.fast_result import FastBacktestResult, KernelTrades
from thunes.backtest.fast_scope import EngineModel
from thunes.domain.enums import OrderType
from thunes.domain.identifiers import StrategyId
from thunes.domain.instrument import Instrument
from thunes.engine.trader import TraderConfig, TraderStats
from thunes.features.ohlcv import OHLCV
from thunes.risk import RiskLimits
from thunes.simvenue.replay_model import REPLAY, ReplayModel
from thunes.strategy.base import SignalArray

__all__ = ["KernelPlan", "KernelUnsupportedError", "kernel_plan", "replay_params", "run_kernel"]

DENIAL_NAMES = {
    k.C_EXIT: "EXIT_INFEASIBLE", k.C_KILL: "KILL_SWITCH", k.C_INSUFF: "INSUFFICIENT_BALANCE",
    k.C_LOT: "FILTERS_LOT_SIZE", k.C_MLOT: "FILTERS_MARKET_LOT_SIZE", k.C_NOTIONAL: "FILTERS_NOTIONAL",
    k.C_MIN_NOTIONAL: "FILTERS_MIN_NOTIONAL", k.C_MAXORD: "FILTERS_MAX_NUM_ORDERS", k.C_DAILY: "DAILY_LOSS",
    k.C_COOL: "COOL_DOWN", k.C_DUP: "DUPLICATE_POSITION", k.C_ORDER_NOTIONAL: "ORDER_NOTIONAL",
}  # fmt: skip
BAIL_REASONS = {
    k.B_SLIPPAGE: "a slipped price too close to a tick for a float to round it",
    k.B_PNL: "a PnL too close to a risk boundary (zero, the daily loss limit) for a float to judge",
    k.B_VOLUME: "a bar volume with no short decimal form, or sums beyond 64 bits",
    k.B_LEDGER: "a fill the risk ledger would not book (drift)",
    k.B_SIZING: "no feasible entry near the minimum (size_entry raises)",
    k.B_PRICE: "a price of at most one tick",
    k.B_EXIT: "an exit the venue refused (the trader schedules it again; the kernel does not)",
}
_LIMIT = 1 << 62
_NS_PER_DAY = 86_400 * 1_000_000_000
_NS_PER_SECOND = 1_000_000_000
IntArray = npt.NDArray[np.int64]


class KernelUnsupportedError(Exception):
    """The kernel cannot reproduce this run exactly; the message says why. Run the engine core."""


@dataclass(frozen=True, slots=True)
class KernelPlan:
    """The kernel's parameters and the units of what it returns."""

    params: IntArray
    fparams: npt.NDArray[np.float64]
    base_exp: int
    quote_exp: int
    deposit_units: int


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite: checked by the domain types
    return max(0, -exponent)


def _pair(value: Fraction) -> tuple[int, int]:
    return value.numerator, value.denominator


def _exact(value: Fraction) -> int:
    if value.denominator != 1:
        raise KernelUnsupportedError(f"{value} is not a whole number of units")
    return value.numerator


def _check_supported(instrument: Instrument, trader_fee: Decimal) -> None:
    mlot = instrument.market_lot_size
    if instrument.max_position is not None:
        raise KernelUnsupportedError("MAX_POSITION filter")
    if OrderType.MARKET not in instrument.order_types:
        raise KernelUnsupportedError("MARKET orders not allowed on the symbol")
    if instrument.tick_size <= 0 or instrument.step_size <= 0:
        raise KernelUnsupportedError("no tick or step size")
    if mlot is not None and mlot.step_size and (mlot.step_size / instrument.step_size) % 1:
        raise KernelUnsupportedError("MARKET_LOT_SIZE step is not a multiple of the LOT_SIZE step")
    if not Decimal(0) <= trader_fee < 1:
        raise KernelUnsupportedError(f"trader fee rate {trader_fee} outside [0, 1)")


def _lots(instrument: Instrument, value: Decimal) -> Fraction:
    return Fraction(value) / Fraction(instrument.step_size)


def _lot_params(instrument: Instrument, p: list[int]) -> None:
    lot, mlot = instrument.lot_size, instrument.market_lot_size
    qmax = math.floor(_lots(instrument, lot.max_qty)) if lot.max_qty > 0 else _LIMIT
    p[k.P_LOT_MIN], p[k.P_LOT_MAX] = (
        math.ceil(_lots(instrument, lot.min_qty)),
        math.floor(_lots(instrument, lot.max_qty)),
    )
    p[k.P_MSTEP], p[k.P_MLOT], p[k.P_NEED_LOT] = 1, int(mlot is not None), p[k.P_LOT_MIN]
    if mlot is not None:
        p[k.P_MLOT_MIN] = math.ceil(_lots(instrument, mlot.min_qty))
        p[k.P_MLOT_MAX] = math.floor(_lots(instrument, mlot.max_qty)) if mlot.max_qty else -1
        p[k.P_NEED_LOT] = max(p[k.P_LOT_MIN], p[k.P_MLOT_MIN])
        if mlot.step_size:
            p[k.P_MSTEP] = _exact(_lots(instrument, mlot.step_size))
        if mlot.max_qty > 0:
            qmax = min(qmax, math.floor(_lots(instrument, mlot.max_qty)))
    p[k.P_QMAX] = min(qmax, _LIMIT)


def _notional_params(instrument: Instrument, ts: Fraction, p: list[int]) -> None:
    """MARKET notional checks in ``check_order``'s order, as bounds on ticks * lots."""
    checks: list[tuple[int, int, int]] = []
    f = instrument.notional
    if f is not None and f.apply_min_to_market:
        checks.append((0, math.ceil(Fraction(f.min_notional) / ts), k.C_NOTIONAL))
    if f is not None and f.apply_max_to_market:
        checks.append((1, math.floor(Fraction(f.max_notional) / ts), k.C_NOTIONAL))
    legacy = instrument.min_notional
    if legacy is not None and legacy.apply_to_market:
        checks.append((0, math.ceil(Fraction(legacy.min_notional) / ts), k.C_MIN_NOTIONAL))
    p[k.P_NCHK] = len(checks)
    for i, check in enumerate(checks):
        p[k.P_NCHK0 + 3 * i : k.P_NCHK0 + 3 * i + 3] = [min(x, _LIMIT) for x in check]
    limit = instrument.max_num_orders
    p[k.P_MAXORD_FAIL] = int(limit is not None and limit.max_num_orders < 1)
    p[k.P_MN_MARKET] = math.ceil(Fraction(instrument.min_notional_for(OrderType.MARKET)) / ts)


def _sizing_params(instrument: Instrument, config: TraderConfig, limits: RiskLimits, p: list[int]) -> None:
    tick, step = Fraction(instrument.tick_size), Fraction(instrument.step_size)
    budget = Fraction(min(config.quote_per_trade, limits.max_order_notional))
    p[k.P_BUDGET_NUM], p[k.P_BUDGET_DEN] = _pair(budget / (tick * step))
    min_notional = Fraction(instrument.min_notional_for(OrderType.MARKET))
    exit_factor = tick * (1 - Fraction(limits.exit_buffer)) * step
    p[k.P_W_NUM], p[k.P_W_DEN] = _pair(min_notional / exit_factor) if min_notional > 0 else (0, 0)
    p[k.P_G_NUM], p[k.P_G_DEN] = _pair(1 - Fraction(config.fee_rate))
    p[k.P_MON] = min(math.floor(Fraction(limits.order_notional_cap(None)) / (tick * step)), _LIMIT)


def _venue_params(instrument: Instrument, fee_rate: Decimal, base_exp: int, quote_exp: int, p: list[int]) -> None:
    tick, step, rate = Fraction(instrument.tick_size), Fraction(instrument.step_size), Fraction(fee_rate)
    bp, qp = instrument.base_precision, instrument.quote_precision
    p[k.P_LOT_UB], p[k.P_TSQ] = _exact(step * 10**base_exp), _exact(tick * step * 10**quote_exp)
    p[k.P_FEEB_NUM], p[k.P_FEEB_DEN] = _pair(step * rate * 10**bp)
    p[k.P_FEEQ_NUM], p[k.P_FEEQ_DEN] = _pair(tick * step * rate * 10**qp)
    p[k.P_FEEB_SCALE], p[k.P_FEEQ_SCALE] = 10 ** (base_exp - bp), 10 ** (quote_exp - qp)
    p[k.P_STEP_EXP] = _decimals(instrument.step_size)
    p[k.P_STEP_NUM] = _exact(step * 10 ** p[k.P_STEP_EXP])


def _slippage_params(model: dict[str, float], p: list[int]) -> None:
    # What MarketState._slipped turns these floats into: Decimal(str(bps)).
    p[k.P_DBASE_NUM], p[k.P_DBASE_DEN] = _pair(Fraction(Decimal(str(model["base_bps"]))))
    p[k.P_DCAP_NUM], p[k.P_DCAP_DEN] = _pair(Fraction(Decimal(str(model["cap_bps"]))))


def replay_params(model: ReplayModel, span_ns: int, p: list[int]) -> None:
    """Write ``model`` into the kernel's parameters, as the kernel reads it (``ReplayModel.kernel_layout``),
    its trade times at ``span_ns`` (the bars' timeframe)."""
    layout = model.kernel_layout()
    n = layout[0]
    if n > k.MAX_POINTS:
        raise KernelUnsupportedError(f"a replay model of {n} points a bar: the kernel holds {k.MAX_POINTS}")
    p[k.P_NPOINTS], p[k.P_PARTS], p[k.P_QTICKS] = n, layout[2], layout[3]
    p[k.P_OFF0 : k.P_OFF0 + n] = model.offsets_ns(span_ns)
    for i, start in enumerate((k.P_RISE0, k.P_FALL0)):
        p[start : start + n] = layout[4 + (i + 2) * n : 4 + (i + 3) * n]


def _check_bounds(p: list[int], bars: OHLCV, instrument: Instrument, rows: IntArray) -> None:
    """Refuse runs whose integer products could pass 64 bits (prices far beyond any market's)."""
    tick = float(instrument.tick_size)
    top = int(float(np.max(bars.high)) / tick) + 2
    low = max(1, int(float(np.min(bars.close[rows])) / tick) - 1) if len(rows) else 1
    lots = (p[k.P_BUDGET_NUM] // (low * p[k.P_BUDGET_DEN]) + 2) * (len(rows) + 1)
    fee_units = max(p[k.P_FEEQ_NUM] * p[k.P_FEEQ_SCALE], p[k.P_FEEB_NUM] * p[k.P_FEEB_SCALE])
    products = (
        top * lots * max(p[k.P_TSQ], fee_units, p[k.P_LOT_UB]),
        lots * max(p[k.P_FEEB_NUM], p[k.P_G_NUM], p[k.P_G_DEN], p[k.P_LOT_UB]),
        top * max(p[k.P_BUDGET_DEN], p[k.P_W_DEN], p[k.P_DBASE_NUM], p[k.P_DCAP_NUM], p[k.P_DUST]),
        p[k.P_W_NUM] * p[k.P_G_DEN] + p[k.P_NEED_LOT] * p[k.P_G_DEN],
        p[k.P_DEPOSIT] + top * lots * p[k.P_TSQ],
        p[k.P_DBASE_DEN] * 10_000 + p[k.P_DCAP_DEN] * 10_000,
    )
    if max(*products, *map(abs, p)) > _LIMIT:  # _LIMIT itself stands for "no bound"
        raise KernelUnsupportedError("amounts beyond 64-bit integers")


def kernel_plan(
    instrument: Instrument,
    bars: OHLCV,
    rows: IntArray,
    *,
    deposit: Decimal,
    engine: EngineModel,
) -> KernelPlan:
    """The kernel's parameters for this run of ``engine`` (checked by ``fast_scope``);
    ``KernelUnsupportedError`` when it cannot be exact."""
    static, fparams, base_exp, quote_exp = _run_independent(instrument, engine, deposit, bars.timeframe.nanoseconds)
    p = list(static)
    p[k.P_DAY0] = int(bars.open_time_ns[0]) // _NS_PER_DAY  # the risk engine's day when it starts
    _check_bounds(p, bars, instrument, rows)
    return KernelPlan(np.array(p, dtype=np.int64), np.array(fparams, dtype=np.float64), base_exp, quote_exp,
                      p[k.P_DEPOSIT])  # fmt: skip


@functools.lru_cache(maxsize=64)
def _run_independent(
    instrument: Instrument, engine: EngineModel, deposit: Decimal, span_ns: int
) -> tuple[tuple[int, ...], tuple[float, ...], int, int]:
    """The parameters that do not depend on the bars: the same for every run of one instrument, engine
    and deposit (a sweep, the symbols of a portfolio), exact rationals that cost more than a small run.
    Its arguments are frozen values, so the cache can never answer for another engine."""
    config, limits, pricing = engine.trader, engine.limits, engine.pricing
    model = dict(pricing.slippage.params)  # the square-root model's (``fast_scope`` checked it is that one)
    _check_supported(instrument, config.fee_rate)
    base_exp = max(_decimals(instrument.step_size), instrument.base_precision)
    quote_exp = max(
        _decimals(instrument.tick_size * instrument.step_size), instrument.quote_precision, _decimals(deposit)
    )
    if max(base_exp, quote_exp) > 18 or deposit < 0:
        raise KernelUnsupportedError("precision beyond 18 decimals or a negative deposit")
    p = [0] * k.N_PARAMS
    ts = Fraction(instrument.tick_size) * Fraction(instrument.step_size)
    _lot_params(instrument, p)
    _notional_params(instrument, ts, p)
    _sizing_params(instrument, config, limits, p)
    _venue_params(instrument, pricing.fee_rate, base_exp, quote_exp, p)
    _slippage_params(model, p)
    replay_params(REPLAY, span_ns, p)
    p[k.P_SPAN], p[k.P_AVG_MS] = span_ns, pricing.avg_price_window_ms
    p[k.P_DUST] = math.ceil(Fraction(limits.dust_notional) / (Fraction(instrument.tick_size) / 10**base_exp))
    p[k.P_COOL_NS], p[k.P_ONE_POS] = limits.cool_down_s * _NS_PER_SECOND, int(limits.one_position_per_symbol)
    p[k.P_DEPOSIT] = _exact(Fraction(deposit) * 10**quote_exp)
    loss_cap = float(Fraction(limits.daily_loss_cap(None)) * 10**quote_exp)
    traded = float(REPLAY.volume_parts * instrument.step_size) * (1 + 1e-9)  # a volume surely worth a trade
    tick = float(instrument.tick_size)
    fparams = (tick, model["base_bps"], model["cap_bps"], model["reference_range"], loss_cap, traded, 1.0 / tick)
    return tuple(p), fparams, base_exp, quote_exp


def run_kernel(
    instrument: Instrument,
    bars: OHLCV,
    rows: IntArray,
    signals: SignalArray,
    *,
    strategy_id: StrategyId,
    deposit: Decimal,
    engine: EngineModel,
) -> FastBacktestResult:
    """The backtest by the compiled kernel; ``KernelUnsupportedError`` when it cannot be exact."""
    plan = kernel_plan(instrument, bars, rows, deposit=deposit, engine=engine)
    ist, fst = np.zeros(k.N_STATE, dtype=np.int64), np.zeros(k.N_FLOAT_STATE, dtype=np.float64)
    ist[k.S_QUOTE], ist[k.S_DAY], ist[k.S_OID], ist[k.S_TID] = plan.deposit_units, plan.params[k.P_DAY0], 1, 1
    out = np.empty((k.N_OUT, len(rows)), dtype=np.int64)  # a column a row: each column one contiguous view

    def floats(column: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.ascontiguousarray(column, dtype=np.float64)

    market: k.Bars = (np.ascontiguousarray(bars.open_time_ns, dtype=np.int64), floats(bars.open), floats(bars.high),
                      floats(bars.low), floats(bars.close), floats(bars.volume))  # fmt: skip
    simulate(market, np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(signals, dtype=np.int8),
               plan.params, plan.fparams, ist, fst, out)  # fmt: skip
    if ist[k.S_BAIL]:
        raise KernelUnsupportedError(f"{BAIL_REASONS[int(ist[k.S_BAIL])]} (row {int(ist[k.S_BAIL_ROW])})")
    n, p = int(ist[k.S_NOUT]), plan.params

    def column(index: int) -> IntArray:
        return out[index, :n]

    trades = KernelTrades(
        rows=column(k.O_ROW), sides=column(k.O_SIDE), quantities=column(k.O_QTY), filled=column(k.O_FILL),
        prices=column(k.O_PRICE), commissions=column(k.O_FEE), order_ids=column(k.O_OID), trade_ids=column(k.O_TID),
        instrument=instrument, strategy_id=strategy_id, open_time_ns=bars.open_time_ns,
        span_ns=bars.timeframe.nanoseconds, base_exp=plan.base_exp, quote_exp=plan.quote_exp,
        lot_units=int(p[k.P_LOT_UB]), notional_units=int(p[k.P_TSQ]), base_fee_scale=int(p[k.P_FEEB_SCALE]),
        quote_fee_scale=int(p[k.P_FEEQ_SCALE]), deposit_units=plan.deposit_units,
    )  # fmt: skip
    return FastBacktestResult(_stats(ist), bars=len(bars), position=Decimal(int(ist[k.S_POS])).scaleb(-plan.base_exp),
                              trades=trades)  # fmt: skip


def _stats(ist: IntArray) -> TraderStats:
    denied = Counter(
        {name: int(ist[k.S_DENIED + code]) for code, name in DENIAL_NAMES.items() if ist[k.S_DENIED + code]}
    )
    rejected = Counter({code: int(ist[i]) for code, i in ((-1013, k.S_REJ_FILTER), (-2010, k.S_REJ_BALANCE)) if ist[i]})
    return TraderStats(int(ist[k.S_SIGNALS]), int(ist[k.S_SUBMITTED]), int(ist[k.S_FILLED]), denied, rejected)
