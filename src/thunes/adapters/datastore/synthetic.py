"""Synthetic OHLCV candles: a regime-switching random walk that looks enough like crypto to test on.

Used where real data is missing or too short (the paper venue's replay, stress tests, benchmarks).
Deterministic for a seed, vectorised (a million 1m candles in a fraction of a second), and always a
valid :class:`OHLCV`: open equals the previous close, wicks bound the body, prices sit on the tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV

__all__ = ["REGIMES", "Regime", "generate_ohlcv"]

_START_2024_NS = 1_704_067_200 * 1_000_000_000
_NS_PER_HOUR = 3_600 * 1_000_000_000
_MINUTES_PER_DAY = 1_440
_DAILY_NOTIONAL = 5e8  # quote currency traded per day in an ordinary regime (BTCUSDT-like)


@dataclass(frozen=True, slots=True)
class Regime:
    """A market state: annualised log drift and volatility, and its mean duration in days."""

    name: str
    drift: float
    volatility: float
    mean_days: float


REGIMES: tuple[Regime, ...] = (
    Regime("bull", drift=0.9, volatility=0.45, mean_days=30.0),
    Regime("bear", drift=-0.9, volatility=0.60, mean_days=20.0),
    Regime("range", drift=0.0, volatility=0.30, mean_days=25.0),
    Regime("volatile", drift=0.0, volatility=1.20, mean_days=7.0),
)
# Where a regime goes when it ends (rows: from, columns: to; the diagonal is handled by the duration).
_TRANSITIONS = np.array(
    [
        [0.0, 0.2, 0.5, 0.3],
        [0.2, 0.0, 0.5, 0.3],
        [0.35, 0.35, 0.0, 0.3],
        [0.3, 0.3, 0.4, 0.0],
    ]
)
_REFERENCE_VOLATILITY = 0.45
_TAIL_DF = 4.0  # Student-t degrees of freedom: crypto returns have fat tails


def generate_ohlcv(
    symbol: str = "BTCUSDT",
    timeframe: Timeframe = Timeframe.H1,
    n: int = 5000,
    *,
    seed: int = 0,
    start_ns: int = _START_2024_NS,
    start_price: float = 40_000.0,
    tick_size: float = 0.01,
) -> OHLCV:
    """``n`` candles of ``timeframe`` from ``start_ns`` (Unix ns), same output for the same arguments.

    Volume is in the base asset, lognormal, larger in volatile regimes, on big moves and during the
    busy hours of the UTC day (around 15:00, the Europe/US overlap).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not (start_price > 0 and tick_size > 0 and tick_size < start_price):
        raise ValueError(f"need 0 < tick_size < start_price, got tick_size={tick_size}, start_price={start_price}")
    rng = np.random.default_rng(seed)
    step = timeframe.nanoseconds
    times = start_ns + step * np.arange(n, dtype=np.int64)
    periods_per_year = timeframe.periods_per_year
    bars_per_day = _MINUTES_PER_DAY * 60 * 1e9 / step

    regimes = _regime_path(rng, n, bars_per_day)
    drift = np.array([r.drift for r in REGIMES])[regimes] / periods_per_year
    regime_vol = np.array([r.volatility for r in REGIMES])[regimes]
    season = _daily_season(start_ns + step // 2, step, n) if bars_per_day > 1 else np.zeros(n)
    sigma = regime_vol / math.sqrt(periods_per_year) * (1.0 + 0.3 * season)

    shocks = rng.standard_t(_TAIL_DF, n) / math.sqrt(_TAIL_DF / (_TAIL_DF - 2.0))
    returns = drift + sigma * shocks
    close_ticks = np.maximum(np.rint(start_price * np.exp(np.cumsum(returns)) / tick_size), 1.0)
    open_ticks = np.concatenate([[max(round(start_price / tick_size), 1)], close_ticks[:-1]])[:n]

    body_top = np.maximum(open_ticks, close_ticks)
    body_bottom = np.minimum(open_ticks, close_ticks)
    high_ticks = np.maximum(np.ceil(body_top * np.exp(0.6 * sigma * rng.exponential(1.0, n))), body_top)
    low_ticks = np.clip(np.floor(body_bottom * np.exp(-0.6 * sigma * rng.exponential(1.0, n))), 1.0, body_bottom)

    volume = _volume(rng, close_ticks * tick_size, regime_vol, np.abs(shocks), season, bars_per_day)
    decimals = _decimals(tick_size)
    return OHLCV.from_arrays(
        symbol,
        timeframe,
        times,
        np.round(open_ticks * tick_size, decimals),
        np.round(high_ticks * tick_size, decimals),
        np.round(low_ticks * tick_size, decimals),
        np.round(close_ticks * tick_size, decimals),
        volume,
    )


def _regime_path(rng: np.random.Generator, n: int, bars_per_day: float) -> npt.NDArray[np.int64]:
    """Regime index per bar: a Markov chain drawn segment by segment (geometric durations)."""
    regimes = np.empty(n, dtype=np.int64)
    position = 0
    state = int(rng.integers(len(REGIMES)))
    while position < n:
        mean_bars = max(REGIMES[state].mean_days * bars_per_day, 1.0)
        length = int(rng.geometric(1.0 / mean_bars))
        regimes[position : position + length] = state
        position += length
        state = int(rng.choice(len(REGIMES), p=_TRANSITIONS[state]))
    return regimes


def _daily_season(first_ns: int, step: int, n: int) -> npt.NDArray[np.float64]:
    """Activity in [-1, 1] by UTC hour of bars ``first_ns + i * step``: peak at 15:00, trough at 03:00.

    Computed for one day of bars and tiled, since every timeframe divides the day.
    """
    per_day = _MINUTES_PER_DAY * 60 * 1_000_000_000 // step
    hours = ((first_ns + step * np.arange(per_day, dtype=np.int64)) % (24 * _NS_PER_HOUR)) / _NS_PER_HOUR
    one_day = np.cos(2.0 * np.pi * (hours - 15.0) / 24.0)
    return np.asarray(one_day[np.arange(n) % per_day], dtype=np.float64)


def _volume(
    rng: np.random.Generator,
    close: npt.NDArray[np.float64],
    regime_vol: npt.NDArray[np.float64],
    abs_shock: npt.NDArray[np.float64],
    season: npt.NDArray[np.float64],
    bars_per_day: float,
) -> npt.NDArray[np.float64]:
    """Base-asset volume: a constant daily notional, scaled up by volatility, big moves and busy hours."""
    base = _DAILY_NOTIONAL / bars_per_day / close
    log_factor = (
        0.8 * np.log(regime_vol / _REFERENCE_VOLATILITY)
        + 0.45 * (abs_shock - 0.8)
        + 0.35 * season
        + rng.normal(0.0, 0.35, len(close))
    )
    return np.maximum(np.round(base * np.exp(log_factor), 5), 1e-5)


def _decimals(tick_size: float) -> int:
    """Decimal places of the tick, so prices print as the exchange would (0.01 -> 2)."""
    exponent = Decimal(str(tick_size)).normalize().as_tuple().exponent
    return max(0, -int(exponent))
