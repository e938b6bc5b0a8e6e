"""Turn recorded or synthetic candles into the market events a venue would have seen.

Inside each bar we synthesise four trades along the path open → low → high → close when the
bar closed up (open → high → low → close when it closed down), each preceded by a quote one tick
around it. Without look-ahead: nothing about a bar is published before its time comes, the bar's
slippage context is the *previous* bar's volume and range, and the closed candle is announced
only at its close time.

Recorded markets use the same vocabulary plus depth snapshots and diffs (``capture_replay`` converts
raw WebSocket captures into these events).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, iter_bars

__all__ = [
    "BarClosed",
    "BarContext",
    "DepthLevels",
    "ReplayDepthDiff",
    "ReplayDepthSnapshot",
    "ReplayEvent",
    "ReplayQuote",
    "ReplayTrade",
    "bar_events",
    "between",
]  # fmt: skip

NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class ReplayTrade:
    symbol: str
    ts_ns: int
    trade_id: int
    price: Decimal
    quantity: Decimal
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class ReplayQuote:
    symbol: str
    ts_ns: int
    update_id: int
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal


@dataclass(frozen=True, slots=True)
class BarContext:
    """Slippage context for the bar that starts now: the last *closed* bar's volume and range."""

    symbol: str
    ts_ns: int
    volume: Decimal
    range_fraction: float


@dataclass(frozen=True, slots=True)
class BarClosed:
    """A candle that has just closed (``ts_ns`` is its close time)."""

    symbol: str
    ts_ns: int
    bar: Bar


DepthLevels = tuple[tuple[str, str], ...]
"""``(price, quantity)`` levels exactly as Binance printed them; a quantity of ``"0.00000000"`` removes the level."""


@dataclass(frozen=True, slots=True)
class ReplayDepthSnapshot:
    """A full book (REST ``/api/v3/depth``) as of book update id ``last_update_id``, from a recording."""

    symbol: str
    ts_ns: int
    last_update_id: int
    bids: DepthLevels
    asks: DepthLevels


@dataclass(frozen=True, slots=True)
class ReplayDepthDiff:
    """A recorded ``depthUpdate`` covering book update ids ``first_update_id..final_update_id`` (``U``..``u``)."""

    symbol: str
    ts_ns: int
    first_update_id: int
    final_update_id: int
    bids: DepthLevels
    asks: DepthLevels


ReplayEvent = ReplayTrade | ReplayQuote | BarContext | BarClosed | ReplayDepthSnapshot | ReplayDepthDiff


def _path(bar: Bar) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    if bar.close >= bar.open:
        return bar.open, bar.low, bar.high, bar.close
    return bar.open, bar.high, bar.low, bar.close


def bar_events(
    bars: OHLCV,
    tick_size: Decimal,
    step_size: Decimal,
    *,
    first_trade_id: int = 1,
    quote_qty: Decimal | None = None,
) -> Iterator[ReplayEvent]:
    """Events of every bar in time order. ``quote_qty`` is the size shown at the best bid/ask
    (``None``: a quarter of the previous bar's volume, at least one step)."""
    trade_id, update_id = first_trade_id, 1
    previous: Bar | None = None
    for bar in iter_bars(bars, tick_size):
        symbol, start, span = str(bar.symbol), bar.open_time_ns, bar.timeframe.nanoseconds
        if previous is not None:
            spread = float((previous.high - previous.low) / previous.close) if previous.close else 0.0
            yield BarContext(symbol, start, previous.volume, spread)
        part = (bar.volume / 4 / step_size).to_integral_value(ROUND_FLOOR) * step_size
        shown = quote_qty
        if shown is None:
            base = previous.volume if previous is not None else bar.volume
            shown = max(step_size, (base / 4 / step_size).to_integral_value(ROUND_FLOOR) * step_size)
        path = _path(bar)
        last = path[0]
        for k, price in enumerate(path):
            ts = start + (span * k) // 4 if k < 3 else start + span - NS_PER_MS
            yield ReplayQuote(symbol, ts, update_id, price - tick_size, shown, price + tick_size, shown)
            update_id += 1
            if part > 0:
                yield ReplayTrade(symbol, ts, trade_id, price, part, buyer_is_maker=price < last)
                trade_id += 1
            last = price
        yield BarClosed(symbol, start + span, bar)
        previous = bar


def between(events: Iterable[ReplayEvent], start_ns: int | None, end_ns: int | None) -> Iterator[ReplayEvent]:
    """The events with ``start_ns <= ts_ns < end_ns`` (either bound optional); stops at ``end_ns``."""
    for event in events:
        if end_ns is not None and event.ts_ns >= end_ns:
            return
        if start_ns is None or event.ts_ns >= start_ns:
            yield event
