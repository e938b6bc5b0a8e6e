"""Candles as integer ticks, for loops that touch a million bars and build a ``Bar`` for a few.

The event backtest reads every bar's ticks (``chunks``) but needs a domain ``Bar`` only where a
signal acts or the venue must see the bar (``bar``). Both give the prices :func:`iter_bars` gives:
the same :func:`to_ticks` snapping, the same ``Decimal(repr(volume))``.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Callable, Iterator
from decimal import Decimal

import numpy as np

from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar, Timeframe
from thunes.features.ohlcv import OHLCV, to_ticks

__all__ = ["TickBars", "TickChunk"]


_FIELDS = ("symbol", "timeframe", "open_time_ns", "open", "high", "low", "close", "volume")


def _setters(cls: type[Bar]) -> tuple[Callable[[Bar, object], None], ...]:
    """Each field's slot setter, in :data:`_FIELDS` order (a Bar with other fields is refused at import)."""
    if tuple(f.name for f in dataclasses.fields(cls)) != _FIELDS:
        raise TypeError(f"{cls.__name__}'s fields changed: update tick_bars._checked_bar")
    return tuple(getattr(cls, name).__set__ for name in _FIELDS)


_SYMBOL, _TIMEFRAME, _OPEN_NS, _OPEN, _HIGH, _LOW, _CLOSE, _VOLUME = _setters(Bar)  # Bar's fields, in order
_new = object.__new__


def _checked_bar(symbol: Symbol, timeframe: Timeframe, open_ns: int, open_: Decimal, high: Decimal, low: Decimal,
                 close: Decimal, volume: Decimal) -> Bar:  # fmt: skip
    """A ``Bar`` without its ``__post_init__``: every row's bounds and volume were checked once when
    TickBars was built; checking each bar handed out again would double a replay's cost. The object is
    the same otherwise (still frozen: its slots are set through their descriptors)."""
    bar = _new(Bar)
    _SYMBOL(bar, symbol)
    _TIMEFRAME(bar, timeframe)
    _OPEN_NS(bar, open_ns)
    _OPEN(bar, open_)
    _HIGH(bar, high)
    _LOW(bar, low)
    _CLOSE(bar, close)
    _VOLUME(bar, volume)
    return bar


_CHUNK = 4_096  # bars handed out at a time

TickChunk = tuple[int, "array[int]", "array[int]", "array[int]", "array[int]", "array[int]"]
"""``(first row, open times ns, open, high, low, close ticks)`` of consecutive bars. ``array('q')``, not
lists: indexed as fast, and not containers the cycle collector must walk (it walked every item of
every young list at each of its passes: 3% of a backtest)."""


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
        """Rows ``start..`` as int64 arrays, ``_CHUNK`` rows at a time."""
        columns = (self.ohlcv.open_time_ns, self.open, self.high, self.low, self.close)
        for first in range(start, len(self), _CHUNK):
            rows = slice(first, first + _CHUNK)
            times, opens, highs, lows, closes = (array("q", column[rows].tobytes()) for column in columns)
            yield first, times, opens, highs, lows, closes

    def bar(self, row: int) -> Bar:
        """Row ``row`` as a domain bar (equal to the one :func:`iter_bars` yields)."""
        tick = self.tick_size
        return _checked_bar(self.symbol, self.timeframe, self.ohlcv.open_time_ns.item(row),
                            self.open.item(row) * tick, self.high.item(row) * tick, self.low.item(row) * tick,
                            self.close.item(row) * tick, Decimal(repr(self.ohlcv.volume.item(row))))  # fmt: skip

    def first_row_at_or_after(self, open_time_ns: int) -> int:
        """The first row whose open time is ``>= open_time_ns`` (``len`` when none)."""
        return int(self.ohlcv.open_time_ns.searchsorted(open_time_ns))
