"""Hand-made series where the right signal is known in advance."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from thunes.domain import Timeframe
from thunes.features import OHLCV, iter_bars
from thunes.strategy import RsiReversion, Signal, SmaCross, build

TICK = Decimal(1)


def _series(closes: list[float], opens: list[float] | None = None) -> OHLCV:
    n = len(closes)
    o = opens or [closes[0], *closes[:-1]]
    hi = [max(a, b) for a, b in zip(o, closes, strict=True)]
    lo = [min(a, b) for a, b in zip(o, closes, strict=True)]
    return OHLCV.from_arrays("BTCUSDT", Timeframe.H1, np.arange(n) * 3_600_000_000_000, o, hi, lo, closes, [1.0] * n)


def test_sma_when_price_turns_up_then_enter_on_the_cross_bar_and_exit_on_the_cross_down() -> None:
    closes = [100.0] * 5 + [110.0] * 3 + [90.0] * 4
    strategy = SmaCross(2, 4, tick_size=TICK)

    signals = strategy.signals(_series(closes))

    # Row 5 is the first close above: fast(2) = 105 > slow(4) = 102.5.
    assert signals[5] == Signal.ENTER_LONG
    # Row 8: fast = (110 + 90) / 2 = 100 < slow = (110 * 3 + 90) / 4 = 105.
    assert signals[8] == Signal.EXIT_LONG
    assert np.count_nonzero(signals) == 2


def test_sma_when_fast_not_below_slow_then_value_error() -> None:
    with pytest.raises(ValueError, match="fast < slow"):
        SmaCross(50, 20, tick_size=TICK)


def test_rsi_when_price_collapses_then_enter_and_stop_out_three_percent_below_entry() -> None:
    closes = [100.0 + i for i in range(5)] + [104.0 - 3 * i for i in range(1, 8)]  # steady fall after a rise
    strategy = RsiReversion(3, 30.0, 70.0, Decimal("0.03"), tick_size=TICK)

    signals = strategy.signals(_series(closes))

    enter = int(np.nonzero(signals == Signal.ENTER_LONG)[0][0])
    exit_ = int(np.nonzero(signals == Signal.EXIT_LONG)[0][0])
    entry_price = closes[enter]  # next open equals this close in the series above
    assert exit_ > enter
    assert closes[exit_] <= entry_price * 0.97
    assert all(c > entry_price * 0.97 for c in closes[enter + 1 : exit_])


def test_rsi_when_all_gains_then_value_is_100_and_no_entry() -> None:
    strategy = RsiReversion(3, tick_size=TICK)

    rsi = strategy.rsi_series(_series([100.0 + i for i in range(10)]))

    assert np.isnan(rsi[:3]).all()
    assert (rsi[3:] == 100.0).all()
    assert not strategy.signals(_series([100.0 + i for i in range(10)])).any()


def test_rsi_incremental_when_replayed_after_reset_then_same_signals() -> None:
    bars = _series([100.0, 98, 95, 97, 90, 85, 88, 92, 96, 99, 103, 108, 104, 99])
    strategy = RsiReversion(3, tick_size=TICK)

    first = [strategy.on_bar(b) for b in iter_bars(bars, TICK)]
    strategy.reset()
    second = [strategy.on_bar(b) for b in iter_bars(bars, TICK)]

    assert first == second
    assert Signal.ENTER_LONG in first


def test_build_when_unknown_name_then_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="rsi_reversion, sma_cross"):
        build("macd", TICK)


def test_param_hash_when_parameters_differ_then_hash_differs() -> None:
    assert SmaCross(tick_size=TICK).param_hash != SmaCross(10, 50, tick_size=TICK).param_hash
    assert SmaCross(tick_size=TICK).param_hash == SmaCross(20, 50, tick_size=TICK).param_hash
