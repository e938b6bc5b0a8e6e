"""Backtest performance (SPEC §8) from an equity curve and round-trip trades (research code: floats).

Conventions, chosen to be those of empyrical so every ratio can be checked against it on the
same series (``tests/unit/engine/test_performance.py`` does, to 1e-9 relative):

- **Returns** are simple returns of the equity curve at its own frequency,
  ``r_i = E_i / E_(i-1) - 1``: one per point after the first. No resampling to days.
- **Annualisation**: ``periods_per_year = 365 days / bar interval`` (crypto trades every day, so
  8,760 for 1h bars, not 252 business days). ``years = len(returns) / periods_per_year``, which is
  the elapsed time when the curve has no gaps.
- **Risk-free rate** 0 (and Sortino's minimum acceptable return 0).
- **Sharpe** ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``.
- **Sortino** ``mean(r) * ppy / (sqrt(mean(min(r, 0)^2)) * sqrt(ppy))``: the downside deviation
  is the root mean square of the negative returns over *all* periods (zeros for the others), not
  the standard deviation of the negative returns alone.
- **Annual return** is the CAGR ``(E_n / E_0) ** (1 / years) - 1``; **Calmar** is CAGR over
  ``|max drawdown|`` (NaN when there was no drawdown).
- **Max drawdown** is the deepest ``E / running_peak - 1`` (a negative fraction); its **duration**
  is the longest time, in nanoseconds, from a peak to the first point back at or above it (to the
  last point when never recovered).
- Undefined values are NaN, infinite ones ``inf``, as in empyrical: a flat curve has a NaN Sharpe.

Trade statistics come from :func:`round_trips`, which books the fills through the domain
``Position`` so PnL is net of every fee exactly as the ledger computes it.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from thunes.domain.enums import Side
from thunes.domain.instrument import Instrument
from thunes.domain.orders import Fill
from thunes.domain.position import Position, PositionError
from thunes.engine.equity import EquityCurve

__all__ = [
    "YEAR_NS",
    "Performance",
    "RoundTrip",
    "compute_performance",
    "drawdown_series",
    "equity_arrays",
    "max_drawdown_duration_ns",
    "periodic_returns",
    "periods_per_year",
    "round_trips",
    "time_in_market",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

YEAR_NS = 365 * 24 * 3600 * 1_000_000_000
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One long trade: the run of BUY fills that opened it and the run of SELL fills that closed it.

    ``pnl`` is realized quote PnL net of every fee (``Position`` accounting, so dust the exit could
    not sell keeps its share of the cost); ``fees`` is the quote value of all the trip's fees.
    ``exit_ns`` is ``None`` while no SELL has filled.
    """

    symbol: str
    entry_ns: int
    exit_ns: int | None
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    pnl: Decimal
    fees: Decimal
    fills: int

    @property
    def closed(self) -> bool:
        return self.exit_ns is not None


@dataclass(slots=True)
class _TripBuilder:
    symbol: str
    entry_ns: int
    bought: Decimal = ZERO
    bought_quote: Decimal = ZERO
    sold: Decimal = ZERO
    sold_quote: Decimal = ZERO
    exit_ns: int | None = None
    pnl: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0

    def add(self, fill: Fill, before: Position, after: Position) -> None:
        self.fills += 1
        self.pnl += after.realized_pnl - before.realized_pnl
        self.fees += after.fees_quote - before.fees_quote
        if fill.side is Side.BUY:
            self.bought += fill.quantity
            self.bought_quote += fill.notional
        else:
            self.sold += fill.quantity
            self.sold_quote += fill.notional
            self.exit_ns = fill.ts_ns

    def build(self) -> RoundTrip:
        return RoundTrip(
            symbol=self.symbol,
            entry_ns=self.entry_ns,
            exit_ns=self.exit_ns,
            quantity=self.bought,
            entry_price=self.bought_quote / self.bought,
            exit_price=self.sold_quote / self.sold if self.sold else None,
            pnl=self.pnl,
            fees=self.fees,
            fills=self.fills,
        )


def round_trips(
    fills: Iterable[Fill],
    instruments: Iterable[Instrument],
    *,
    third_asset_fee_value: Callable[[Fill], Decimal] | None = None,
) -> list[RoundTrip]:
    """Pair the fills of a long-only strategy into trips, in booking order.

    A trip starts with a BUY fill when the symbol has no trip open or its open trip has already
    sold; every later fill joins it (partial fills, several fills per order, scaling in before
    the first sale). So a BUY after a partial exit starts a new trip. Fees are read as Binance
    charges them (base asset on BUY, quote on SELL, or a third asset that
    ``third_asset_fee_value`` values in quote). Raises ``PositionError`` on a SELL of more than
    the fills bought, and ``KeyError`` for a symbol missing from ``instruments``.
    """
    by_symbol = {str(i.symbol): i for i in instruments}
    positions: dict[str, Position] = {}
    open_trips: dict[str, _TripBuilder] = {}
    done: list[RoundTrip] = []
    for fill in fills:
        symbol = str(fill.symbol)
        position = positions.get(symbol)
        if position is None:
            instrument = by_symbol[symbol]
            position = Position(instrument.symbol, instrument.base_asset, instrument.quote_asset)
        trip = open_trips.get(symbol)
        if fill.side is Side.BUY and (trip is None or trip.sold > 0):
            if trip is not None:
                done.append(trip.build())
            trip = open_trips[symbol] = _TripBuilder(symbol, fill.ts_ns)
        elif trip is None:
            raise PositionError(f"{symbol}: SELL fill {fill.trade_id} before any BUY")
        value = third_asset_fee_value(fill) if third_asset_fee_value is not None else None
        after = position.apply(fill, third_asset_fee_value=value)
        trip.add(fill, position, after)
        positions[symbol] = after
    done.extend(trip.build() for trip in open_trips.values())
    return sorted(done, key=lambda t: t.entry_ns)


@dataclass(frozen=True, slots=True)
class Performance:
    """SPEC §8's figures for one run. Fractions are fractions (0.05 = 5 %); money is in quote."""

    start_ns: int
    end_ns: int
    periods: int
    periods_per_year: float
    initial_equity: float
    final_equity: float
    total_return: float
    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    downside_risk: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration_ns: int
    trades: int
    open_trades: int
    win_rate: float
    profit_factor: float
    expectancy: float
    exposure: float
    total_fees: float
    trades_per_pair: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def max_drawdown_duration_days(self) -> float:
        return self.max_drawdown_duration_ns / (24 * 3600 * 1e9)


def periods_per_year(interval_ns: int) -> float:
    """Bars in a 365-day year for bars ``interval_ns`` apart (8,760 for 1h)."""
    if interval_ns <= 0:
        raise ValueError(f"bar interval must be positive, got {interval_ns} ns")
    return YEAR_NS / interval_ns


def equity_arrays(curve: Sequence[tuple[int, Decimal]]) -> tuple[IntArray, FloatArray]:
    """``[(ts_ns, equity)]`` (an engine's equity curve) as time and float value arrays."""
    if isinstance(curve, EquityCurve):
        return curve.arrays()  # vectorised: no Python object per point
    times = np.fromiter((t for t, _ in curve), dtype=np.int64, count=len(curve))
    values = np.fromiter((float(v) for _, v in curve), dtype=np.float64, count=len(curve))
    return times, values


def periodic_returns(equity: FloatArray) -> FloatArray:
    """Simple returns ``E_i / E_(i-1) - 1``, one per point after the first."""
    values = np.asarray(equity, dtype=np.float64)
    return np.diff(values) / values[:-1]


def drawdown_series(equity: FloatArray) -> FloatArray:
    """``E / running_peak - 1`` per point: 0 at a new high, negative below it."""
    values = np.asarray(equity, dtype=np.float64)
    return values / np.maximum.accumulate(values) - 1.0


def max_drawdown_duration_ns(times_ns: IntArray, equity: FloatArray) -> int:
    """Longest time from a peak to the first point back at or above it (to the end if never)."""
    values = np.asarray(equity, dtype=np.float64)
    if values.size < 2:
        return 0
    under = values < np.maximum.accumulate(values)  # the first point is its own peak: never under
    edges = np.diff(under.astype(np.int8))
    starts = np.nonzero(edges == 1)[0]  # index of the peak before each underwater run
    ends = np.nonzero(edges == -1)[0] + 1  # index of the recovery point
    if ends.size < starts.size:
        ends = np.append(ends, values.size - 1)  # still under water at the end
    if starts.size == 0:
        return 0
    return int(np.max(times_ns[ends] - times_ns[starts]))


def _divide(numerator: float, denominator: float) -> float:
    """IEEE division without warnings: x/0 is ±inf, 0/0 is NaN (as numpy, hence empyrical)."""
    if denominator == 0:
        return math.nan if numerator == 0 or math.isnan(numerator) else math.copysign(math.inf, numerator)
    return numerator / denominator


class _ReturnStats(NamedTuple):
    annual_volatility: float
    sharpe: float
    sortino: float
    downside_risk: float


_SUM_CHUNK = 65_536


def _exact_sum(values: FloatArray) -> float:
    """``math.fsum`` of the values (exactly rounded), fed a chunk at a time: a list of a million
    Python floats at once was the peak of a 1M-bar backtest's memory."""
    chunks = (values[i : i + _SUM_CHUNK].tolist() for i in range(0, values.size, _SUM_CHUNK))
    return math.fsum(itertools.chain.from_iterable(chunks))


def _return_stats(returns: FloatArray, annualization: float) -> _ReturnStats:
    n = returns.size
    root = math.sqrt(annualization)
    downside = math.sqrt(_exact_sum(np.minimum(returns, 0.0) ** 2) / n) * root if n else math.nan
    if n < 2:
        return _ReturnStats(math.nan, math.nan, math.nan, downside)
    mean = _exact_sum(returns) / n  # exactly rounded: the sum often nearly cancels
    # A constant series has zero dispersion even when the float mean differs from it in the last bit.
    std = 0.0 if returns.max() == returns.min() else float(np.std(returns, ddof=1))
    return _ReturnStats(std * root, _divide(mean, std) * root, _divide(mean * annualization, downside), downside)


class _TradeStats(NamedTuple):
    trades: int
    open_trades: int
    win_rate: float
    profit_factor: float
    expectancy: float
    exposure: float
    total_fees: float
    trades_per_pair: dict[str, int]


def time_in_market(trips: Sequence[RoundTrip], start_ns: int, end_ns: int) -> int:
    """Nanoseconds of ``[start, end]`` with at least one trip open (the union over symbols)."""
    spans = sorted((max(t.entry_ns, start_ns), end_ns if t.exit_ns is None else min(t.exit_ns, end_ns)) for t in trips)
    held, reach = 0, start_ns
    for begin, finish in spans:
        first = max(begin, reach)
        if finish > first:
            held += finish - first
            reach = finish
    return held


def _trade_stats(trips: Sequence[RoundTrip], start_ns: int, end_ns: int) -> _TradeStats:
    closed = [t for t in trips if t.closed]
    pnls = [t.pnl for t in closed]
    profit = sum((p for p in pnls if p > 0), ZERO)
    loss = -sum((p for p in pnls if p < 0), ZERO)
    held = time_in_market(trips, start_ns, end_ns)
    span = end_ns - start_ns
    return _TradeStats(
        trades=len(closed),
        open_trades=len(trips) - len(closed),
        win_rate=sum(1 for p in pnls if p > 0) / len(pnls) if pnls else math.nan,
        profit_factor=_divide(float(profit), float(loss)),
        expectancy=float(sum(pnls, ZERO) / len(pnls)) if pnls else math.nan,
        exposure=held / span if span > 0 else math.nan,
        total_fees=float(sum((t.fees for t in trips), ZERO)),
        trades_per_pair=dict(sorted(Counter(t.symbol for t in closed).items())),
    )


def _cagr(growth: float, exponent: float) -> float:
    """``growth ** exponent - 1``; a short, steep curve overflows to ``inf`` rather than raising."""
    try:
        return math.pow(growth, exponent) - 1.0
    except OverflowError:
        return math.inf


def _validate(times: IntArray, values: FloatArray) -> None:
    if times.shape != values.shape or times.ndim != 1 or times.size == 0:
        raise ValueError("need one timestamp per equity value, and at least one point")
    if not bool(np.all(np.isfinite(values)) and np.all(values > 0)):
        raise ValueError("equity must be finite and positive to define returns")
    if times.size > 1 and not bool(np.all(np.diff(times) > 0)):
        raise ValueError("equity timestamps must be strictly increasing")


def compute_performance(
    times_ns: npt.ArrayLike, equity: npt.ArrayLike, trips: Sequence[RoundTrip], annualization: float
) -> Performance:
    """Every SPEC §8 figure of one run (conventions in the module docstring).

    ``times_ns``/``equity`` are the curve (one point per bar, e.g. at each close); ``trips`` come
    from :func:`round_trips`; ``annualization`` is :func:`periods_per_year` of the bar interval.
    """
    times = np.asarray(times_ns, dtype=np.int64)
    values = np.asarray(equity, dtype=np.float64)
    _validate(times, values)
    returns = periodic_returns(values)
    growth = float(values[-1] / values[0])
    annual = _cagr(growth, annualization / returns.size) if returns.size else math.nan
    mdd = float(drawdown_series(values).min()) if returns.size else math.nan
    calmar = annual / abs(mdd) if mdd < 0 else math.nan
    start, end = int(times[0]), int(times[-1])
    stats = _return_stats(returns, annualization)
    trades = _trade_stats(trips, start, end)
    return Performance(
        start_ns=start,
        end_ns=end,
        periods=int(returns.size),
        periods_per_year=annualization,
        initial_equity=float(values[0]),
        final_equity=float(values[-1]),
        total_return=growth - 1.0,
        annual_return=annual,
        annual_volatility=stats.annual_volatility,
        sharpe=stats.sharpe,
        sortino=stats.sortino,
        downside_risk=stats.downside_risk,
        calmar=calmar if math.isfinite(calmar) else math.nan,
        max_drawdown=mdd,
        max_drawdown_duration_ns=max_drawdown_duration_ns(times, values),
        trades=trades.trades,
        open_trades=trades.open_trades,
        win_rate=trades.win_rate,
        profit_factor=trades.profit_factor,
        expectancy=trades.expectancy,
        exposure=trades.exposure,
        total_fees=trades.total_fees,
        trades_per_pair=trades.trades_per_pair,
    )
