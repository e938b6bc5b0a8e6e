"""Turn recorded or synthetic candles into the market events a venue would have seen.

Inside each bar we synthesise trades along a path through its prices, each preceded by a quote
around it, as :mod:`~thunes.simvenue.replay_model` says (written once there: the lazy feed and the
fast kernel follow the same model). Without look-ahead: nothing about a bar is published before its
time comes, the bar's slippage context is the *previous* bar's volume and range, and the closed candle
is announced only at its close time.

Recorded markets use the same vocabulary plus depth snapshots and diffs (``capture_replay`` converts
raw WebSocket captures into these events).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, iter_bars
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay_model import REPLAY

__all__ = [
    "BarClosed",
    "BarContext",
    "BarPlan",
    "DepthLevels",
    "ReplayDepthDiff",
    "ReplayDepthSnapshot",
    "ReplayEvent",
    "ReplayQuote",
    "ReplayTrade",
    "bar_events",
    "bar_plans",
    "between",
    "feed_plan",
    "merged",
    "plan_bar",
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


@dataclass(frozen=True, slots=True)
class BarPlan:
    """Everything a bar publishes, before it becomes events: its slippage context (the previous bar's
    volume and range; None for the first bar), then its points ``(ts_ns, price)`` along its path, each a
    quote around the price, shown ``shown`` deep, and a trade of ``part`` when ``part > 0``."""

    bar: Bar
    symbol: str
    context: tuple[Decimal, float] | None
    points: tuple[tuple[int, Decimal], ...]
    part: Decimal
    shown: Decimal


def bar_plans(
    bars: OHLCV, tick_size: Decimal, step_size: Decimal, *, quote_qty: Decimal | None = None
) -> Iterator[BarPlan]:
    """One :class:`BarPlan` per bar, in time order (see :func:`bar_events` for ``quote_qty``)."""
    previous: BarPlan | None = None
    for bar in iter_bars(bars, tick_size):
        previous = plan_bar(bar, previous, step_size, quote_qty)
        yield previous


def plan_bar(bar: Bar, previous: BarPlan | None, step_size: Decimal, quote_qty: Decimal | None = None) -> BarPlan:
    """``bar``'s plan given the previous bar's (None for the first bar): all a plan depends on
    (the model's rules: :mod:`~thunes.simvenue.replay_model`)."""
    context = None
    if previous is not None:
        last = previous.bar
        context = (last.volume, REPLAY.range_fraction(last.high, last.low, last.close))
    part = REPLAY.part(bar.volume, step_size)
    shown = quote_qty
    if shown is None:
        shown = REPLAY.shown(previous.part if previous is not None else None, part, step_size)
    points = REPLAY.points(bar.open_time_ns, bar.timeframe.nanoseconds, bar.open, bar.high, bar.low, bar.close)
    return BarPlan(bar, str(bar.symbol), context, points, part, shown)


def feed_plan(venue: SimVenue, plan: BarPlan, tick_size: Decimal, advance: Callable[[int], None]) -> None:
    """Apply one bar's events to ``venue`` (as :func:`bar_events` would, without building them), calling
    ``advance(ts_ns)`` so the venue's clock reads the bar's time; ends at the bar's close."""
    points = plan.points
    advance(points[0][0])
    if plan.context is not None:
        venue.on_bar_context(plan.symbol, *plan.context)
    venue.on_path(plan.symbol, points, plan.part, plan.shown, tick_size * REPLAY.quote_ticks)  # each at its time
    advance(points[0][0] + plan.bar.timeframe.nanoseconds)


def bar_events(
    bars: OHLCV,
    tick_size: Decimal,
    step_size: Decimal,
    *,
    first_trade_id: int = 1,
    quote_qty: Decimal | None = None,
) -> Iterator[ReplayEvent]:
    """Events of every bar in time order. ``quote_qty`` is the size shown at the best bid/ask
    (``None``: the previous bar's trade size, at least one step: ``ReplayModel.shown``)."""
    trade_id, update_id = first_trade_id, 1
    spread = tick_size * REPLAY.quote_ticks
    for plan in bar_plans(bars, tick_size, step_size, quote_qty=quote_qty):
        symbol, points, part, shown = plan.symbol, plan.points, plan.part, plan.shown
        if plan.context is not None:
            yield BarContext(symbol, points[0][0], *plan.context)
        last = points[0][1]
        for ts, price in points:
            yield ReplayQuote(symbol, ts, update_id, price - spread, shown, price + spread, shown)
            update_id += 1
            if part > 0:
                yield ReplayTrade(symbol, ts, trade_id, price, part, buyer_is_maker=price < last)
                trade_id += 1
            last = price
        yield BarClosed(symbol, points[0][0] + plan.bar.timeframe.nanoseconds, plan.bar)


def between(events: Iterable[ReplayEvent], start_ns: int | None, end_ns: int | None) -> Iterator[ReplayEvent]:
    """The events with ``start_ns <= ts_ns < end_ns`` (either bound optional); stops at ``end_ns``."""
    for event in events:
        if end_ns is not None and event.ts_ns >= end_ns:
            return
        if start_ns is None or event.ts_ns >= start_ns:
            yield event


def _merge_key(event: ReplayEvent) -> tuple[int, int]:
    return event.ts_ns, 0 if isinstance(event, BarClosed) else 1


def merged(streams: Sequence[Iterable[ReplayEvent]]) -> Iterator[ReplayEvent]:
    """Several symbols' events on one clock: in time order and, at one time, every candle closing then
    before anything of the next bar (so a trader acting on a close sees every symbol's close first).
    Ties keep the order of ``streams``, and each stream keeps its own order: the merge is the same on
    every run, which a journal's replay position (a count of events) relies on. Lazy, one event ahead
    per stream."""
    if len(streams) == 1:
        return iter(streams[0])
    return heapq.merge(*streams, key=_merge_key)
