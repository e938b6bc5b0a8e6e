"""Synthetic candles: reproducible, valid OHLC on the tick, visible regimes and realistic volume."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV

COLUMNS = ("open_time_ns", "open", "high", "low", "close", "volume")
T0 = 1_704_067_200 * 10**9


def _ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


def _spearman(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


@pytest.fixture(scope="module")
def hourly() -> OHLCV:
    return generate_ohlcv()


def test_generate_when_same_seed_then_identical_candles() -> None:
    a = generate_ohlcv(n=2_000, seed=42)
    b = generate_ohlcv(n=2_000, seed=42)

    for column in COLUMNS:
        assert np.array_equal(getattr(a, column), getattr(b, column)), column


def test_generate_when_seeds_differ_then_paths_differ() -> None:
    a = generate_ohlcv(n=500, seed=1)
    b = generate_ohlcv(n=500, seed=2)

    assert not np.array_equal(a.close, b.close)
    assert not np.array_equal(a.volume, b.volume)


def test_generate_then_defaults_are_5000_hourly_btc_candles_from_2024(hourly: OHLCV) -> None:
    assert (hourly.symbol, hourly.timeframe, len(hourly)) == ("BTCUSDT", Timeframe.H1, 5_000)
    assert hourly.open_time_ns[0] == T0
    assert np.all(np.diff(hourly.open_time_ns) == Timeframe.H1.nanoseconds)


@pytest.mark.parametrize("timeframe", [Timeframe.M1, Timeframe.H1, Timeframe.D1])
def test_generate_then_bars_are_consistent_and_chained(timeframe: Timeframe) -> None:
    # Act
    candles = generate_ohlcv(timeframe=timeframe, n=3_000, seed=5)

    # Assert
    assert candles.open[0] == 40_000.0
    assert np.array_equal(candles.open[1:], candles.close[:-1])
    assert np.all(candles.high >= np.maximum(candles.open, candles.close))
    assert np.all(candles.low <= np.minimum(candles.open, candles.close))
    assert np.all(candles.low > 0)
    assert np.any(candles.high > np.maximum(candles.open, candles.close))  # wicks exist


@pytest.mark.parametrize(("tick", "price"), [(0.01, 40_000.0), (0.5, 3_000.0), (0.00000001, 0.00003)])
def test_generate_then_prices_sit_on_the_tick(tick: float, price: float) -> None:
    # Act
    candles = generate_ohlcv(n=2_000, seed=3, start_price=price, tick_size=tick)

    # Assert
    for column in ("open", "high", "low", "close"):
        in_ticks = getattr(candles, column) / tick
        assert np.allclose(in_ticks, np.rint(in_ticks), rtol=0, atol=1e-6), column
        assert np.all(np.rint(in_ticks) >= 1), column


def test_generate_then_volatility_regimes_are_visible(hourly: OHLCV) -> None:
    # Arrange
    returns = np.diff(np.log(hourly.close))
    daily_vol = returns[: len(returns) // 24 * 24].reshape(-1, 24).std(axis=1)

    # Act
    low, high = np.percentile(daily_vol, [5, 95])
    persistence = np.corrcoef(daily_vol[:-1], daily_vol[1:])[0, 1]

    # Assert: one constant-volatility fat-tailed walk gives a ratio near 2.2 and no persistence
    assert high / low > 3.0
    assert persistence > 0.3


def test_generate_then_volume_positive_and_rises_with_absolute_return(hourly: OHLCV) -> None:
    # Arrange
    abs_returns = np.abs(np.diff(np.log(hourly.close)))

    # Act
    correlation = _spearman(hourly.volume[1:], abs_returns)

    # Assert
    assert np.all(hourly.volume > 0)
    assert correlation > 0.3


def test_generate_then_volume_follows_the_utc_day(hourly: OHLCV) -> None:
    hour = (hourly.open_time_ns // Timeframe.H1.nanoseconds) % 24

    busy, quiet = np.median(hourly.volume[hour == 15]), np.median(hourly.volume[hour == 3])

    assert busy > 1.3 * quiet


def test_generate_when_million_minute_bars_then_full_length_and_consistent() -> None:
    candles = generate_ohlcv(timeframe=Timeframe.M1, n=1_000_000, seed=9)  # speed is measured in bench/

    assert len(candles) == 1_000_000
    assert np.all(np.diff(candles.open_time_ns) == Timeframe.M1.nanoseconds)
    assert np.all(candles.high >= np.maximum(candles.open, candles.close))
    assert np.all(candles.low <= np.minimum(candles.open, candles.close))


def test_generate_when_n_is_zero_then_empty() -> None:
    assert len(generate_ohlcv(n=0)) == 0


@pytest.mark.parametrize(
    "kwargs", [{"n": -1}, {"tick_size": 0.0}, {"start_price": -1.0}, {"start_price": 0.01, "tick_size": 0.01}]
)
def test_generate_when_arguments_invalid_then_value_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        generate_ohlcv(**kwargs)  # type: ignore[arg-type]
