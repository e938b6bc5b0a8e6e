"""One backtest, measured: the one function every backtesting command reports through.

``thunes backtest``, ``thunes report backtest``, ``thunes optimize`` and ``thunes walk-forward`` all
call :func:`measure_backtest`, so they trade through the engine core (strategy, sizing, risk, order
manager, venue, ledger) and measure with :mod:`thunes.engine.performance`, the same way: the same
inputs give the same trades and the same Sharpe whichever command asks (a test holds it).

Two paths, the same orders and fills (tested): the event-driven backtest (the reference, default) and
the fast path (``fast=True``: the compiled kernel when it can be exact, else the engine core, with the
reason in ``fallback_reason``). The equity curve is marked at every close after the warm-up; the fast
path rebuilds it from its fills (:func:`equity_curve`), the very floats the event path marks.

Importing this module loads no plotting or optimisation library (the ``backtest`` command's start-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from thunes.app.config import Settings
from thunes.backtest.event import EventBacktestResult, run_event_backtest
from thunes.domain.enums import Side
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.domain.orders import Fill
from thunes.engine.performance import (
    Performance,
    RoundTrip,
    compute_performance,
    equity_arrays,
    periods_per_year,
    round_trips,
)
from thunes.features.ohlcv import OHLCV, to_ticks

__all__ = ["BacktestRun", "equity_curve", "measure_backtest"]

EVENT, FAST = "event", "fast"


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """A measured backtest. ``engine`` is ``event`` or ``fast``; ``kernel`` says whether the compiled
    kernel made a fast run (else ``fallback_reason`` says why the engine core did); ``equity`` is the
    event path's exact curve (``None`` on the fast path: ``times``/``values`` hold the same floats)."""

    engine: str
    kernel: bool
    fallback_reason: str | None
    result: EventBacktestResult
    times: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    trips: list[RoundTrip]
    performance: Performance
    warmup_bars: int
    deposit: Decimal
    equity: Sequence[tuple[int, Decimal]] | None = None
    fee_rate: Decimal = Decimal(0)  # the venue's, for buy-and-hold beside the run

    @property
    def fills(self) -> list[Fill]:
        return self.result.fills

    def balances(self, instrument: Instrument) -> tuple[Decimal, Decimal]:
        """Quote and base held at the end (exact): the deposit with every fill applied."""
        quote, base = self.deposit, Decimal(0)
        for fill in self.fills:
            quote, base = _apply(fill, quote, base, instrument)
        return quote, base


def _apply(fill: Fill, quote: Decimal, base: Decimal, instrument: Instrument) -> tuple[Decimal, Decimal]:
    """Balances after ``fill`` (Binance: the fee is taken from what is received)."""
    if fill.side is Side.BUY:
        quote, base = quote - fill.notional, base + fill.quantity
    else:
        quote, base = quote + fill.notional, base - fill.quantity
    if fill.commission_asset == instrument.base_asset:
        return quote, base - fill.commission
    if fill.commission_asset == instrument.quote_asset:
        return quote - fill.commission, base
    raise ValueError(f"fill {fill.trade_id}: fee in {fill.commission_asset}, neither base nor quote")


def equity_curve(
    bars: OHLCV, fills: Sequence[Fill], instrument: Instrument, *, warmup_bars: int, deposit: Decimal
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Close times and equity (quote + base at the close, in quote) of every bar from ``warmup_bars``
    on, from the fills alone: the event backtest's curve, without replaying the bars between signals.
    A fill is booked at the close whose time it carries (the venue fills at the close of the signal bar).
    """
    closes_ns = bars.open_time_ns + bars.timeframe.nanoseconds
    booked = np.searchsorted(closes_ns, np.array([f.ts_ns for f in fills], dtype=np.int64), side="left").tolist()
    ticks, tick = to_ticks(bars.close, instrument.tick_size).tolist(), instrument.tick_size
    quote, base, k = deposit, Decimal(0), 0
    values: list[float] = []
    for row in range(warmup_bars, len(bars)):
        while k < len(fills) and booked[k] <= row:
            quote, base = _apply(fills[k], quote, base, instrument)
            k += 1
        values.append(float(quote + base * (ticks[row] * tick)) if base else float(quote))
    return closes_ns[warmup_bars:].astype(np.int64), np.asarray(values, dtype=np.float64)


def measure_backtest(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    *,
    warmup_bars: int,
    deposit: Decimal,
    fast: bool = False,
) -> BacktestRun:
    """Backtest ``settings.strategy`` on ``bars`` after ``warmup_bars`` (event path, or ``fast``) and
    measure it. ValueError when no bar is left after the warm-up."""
    if warmup_bars < 0:
        raise ValueError("warmup_bars must be >= 0")
    if len(bars) <= warmup_bars:
        raise ValueError(f"no bar after the {warmup_bars}-bar warm-up: {len(bars)} bars are too few")
    equity: Sequence[tuple[int, Decimal]] | None = None
    if fast:
        from thunes.backtest.fast import run_fast_backtest  # numba's loader only when asked for

        fast_result = run_fast_backtest(settings, instrument, bars, info, warmup_bars=warmup_bars, deposit=deposit)
        curve = fast_result.equity_curve(bars, warmup_bars)  # from the kernel's columns: the same floats
        if curve is None:
            curve = equity_curve(bars, fast_result.fills, instrument, warmup_bars=warmup_bars, deposit=deposit)
        result: EventBacktestResult = fast_result
        kernel, reason = fast_result.kernel, fast_result.fallback_reason
    else:
        result = run_event_backtest(settings, instrument, bars, info, warmup_bars=warmup_bars, deposit=deposit)
        equity = result.equity
        curve = equity_arrays(equity)
        kernel, reason = False, None
    times, values = curve
    trips = round_trips(result.fills, [instrument])
    performance = compute_performance(times, values, trips, periods_per_year(bars.timeframe.nanoseconds))
    return BacktestRun(FAST if fast else EVENT, kernel, reason, result, times, values, trips, performance,
                       warmup_bars, deposit, equity, settings.backtest.fee_rate)  # fmt: skip
