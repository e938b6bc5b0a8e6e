"""RSI mean reversion: buy when RSI (Wilder, 14) is oversold, sell when overbought or on a 3 % stop.

Gains and losses are integer ticks; Wilder's smoothing runs through one shared function
(:func:`wilder_rsi_step`) in the same order in both faces, so their float results are identical.
The stop compares integer ticks with a ``Decimal`` fraction: exact.

Position model: after an ENTER signal at row ``i`` the strategy holds from the open of ``i + 1``
(its entry price); from the close of ``i + 1`` on it looks for an exit. Exits act at the next open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from thunes.domain.identifiers import StrategyId
from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, to_ticks
from thunes.strategy.base import Signal, SignalArray, Strategy

__all__ = ["RsiReversion", "wilder_rsi_step"]


def wilder_rsi_step(avg_gain: float, avg_loss: float, gain: int, loss: int, period: int) -> tuple[float, float]:
    """One step of Wilder's smoothing: ``avg = (avg * (n - 1) + x) / n``."""
    return (avg_gain * (period - 1) + gain) / period, (avg_loss * (period - 1) + loss) / period


def _rsi(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0:
        return 50.0 if avg_gain == 0 else 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


@dataclass(slots=True)
class _State:
    """What the incremental face carries from bar to bar."""

    bars: int = 0
    last_close: int = 0
    sum_gain: int = 0
    sum_loss: int = 0
    avg_gain: float = 0.0
    avg_loss: float = 0.0
    pending_entry: bool = False
    entry_price: int | None = None


class RsiReversion(Strategy):
    """Wilder RSI mean reversion with a stop-loss (defaults 14, 30/70, 3 %)."""

    name = "rsi_reversion"
    version = "1.0"

    def __init__(
        self,
        period: int = 14,
        oversold: float = 30.0,
        overbought: float = 70.0,
        stop_loss: Decimal = Decimal("0.03"),
        *,
        tick_size: Decimal,
        strategy_id: StrategyId | None = None,
    ) -> None:
        if period < 2:
            raise ValueError(f"period must be >= 2, got {period}")
        if not 0 < oversold < overbought < 100:
            raise ValueError(f"need 0 < oversold < overbought < 100, got {oversold}/{overbought}")
        if not 0 < stop_loss < 1:
            raise ValueError(f"stop_loss is a fraction in (0, 1), got {stop_loss}")
        self.period = period
        self.oversold = float(oversold)
        self.overbought = float(overbought)
        self.stop_loss = Decimal(stop_loss)
        super().__init__(strategy_id, tick_size)
        self.reset()

    @property
    def parameters(self) -> Mapping[str, Any]:
        return {
            "period": self.period,
            "oversold": self.oversold,
            "overbought": self.overbought,
            "stop_loss": str(self.stop_loss),
        }

    @property
    def warmup(self) -> int:
        return self.period + 1

    def reset(self) -> None:
        self._s = _State()

    def _stopped(self, close: int, entry: int) -> bool:
        return Decimal(close) <= Decimal(entry) * (1 - self.stop_loss)

    def _decide(self, rsi: float | None, close: int, entry: int | None) -> Signal:
        """The rule shared by both faces, given RSI (None in warm-up) and the held entry price."""
        if entry is None:
            return Signal.ENTER_LONG if rsi is not None and rsi < self.oversold else Signal.HOLD
        if (rsi is not None and rsi > self.overbought) or self._stopped(close, entry):
            return Signal.EXIT_LONG
        return Signal.HOLD

    def on_bar(self, bar: Bar) -> Signal:
        return self.on_ticks(self.ticks(bar.open), self.ticks(bar.high), self.ticks(bar.low), self.ticks(bar.close))

    def on_ticks(self, open_: int, high: int, low: int, close: int) -> Signal:
        s = self._s
        if s.pending_entry:
            s.pending_entry, s.entry_price = False, open_
        rsi = self._update_rsi(s, close)
        signal = self._decide(rsi, close, s.entry_price)
        if signal is Signal.ENTER_LONG:
            s.pending_entry = True
        elif signal is Signal.EXIT_LONG:
            s.entry_price = None
        return signal

    def _update_rsi(self, s: _State, close: int) -> float | None:
        s.bars += 1
        if s.bars > 1:
            delta = close - s.last_close
            gain, loss = max(delta, 0), max(-delta, 0)
            if s.bars <= self.period + 1:
                s.sum_gain += gain
                s.sum_loss += loss
                if s.bars == self.period + 1:
                    s.avg_gain, s.avg_loss = s.sum_gain / self.period, s.sum_loss / self.period
            else:
                s.avg_gain, s.avg_loss = wilder_rsi_step(s.avg_gain, s.avg_loss, gain, loss, self.period)
        s.last_close = close
        return _rsi(s.avg_gain, s.avg_loss) if s.bars > self.period else None

    def rsi_series(self, bars: OHLCV) -> np.ndarray[Any, np.dtype[np.float64]]:
        """RSI per row (NaN during warm-up), computed from tick deltas with Wilder's smoothing."""
        close = to_ticks(bars.close, self.tick_size)
        out = np.full(len(bars), np.nan)
        n = self.period
        if len(bars) <= n:
            return out
        delta = np.diff(close)
        gains = np.maximum(delta, 0).tolist()
        losses = np.maximum(-delta, 0).tolist()
        avg_gain, avg_loss = sum(gains[:n]) / n, sum(losses[:n]) / n
        values = [_rsi(avg_gain, avg_loss)]
        for gain, loss in zip(gains[n:], losses[n:], strict=True):
            avg_gain, avg_loss = wilder_rsi_step(avg_gain, avg_loss, gain, loss, n)
            values.append(_rsi(avg_gain, avg_loss))
        out[n:] = values
        return out

    def signals(self, bars: OHLCV) -> SignalArray:
        rsi = self.rsi_series(bars)
        close = to_ticks(bars.close, self.tick_size).tolist()
        opens = to_ticks(bars.open, self.tick_size).tolist()
        oversold = np.nan_to_num(rsi, nan=100.0) < self.oversold
        out = np.zeros(len(bars), dtype=np.int8)
        # Jump from one candidate entry to the next; only the held stretches are walked bar by bar.
        candidates = np.nonzero(oversold)[0]
        i, k = 0, 0
        while k < len(candidates):
            if candidates[k] < i:
                k += 1
                continue
            row = int(candidates[k])
            out[row] = Signal.ENTER_LONG
            i = self._walk_position(rsi, close, opens, row + 1, out)
        return out

    def _walk_position(self, rsi: Any, close: list[int], opens: list[int], start: int, out: SignalArray) -> int:
        """Hold from ``start``'s open; mark the exit row and return the first row flat again."""
        if start >= len(close):
            return start
        entry = opens[start]
        for row in range(start, len(close)):
            value = None if np.isnan(rsi[row]) else float(rsi[row])
            if self._decide(value, close[row], entry) is Signal.EXIT_LONG:
                out[row] = Signal.EXIT_LONG
                return row + 1
        return len(close)
