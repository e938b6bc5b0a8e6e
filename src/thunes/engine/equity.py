"""An exact equity curve that costs a few bytes per bar instead of a Python tuple and ``Decimal``.

A backtest marks its equity (quote + base valued at the close) after every bar, and on a million
bars a list of ``(ts, Decimal)`` alone holds ~200 MB. Between two fills the balances do not move,
only the price does, so the curve keeps the bars' close times and close prices (integer ticks, shared
with the bar arrays) and the balances at each change. Any point is rebuilt exactly in ``Decimal``;
:meth:`EquityCurve.arrays` gives the float view research code wants, vectorised.
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
    """``(close time ns, equity)`` per bar; balances recorded with :meth:`mark` as they change."""

    def __init__(self, times_ns: IntArray, close_ticks: IntArray, tick_size: Decimal) -> None:
        if len(times_ns) != len(close_ticks):
            raise ValueError(f"{len(times_ns)} times for {len(close_ticks)} closes")
        self._times = np.asarray(times_ns, dtype=np.int64)
        self._closes = np.asarray(close_ticks, dtype=np.int64)
        self._tick = tick_size
        self._starts: list[int] = []  # first point of each balance segment, increasing
        self._quote: list[Decimal] = []
        self._base: list[Decimal] = []

    def mark(self, index: int, quote: Decimal, base: Decimal) -> None:
        """From point ``index`` on, the account holds ``quote`` and ``base`` (totals, free + locked).

        The first mark is point 0 (the starting balances); later ones never go back in time.
        """
        if not self._starts and index != 0:
            raise ValueError(f"the first balance mark is point 0, not {index}")
        if self._starts and index <= self._starts[-1]:
            if index < self._starts[-1]:
                raise ValueError(f"balances marked at point {index}, before the last mark {self._starts[-1]}")
            self._quote[-1], self._base[-1] = quote, base  # a second change at the same bar replaces the first
            return
        self._starts.append(index)
        self._quote.append(quote)
        self._base.append(base)

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
        price = int(self._closes[i]) * self._tick
        return int(self._times[i]), self._quote[segment] + self._base[segment] * price

    def __iter__(self) -> Iterator[tuple[int, Decimal]]:
        if not self._starts:
            return
        times, closes, tick = self._times.tolist(), self._closes.tolist(), self._tick
        bounds = [*self._starts[1:], len(times)]
        for start, stop, quote, base in zip(self._starts, bounds, self._quote, self._base, strict=True):
            for i in range(start, stop):
                yield times[i], quote + base * (closes[i] * tick)

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
        with localcontext(prec=_EXACT_DIGITS):
            base_values = [b * self._tick for b in self._base]  # base valued per tick of price, exactly
            amounts = [*self._quote, *base_values]
            exponent = max([0, *(-int(a.normalize().as_tuple().exponent) for a in amounts if a)])
            if exponent > _MAX_EXACT_EXPONENT:
                return None
            quote_units = [int(q.scaleb(exponent)) for q in self._quote]
            base_units = [int(b.scaleb(exponent)) for b in base_values]
        top_close = int(np.max(np.abs(self._closes), initial=0))
        if max(map(abs, quote_units)) + max(map(abs, base_units)) * top_close >= _EXACT_FLOAT:
            return None
        bounds = [*self._starts[1:], len(self._times)]
        counts = [stop - start for start, stop in zip(self._starts, bounds, strict=True)]
        quote = np.repeat(np.array(quote_units, dtype=np.int64), counts)
        base = np.repeat(np.array(base_units, dtype=np.int64), counts)
        return (quote + base * self._closes).astype(np.float64) / float(10**exponent)
