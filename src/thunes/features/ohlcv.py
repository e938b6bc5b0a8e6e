"""Columnar OHLCV candles: the in-memory shape every loader returns and every strategy reads.

Prices are float64 here because this is research-side numeric data; anything that meets an
exchange converts them to integer ticks (:func:`to_ticks`) or ``Decimal`` first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar, Timeframe

__all__ = ["OHLCV", "OHLCVError", "candle_problem", "iter_bars", "to_ticks"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class OHLCVError(ValueError):
    """Candles that break the invariants below (unsorted, duplicated, ragged or non-finite)."""


@dataclass(frozen=True, slots=True, eq=False)
class OHLCV:
    """Candles sorted by open time, one row per period.

    ``open_time_ns`` is the candle *open* time in Unix nanoseconds (UTC); ``volume`` is in the
    base asset, as Binance reports it.
    """

    symbol: str
    timeframe: Timeframe
    open_time_ns: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.open_time_ns)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise OHLCVError(f"column {name!r} has {len(getattr(self, name))} rows, expected {n}")
        if n > 1 and not bool(np.all(np.diff(self.open_time_ns) > 0)):
            raise OHLCVError("open times must be strictly increasing (sorted, no duplicates)")
        for name in ("open", "high", "low", "close", "volume"):
            if not bool(np.all(np.isfinite(getattr(self, name)))):
                raise OHLCVError(f"column {name!r} holds NaN or infinite values")

    def __len__(self) -> int:
        return len(self.open_time_ns)

    def slice(self, start: int, stop: int) -> OHLCV:
        """Rows ``start:stop`` (views, no copy)."""
        return OHLCV(
            self.symbol,
            self.timeframe,
            self.open_time_ns[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        timeframe: Timeframe,
        open_time_ns: npt.ArrayLike,
        open_: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
    ) -> OHLCV:
        """Build from any array-likes, coercing dtypes (int64 times, float64 values)."""
        return cls(
            symbol,
            timeframe,
            np.ascontiguousarray(open_time_ns, dtype=np.int64),
            np.ascontiguousarray(open_, dtype=np.float64),
            np.ascontiguousarray(high, dtype=np.float64),
            np.ascontiguousarray(low, dtype=np.float64),
            np.ascontiguousarray(close, dtype=np.float64),
            np.ascontiguousarray(volume, dtype=np.float64),
        )


_CHUNK = 65_536  # bars converted at a time by iter_bars


def candle_problem(
    open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray
) -> tuple[int, str] | None:
    """The first row that no market can print, and why; ``None`` when every row is a possible candle.

    A possible candle has positive prices, ``low <= open, close <= high`` and a volume ``>= 0`` (zero is a
    quiet minute). Anything else (a zero price, a swapped high and low) makes every return computed on
    it meaningless, so loaders refuse the file. Vectorised: a million rows take a few milliseconds, and
    NaN fails every comparison, so it is refused too.
    """
    bad = ~(low > 0) | ~(high >= low) | ~(volume >= 0)
    bad |= ~((open_ >= low) & (open_ <= high) & (close >= low) & (close <= high))
    if not bool(bad.any()):
        return None
    i = int(np.argmax(bad))
    o, h, lo, c, v = (float(a[i]) for a in (open_, high, low, close, volume))
    for name, price in (("open", o), ("high", h), ("low", lo), ("close", c)):
        if not price > 0:
            return i, f"{name} price {price!r} is not positive"
    if not h >= lo:
        return i, f"high {h!r} is below low {lo!r}"
    for name, price in (("open", o), ("close", c)):
        if not lo <= price <= h:
            return i, f"{name} {price!r} is outside [low {lo!r}, high {h!r}]"
    return i, f"volume {v!r} is negative"


def to_ticks(prices: FloatArray, tick_size: Decimal) -> IntArray:
    """Prices as integer multiples of ``tick_size`` (nearest tick), exact for exchange data."""
    if tick_size <= 0:
        raise ValueError(f"tick_size must be positive, got {tick_size}")
    return np.rint(prices / float(tick_size)).astype(np.int64)


def iter_bars(ohlcv: OHLCV, tick_size: Decimal) -> Iterator[Bar]:
    """Domain bars with prices snapped to ``tick_size`` exactly as :func:`to_ticks` snaps them.

    Incremental strategies read these while vectorised ones read the tick arrays; both therefore
    see the very same integer prices.
    """
    symbol = Symbol(ohlcv.symbol)
    for start in range(0, len(ohlcv), _CHUNK):  # Python ints per chunk only: a million bars never sit in lists
        part = ohlcv.slice(start, start + _CHUNK)
        cols = [to_ticks(c, tick_size).tolist() for c in (part.open, part.high, part.low, part.close)]
        volume = part.volume.tolist()
        times = part.open_time_ns.tolist()
        for i, (o, h, lo, c) in enumerate(zip(*cols, strict=True)):
            yield Bar(
                symbol,
                ohlcv.timeframe,
                times[i],
                o * tick_size,
                h * tick_size,
                lo * tick_size,
                c * tick_size,
                Decimal(repr(volume[i])),
            )
