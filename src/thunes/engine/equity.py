"""An exact equity curve that costs a few bytes per bar instead of a Python tuple and ``Decimal``.

A backtest marks its equity (quote + each base asset valued at its close) after every bar, and on a
million bars a list of ``(ts, Decimal)`` alone holds ~200 MB. Between two fills the balances do not
move, only the prices do, so the curve keeps the close times, each asset's close prices (integer ticks,
shared with the bar arrays for one asset) and the balances at each change. Any point is rebuilt exactly
in ``Decimal``; :meth:`EquityCurve.arrays` gives the float view research code wants, vectorised.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from decimal import Decimal, localcontext
from typing import overload

import numpy as np
import numpy.typing as npt

__all__ = ["EquityCurve"]

_EXACT_FLOAT = 2**53  # integers below it are exact floats
_MAX_EXACT_EXPONENT = 22  # 10**22 is the largest power of ten that is an exact float
_EXACT_DIGITS = 60  # Decimal precision for the exact products (far beyond what fits 53 bits)
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class EquityCurve(Sequence[tuple[int, Decimal]]):
    """``(close time ns, equity)`` per point; balances recorded with :meth:`mark` as they change. One
    asset (``close_ticks`` at ``tick_size``), or several with :meth:`of_assets` (a portfolio)."""

    def __init__(self, times_ns: IntArray, close_ticks: IntArray, tick_size: Decimal) -> None:
        self._times = np.asarray(times_ns, dtype=np.int64)
        self._closes: tuple[IntArray, ...] = (np.asarray(close_ticks, dtype=np.int64),)
        self._ticks: tuple[Decimal, ...] = (tick_size,)
        if len(self._closes[0]) != len(self._times):
            raise ValueError(f"{len(self._times)} times for {len(self._closes[0])} closes")
        self._starts: list[int] = []  # first point of each balance segment, increasing
        self._quote: list[Decimal] = []
        self._base: list[tuple[Decimal, ...]] = []  # one holding per asset

    @classmethod
    def of_assets(
        cls, times_ns: IntArray, close_ticks: Sequence[IntArray], tick_sizes: Sequence[Decimal]
    ) -> EquityCurve:
        """A curve over several assets: ``close_ticks[k]`` (at ``tick_sizes[k]``) is asset ``k``'s price at
        each point (its last close at or before the point's time)."""
        if not close_ticks or len(close_ticks) != len(tick_sizes):
            raise ValueError(f"{len(close_ticks)} price series for {len(tick_sizes)} tick sizes")
        curve = cls(times_ns, close_ticks[0], tick_sizes[0])
        curve._closes = tuple(np.asarray(c, dtype=np.int64) for c in close_ticks)
        curve._ticks = tuple(tick_sizes)
        if any(len(c) != len(curve._times) for c in curve._closes):
            raise ValueError(f"{len(curve._times)} times, price series of {[len(c) for c in curve._closes]}")
        return curve

    def mark(self, index: int, quote: Decimal, *base: Decimal) -> None:
        """From point ``index`` on, the account holds ``quote`` and ``base`` (one amount per asset;
        totals, free + locked).

        The first mark is point 0 (the starting balances); later ones never go back in time.
        """
        if len(base) != len(self._closes):
            raise ValueError(f"{len(base)} base amounts for {len(self._closes)} assets")
        if not self._starts and index != 0:
            raise ValueError(f"the first balance mark is point 0, not {index}")
        if self._starts and index <= self._starts[-1]:
            if index < self._starts[-1]:
                raise ValueError(f"balances marked at point {index}, before the last mark {self._starts[-1]}")
            self._quote[-1], self._base[-1] = quote, base  # a second change at the same point replaces the first
            return
        self._starts.append(index)
        self._quote.append(quote)
        self._base.append(base)

    @property
    def times_ns(self) -> IntArray:
        """The points' times (read-only view)."""
        view = self._times.view()
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return len(self._times) if self._starts else 0

    @overload
    def __getitem__(self, index: int) -> tuple[int, Decimal]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, Decimal]]: ...
    def __getitem__(self, index: int | slice) -> tuple[int, Decimal] | list[tuple[int, Decimal]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"point {index} of {n}")
        i = index % n
        segment = bisect_right(self._starts, i) - 1
        value = self._quote[segment]
        for base, closes, tick in zip(self._base[segment], self._closes, self._ticks, strict=True):
            value += base * (int(closes[i]) * tick)
        return int(self._times[i]), value

    def __iter__(self) -> Iterator[tuple[int, Decimal]]:
        if not self._starts:
            return
        times = self._times.tolist()
        bounds = [*self._starts[1:], len(times)]
        segments = zip(self._starts, bounds, self._quote, self._base, strict=True)
        if len(self._closes) == 1:  # one asset: the short way
            closes, tick = self._closes[0].tolist(), self._ticks[0]
            for start, stop, quote, (base,) in segments:
                for i in range(start, stop):
                    yield times[i], quote + base * (closes[i] * tick)
            return
        prices = [c.tolist() for c in self._closes]
        for start, stop, quote, bases in segments:
            for i in range(start, stop):
                value = quote
                for base, closes, tick in zip(bases, prices, self._ticks, strict=True):
                    value += base * (closes[i] * tick)
                yield times[i], value

    def arrays(self) -> tuple[IntArray, FloatArray]:
        """Times and equity as floats (research code): each value is ``float`` of the exact equity,
        correctly rounded, so every path that measures the same balances gets the same bits (the
        fast backtest's curve is built the same way). Vectorised while the amounts fit exact floats."""
        if not self._starts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        values = self._exact_floats()
        if values is None:  # amounts beyond 53 bits: one correctly rounded conversion per point
            values = np.fromiter((float(v) for _, v in self), dtype=np.float64, count=len(self))
        return self._times.copy(), values

    def _exact_floats(self) -> FloatArray | None:
        """Every point as ``units / 10**exponent`` with integer units below 2**53 and an exact power of
        ten (``exponent`` <= 22): one IEEE division, correctly rounded. None when they do not fit."""
        assets = range(len(self._closes))
        with localcontext(prec=_EXACT_DIGITS):
            # each asset's holding valued per tick of its price, exactly
            base_values = [[b[k] * self._ticks[k] for b in self._base] for k in assets]
            amounts = [*self._quote, *(v for values in base_values for v in values)]
            exponent = max([0, *(-int(a.normalize().as_tuple().exponent) for a in amounts if a)])
            if exponent > _MAX_EXACT_EXPONENT:
                return None
            quote_units = [int(q.scaleb(exponent)) for q in self._quote]
            base_units = [[int(v.scaleb(exponent)) for v in values] for values in base_values]
        reach = max(map(abs, quote_units))
        for k in assets:
            top_close = int(np.max(np.abs(self._closes[k]), initial=0))
            reach += max(map(abs, base_units[k])) * top_close
        if reach >= _EXACT_FLOAT:
            return None
        bounds = [*self._starts[1:], len(self._times)]
        counts = [stop - start for start, stop in zip(self._starts, bounds, strict=True)]
        units = np.repeat(np.array(quote_units, dtype=np.int64), counts)
        for k in assets:
            units = units + np.repeat(np.array(base_units[k], dtype=np.int64), counts) * self._closes[k]
        return units.astype(np.float64) / float(10**exponent)
