"""A portfolio backtest, measured: the account's figures through :mod:`thunes.engine.performance`, each
symbol's part, and buy-and-hold of the same symbols over the same period beside them.

Per symbol, ``pnl`` is what the symbol added to the account's equity: its sells less its buys, less its
fees, plus what it still holds at its last close. The symbols' PnL therefore sums exactly to the final
equity less the deposit, and ``contribution`` (PnL over the deposit) sums to the total return.

Buy-and-hold splits the deposit equally between the symbols at the first measured close, pays the
backtest's fee rate on the way in (the fee is taken from the base received, as Binance does) and on the
way out, and is valued net of that exit fee; its curve starts at the deposit, so its total return
compares with the strategy's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from thunes.app.composition import build_strategy
from thunes.app.config import Settings
from thunes.backtest.event import EventBacktestResult, PairMarket, run_portfolio_backtest
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
    time_in_market,
)
from thunes.features.ohlcv import OHLCV, to_ticks
from thunes.strategy.base import Strategy

__all__ = [
    "FAST_FALLBACK",
    "BuyAndHold",
    "PortfolioRun",
    "SymbolFigures",
    "buy_and_hold",
    "describe_strategies",
    "measure_portfolio",
    "prices_at",
]

FAST_FALLBACK = "the compiled kernel trades one pair; a portfolio runs on the engine core"
ZERO = Decimal(0)
_CENT_OF_CENT = Decimal("0.00000001")  # buy-and-hold's value is a reference, not a balance: shown to 8 places
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SymbolFigures:
    """One symbol's part of the account (money in the quote asset, fractions as fractions)."""

    symbol: str
    strategy_id: str
    trades: int  # closed round trips
    open_trades: int
    pnl: Decimal  # net of fees, the holding valued at the symbol's last close
    fees: Decimal
    exposure: float  # share of the measured span with a position open
    contribution: float  # pnl / deposit
    position: Decimal  # base held at the end
    buy_and_hold: float  # the symbol's own return, held with the same fee


@dataclass(frozen=True, slots=True)
class BuyAndHold:
    """Equal weights of the deposit in every symbol, bought at the first measured close (see module doc)."""

    fee_rate: Decimal
    quantities: dict[str, Decimal]
    returns: dict[str, float]  # each symbol's own, over its share of the deposit
    final: Decimal
    times: IntArray
    values: FloatArray
    performance: Performance

    def total_return(self, deposit: Decimal) -> float:
        return float(self.final / deposit) - 1.0


@dataclass(frozen=True, slots=True)
class PortfolioRun:
    """A measured portfolio backtest: the run, the account's curve and figures, each symbol's part and
    buy-and-hold. ``engine``/``kernel``/``fallback_reason`` as :class:`~thunes.backtest.run.BacktestRun`."""

    engine: str
    kernel: bool
    fallback_reason: str | None
    result: EventBacktestResult
    markets: tuple[PairMarket, ...]
    times: IntArray
    values: FloatArray
    trips: list[RoundTrip]
    performance: Performance
    symbols: tuple[SymbolFigures, ...]
    hold: BuyAndHold
    warmup_bars: int
    deposit: Decimal
    final_equity: Decimal

    @property
    def fills(self) -> list[Fill]:
        return self.result.fills


def describe_strategies(markets: Sequence[PairMarket]) -> list[tuple[str, dict[str, Any], str]]:
    """Each pair's strategy as reports show it: its id, its parameters and its parameter hash."""
    described = []
    for m in markets:
        strategy = (
            m.strategy if isinstance(m.strategy, Strategy) else build_strategy(m.strategy, m.instrument.tick_size)
        )
        described.append((str(strategy.strategy_id), dict(strategy.parameters), strategy.param_hash))
    return described


def prices_at(bars: OHLCV, instrument: Instrument, times_ns: IntArray) -> FloatArray:
    """``bars``' last close at or before each of ``times_ns`` (close times; the first close when none is),
    snapped to the tick as the engine values holdings."""
    closes_ns = bars.open_time_ns + bars.timeframe.nanoseconds
    rows = np.maximum(np.searchsorted(closes_ns, times_ns, side="right") - 1, 0)
    return to_ticks(bars.close[rows], instrument.tick_size).astype(np.float64) * float(instrument.tick_size)


def measure_portfolio(
    settings: Settings,
    markets: Sequence[PairMarket],
    info: ExchangeInfo,
    *,
    warmup_bars: int,
    deposit: Decimal,
    fast: bool = False,
) -> PortfolioRun:
    """Backtest the pairs on one account (the event-driven engine; ``fast`` falls back to it, saying
    why) and measure it. ValueError when a symbol has no bar left after the warm-up."""
    if warmup_bars < 0:
        raise ValueError("warmup_bars must be >= 0")
    for m in markets:
        if len(m.bars) <= warmup_bars:
            raise ValueError(f"no {m.instrument.symbol} bar after the {warmup_bars}-bar warm-up: "
                             f"{len(m.bars)} bars are too few")  # fmt: skip
    result = run_portfolio_backtest(settings, markets, info, warmup_bars=warmup_bars, deposit=deposit)
    times, values = equity_arrays(result.equity)
    instruments = [m.instrument for m in markets]
    trips = round_trips(result.fills, instruments)
    ppy = periods_per_year(markets[0].bars.timeframe.nanoseconds)
    performance = compute_performance(times, values, trips, ppy)
    final = result.equity[-1][1]
    hold = buy_and_hold([(m.instrument, m.bars) for m in markets], times, deposit, settings.backtest.fee_rate, ppy)
    figures = tuple(_figures(m, result, trips, times, deposit, hold) for m in markets)
    return PortfolioRun("fast" if fast else "event", False, FAST_FALLBACK if fast else None, result, tuple(markets),
                        times, values, trips, performance, figures, hold, warmup_bars, deposit, final)  # fmt: skip


def _last_close(bars: OHLCV, instrument: Instrument) -> Decimal:
    """The last close, snapped to the tick as the engine values it."""
    return int(to_ticks(bars.close[-1:], instrument.tick_size)[0]) * instrument.tick_size


def _figures(market: PairMarket, result: EventBacktestResult, trips: list[RoundTrip], times: IntArray,
             deposit: Decimal, hold: BuyAndHold) -> SymbolFigures:  # fmt: skip
    instrument = market.instrument
    symbol = str(instrument.symbol)
    own = [t for t in trips if t.symbol == symbol]
    flows, held = ZERO, ZERO
    for fill in result.fills:
        if fill.symbol != symbol:
            continue
        flows += fill.notional if fill.side is Side.SELL else -fill.notional
        held += fill.quantity if fill.side is Side.BUY else -fill.quantity
        if fill.commission_asset == instrument.quote_asset:
            flows -= fill.commission
        elif fill.commission_asset == instrument.base_asset:
            held -= fill.commission
    pnl = flows + held * _last_close(market.bars, instrument)
    start, end = int(times[0]), int(times[-1])
    span = end - start
    outcome = next(o for o in result.symbols if o.symbol == instrument.symbol)
    return SymbolFigures(
        symbol=symbol,
        strategy_id=str(outcome.strategy_id),
        trades=sum(1 for t in own if t.closed),
        open_trades=sum(1 for t in own if not t.closed),
        pnl=pnl,
        fees=sum((t.fees for t in own), ZERO),
        exposure=time_in_market(own, start, end) / span if span > 0 else math.nan,
        contribution=float(pnl / deposit),
        position=outcome.position,
        buy_and_hold=hold.returns[symbol],
    )


def buy_and_hold(markets: Sequence[tuple[Instrument, OHLCV]], times: IntArray, deposit: Decimal, fee_rate: Decimal,
                 ppy: float) -> BuyAndHold:  # fmt: skip
    """Buy-and-hold of the symbols of ``markets`` (instrument, bars) at the curve's ``times`` (module doc)."""
    share, keep = deposit / len(markets), 1 - fee_rate
    quantities: dict[str, Decimal] = {}
    returns: dict[str, float] = {}
    values = np.zeros(len(times), dtype=np.float64)
    final = ZERO
    for instrument, bars in markets:
        symbol = str(instrument.symbol)
        closes_ns = bars.open_time_ns + bars.timeframe.nanoseconds
        row = max(int(np.searchsorted(closes_ns, times[0], side="right")) - 1, 0)
        price = int(to_ticks(bars.close[row : row + 1], instrument.tick_size)[0]) * instrument.tick_size
        quantity = quantities[symbol] = share * keep / price
        values += float(quantity * keep) * prices_at(bars, instrument, times)
        value = quantity * _last_close(bars, instrument) * keep
        returns[symbol] = float(value / share) - 1.0
        final += value
    final = final.quantize(_CENT_OF_CENT)
    values[0] = float(deposit)  # the deposit before it is spent: the return counts both fees
    performance = compute_performance(times, values, [], ppy)
    return BuyAndHold(fee_rate, quantities, returns, final, times, values, performance)
