"""SMA crossover: enter long when the fast average crosses above the slow one, exit on the cross down.

Prices are integer ticks, so the averages are compared exactly: ``fast_sma > slow_sma`` is
``slow * sum_fast > fast * sum_slow`` in integers. Both faces therefore agree bit for bit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from thunes.domain.identifiers import StrategyId
from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, to_ticks
from thunes.strategy.base import Signal, SignalArray, Strategy

__all__ = ["SmaCross"]


class SmaCross(Strategy):
    """Fast/slow simple moving average crossover (defaults 20/50)."""

    name = "sma_cross"
    version = "1.0"

    def __init__(
        self, fast: int = 20, slow: int = 50, *, tick_size: Decimal, strategy_id: StrategyId | None = None
    ) -> None:
        if not 1 <= fast < slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={fast}, slow={slow}")
        self.fast = fast
        self.slow = slow
        super().__init__(strategy_id, tick_size)
        self.reset()

    @property
    def parameters(self) -> Mapping[str, Any]:
        return {"fast": self.fast, "slow": self.slow}

    @property
    def warmup(self) -> int:
        return self.slow + 1

    def reset(self) -> None:
        self._window: deque[int] = deque(maxlen=self.slow)
        self._sum_fast = 0
        self._sum_slow = 0
        self._above: bool | None = None

    def on_bar(self, bar: Bar) -> Signal:
        price = self.ticks(bar.close)
        window = self._window
        if len(window) == self.slow:
            self._sum_slow -= window[0]
        if len(window) >= self.fast:
            self._sum_fast -= window[-self.fast]
        window.append(price)
        self._sum_slow += price
        self._sum_fast += price
        if len(window) < self.slow:
            return Signal.HOLD
        above = self.slow * self._sum_fast > self.fast * self._sum_slow
        previous, self._above = self._above, above
        if previous is None or previous == above:
            return Signal.HOLD
        return Signal.ENTER_LONG if above else Signal.EXIT_LONG

    def signals(self, bars: OHLCV) -> SignalArray:
        out = np.zeros(len(bars), dtype=np.int8)
        if len(bars) <= self.slow:
            return out
        cumulative = np.concatenate(([0], np.cumsum(to_ticks(bars.close, self.tick_size))))
        end = np.arange(self.slow, len(bars) + 1)  # window end (exclusive) for rows slow-1 ..
        sum_fast = cumulative[end] - cumulative[end - self.fast]
        sum_slow = cumulative[end] - cumulative[end - self.slow]
        above = self.slow * sum_fast > self.fast * sum_slow
        cross = above[1:] != above[:-1]
        rows = np.nonzero(cross)[0] + self.slow  # row index of the bar where the cross shows
        out[rows] = np.where(above[1:][cross], Signal.ENTER_LONG, Signal.EXIT_LONG)
        return out
