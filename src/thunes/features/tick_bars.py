"""Candles as integer ticks, for loops that touch a million bars and build a ``Bar`` for a few.

The event backtest reads every bar's ticks (``chunks``) but needs a domain ``Bar`` only where a
signal acts or the venue must see the bar (``bar``). Both give the prices :func:`iter_bars` gives:
the same :func:`to_ticks` snapping, the same ``Decimal(repr(volume))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import numpy as np

from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, to_ticks

__all__ = ["TickBars", "TickChunk"]

# Bars turned into Python lists at a time: a million bars never sit in lists, and the collector, which
# walks every item of a young list at each of its passes, meets short ones (65,536 cost 3% of a backtest).
_CHUNK = 4_096

TickChunk = tuple[int, list[int], list[int], list[int], list[int], list[int]]
"""``(first row, open times ns, open, high, low, close ticks)`` of consecutive bars."""


class TickBars:
    """``ohlcv``'s prices as int64 ticks of ``tick_size`` (4 x 8 bytes a bar), random access to ``Bar``s."""

    def __init__(self, ohlcv: OHLCV, tick_size: Decimal) -> None:
        self.ohlcv, self.tick_size = ohlcv, tick_size
        self.symbol, self.timeframe = Symbol(ohlcv.symbol), ohlcv.timeframe
        self.span_ns = ohlcv.timeframe.nanoseconds
        self.open, self.high = to_ticks(ohlcv.open, tick_size), to_ticks(ohlcv.high, tick_size)
        self.low, self.close = to_ticks(ohlcv.low, tick_size), to_ticks(ohlcv.close, tick_size)
        self._check_bounds()

    def __len__(self) -> int:
        return len(self.close)

    def _check_bounds(self) -> None:
        """The check ``Bar`` makes, on every row at once: bars built lazily must not hide a bad row."""
        low_ok = self.low <= np.minimum(self.open, self.close)
        high_ok = self.high >= np.maximum(self.open, self.close)
        bad = ~(low_ok & high_ok) | (self.ohlcv.volume < 0)
        if bad.any():
            row = int(bad.argmax())
            raise ValueError(f"inconsistent bar {self.symbol} @ {int(self.ohlcv.open_time_ns[row])}: "
                             "low/high do not bound open/close, or volume < 0")  # fmt: skip

    def chunks(self, start: int = 0) -> Iterator[TickChunk]:
        """Rows ``start..`` as Python lists, ``_CHUNK`` rows at a time."""
        for first in range(start, len(self), _CHUNK):
            rows = slice(first, first + _CHUNK)
            yield (first, self.ohlcv.open_time_ns[rows].tolist(), self.open[rows].tolist(),
                   self.high[rows].tolist(), self.low[rows].tolist(), self.close[rows].tolist())  # fmt: skip

    def bar(self, row: int) -> Bar:
        """Row ``row`` as a domain bar (equal to the one :func:`iter_bars` yields)."""
        tick = self.tick_size
        return Bar(self.symbol, self.timeframe, self.ohlcv.open_time_ns.item(row), self.open.item(row) * tick,
                   self.high.item(row) * tick, self.low.item(row) * tick, self.close.item(row) * tick,
                   Decimal(repr(self.ohlcv.volume.item(row))))  # fmt: skip

    def first_row_at_or_after(self, open_time_ns: int) -> int:
        """The first row whose open time is ``>= open_time_ns`` (``len`` when none)."""
        return int(self.ohlcv.open_time_ns.searchsorted(open_time_ns))
