"""The replay model, written once: how a candle becomes the trades and quotes a venue sees, at which
times, and over which window the venue averages those trades (``avgPrice``).

A bar becomes a few points along a path through its prices (open, low, high, close when it closed up;
open, high, low, close when it closed down), each at a fixed share of the bar's span after its open.
At each point the venue is quoted ``quote_ticks`` either side of the price, showing the previous bar's
trade size (at least one step; the first bar shows its own), and a trade of the bar's volume split in
equal parts goes through when that part is at least one step. The slippage context of a bar is the
previous bar's volume and range. A bar's first point is its open and its last its close: the candle's
close *is* its last trade, so the last price and the quote at a close are the close's.

Who reads it: the event replay (``replay.bar_events``/``plan_bar``), the lazy feed (the same trades
straight from the columns), the venue (the ``avgPrice`` window) and the fast backtest's kernel, which
cannot call Python: it takes the model as integers (:meth:`ReplayModel.kernel_layout`), and a test
holds its trades, times and averages to this module's on random bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import TypeVar

from thunes.domain.instrument import Instrument
from thunes.domain.market import Timeframe

__all__ = ["CLOSE", "HIGH", "LOW", "OPEN", "REPLAY", "ReplayModel"]

OPEN, HIGH, LOW, CLOSE = 0, 1, 2, 3  # a bar's prices, as the kernel names its columns
NS_PER_MS = 1_000_000
MS_PER_MINUTE = 60_000
P = TypeVar("P", Decimal, int, float)  # a price: Decimal, integer ticks, or a float column's value


@dataclass(frozen=True, slots=True)
class ReplayModel:
    """The model's numbers. Point ``k`` of a bar opened at ``start`` spanning ``span`` ns is at
    ``start + span * fractions[k] // denominator + shifts_ns[k]``, at the price of column ``rising[k]``
    (``falling[k]`` when the bar closed below its open)."""

    rising: tuple[int, ...] = (OPEN, LOW, HIGH, CLOSE)
    falling: tuple[int, ...] = (OPEN, HIGH, LOW, CLOSE)
    fractions: tuple[int, ...] = (0, 1, 2, 4)
    denominator: int = 4
    shifts_ns: tuple[int, ...] = (0, 0, 0, -NS_PER_MS)  # the close's trade 1 ms before the bar ends
    volume_parts: int = 4  # each trade is floor(volume / volume_parts / step) steps
    quote_ticks: int = 1  # the quote's distance from each point's price, either side
    default_avg_price_mins: int = 5  # Binance's avgPriceMins when the symbol states none

    def __post_init__(self) -> None:
        n = len(self.rising)
        if not n or {len(self.falling), len(self.fractions), len(self.shifts_ns)} != {n}:
            raise ValueError("a replay model needs as many points, times and prices on each path")
        for path in (self.rising, self.falling):
            if path[0] != OPEN or path[-1] != CLOSE or not set(path) <= {OPEN, HIGH, LOW, CLOSE}:
                raise ValueError(f"a bar's path goes from its open to its close through its prices: {path}")
        if self.denominator < 1 or self.volume_parts < 1 or self.quote_ticks < 1 or self.default_avg_price_mins < 0:
            raise ValueError("denominator, volume_parts and quote_ticks must be >= 1, the average window >= 0")
        for timeframe in Timeframe:
            offsets = self.offsets_ns(timeframe.nanoseconds)
            if offsets[0] != 0 or list(offsets) != sorted(offsets) or offsets[-1] >= timeframe.nanoseconds:
                raise ValueError(f"points start at the open, in time order, within the bar: {offsets}")

    # --- time --------------------------------------------------------------------------------------
    def offsets_ns(self, span_ns: int) -> tuple[int, ...]:
        """When each point falls after the bar's open."""
        return tuple(span_ns * f // self.denominator + s for f, s in zip(self.fractions, self.shifts_ns, strict=True))

    def last_offset_ns(self, span_ns: int) -> int:
        """When the bar's last trade (its close) falls after its open."""
        return span_ns * self.fractions[-1] // self.denominator + self.shifts_ns[-1]

    # --- prices and sizes ----------------------------------------------------------------------------
    def columns(self, open_: P, close: P) -> tuple[int, ...]:
        """The columns the bar's path visits: ``rising`` when it closed at or above its open."""
        return self.rising if close >= open_ else self.falling

    def path(self, open_: P, high: P, low: P, close: P) -> tuple[P, ...]:
        """The prices the bar trades at, in order."""
        prices = (open_, high, low, close)
        return tuple(prices[c] for c in self.columns(open_, close))

    def points(self, start_ns: int, span_ns: int, open_: P, high: P, low: P, close: P) -> tuple[tuple[int, P], ...]:
        """The bar's ``(ts_ns, price)`` points."""
        path = self.path(open_, high, low, close)
        return tuple((start_ns + offset, price) for offset, price in zip(self.offsets_ns(span_ns), path, strict=True))

    def part(self, volume: Decimal, step_size: Decimal) -> Decimal:
        """Each of the bar's trades: its share of the volume, down to the step (zero: the bar does not trade)."""
        return (volume / self.volume_parts / step_size).to_integral_value(ROUND_FLOOR) * step_size

    def shown(self, previous_part: Decimal | None, own_part: Decimal, step_size: Decimal) -> Decimal:
        """The size quoted at each point: the previous bar's trade (the first bar's own), at least a step."""
        return max(step_size, own_part if previous_part is None else previous_part)

    @staticmethod
    def range_fraction(high: P, low: P, close: P) -> float:
        """A bar's range for the slippage context, ``(high - low) / close`` (ticks or prices: the same
        exact ratio), 0 for a zero close."""
        return float(Decimal(high - low) / Decimal(close)) if close else 0.0

    # --- the average price ---------------------------------------------------------------------------
    def avg_price_window_ms(self, instrument: Instrument) -> int:
        """The ``avgPrice`` window: the NOTIONAL filter's ``avgPriceMins``, else the default."""
        notional = instrument.notional
        return (notional.avg_price_mins if notional is not None else self.default_avg_price_mins) * MS_PER_MINUTE

    def first_open_in_window_ns(self, close_ns: int, span_ns: int, window_ms: int) -> int:
        """Bars opened before this time have no trade in the ``avgPrice`` window at ``close_ns`` (the venue
        counts whole ms: a trade at ``t`` ns counts when ``t // 1 ms >= close_ns // 1 ms - window_ms``).
        One ms earlier than exact, for a trade stamped later than its point (a clock already past it)."""
        horizon_ns = (close_ns // NS_PER_MS - window_ms) * NS_PER_MS
        return horizon_ns - self.last_offset_ns(span_ns) - NS_PER_MS + 1

    # --- the kernel's copy -------------------------------------------------------------------------
    def kernel_layout(self) -> tuple[int, ...]:
        """The model as integers, for code that cannot call this module (the numba kernel):
        ``(points, denominator, volume_parts, quote_ticks, *fractions, *shifts_ns, *rising, *falling)``."""
        head = (len(self.rising), self.denominator, self.volume_parts, self.quote_ticks)
        return head + self.fractions + self.shifts_ns + self.rising + self.falling


REPLAY = ReplayModel()
"""The model every replay uses (the event replay, the lazy feed, the venue's window, the kernel)."""
