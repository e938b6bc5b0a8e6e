"""The lazy feed leaves the venue's market exactly where replaying every bar leaves it, at every row
an order could arrive, including quiet stretches where bars do not trade at all."""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderType, Side, Timeframe, TimeInForce
from thunes.features.ohlcv import OHLCV
from thunes.features.tick_bars import TickBars
from thunes.simvenue.core import SimVenue
from thunes.simvenue.lazy_feed import TOO_MANY_LOTS, LazyBarFeed, part_lots, replay_together
from thunes.simvenue.replay import (
    BarContext,
    ReplayEvent,
    ReplayQuote,
    ReplayTrade,
    bar_events,
    bar_plans,
    feed_plan,
)
from thunes.simvenue.validation import OrderParams

D = Decimal
BTC = builtin_exchange_info().get("BTCUSDT")
STEP = BTC.step_size


class _Clock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def advance(self, ns: int) -> None:
        self.ns = max(self.ns, ns)


def _venue() -> tuple[SimVenue, _Clock]:
    clock = _Clock()
    venue = SimVenue({BTC.symbol: BTC}, clock, seed=1)
    venue.deposit("a", "USDT", D(100_000))
    return venue, clock


def _with_volume(bars: OHLCV, rows: slice, volume: float) -> OHLCV:
    column = bars.volume.copy()
    column[rows] = volume
    return dataclasses.replace(bars, volume=column)


def _quiet(bars: OHLCV, rows: slice) -> OHLCV:
    """``bars`` with the volume of ``rows`` below four steps: those bars replay no trade."""
    return _with_volume(bars, rows, 3 * float(STEP))


def _market(venue: SimVenue, clock: _Clock) -> tuple[object, ...]:
    m = venue.market("BTCUSDT")
    now_ms = clock.ns // 1_000_000
    return (m.bid, m.bid_qty, m.ask, m.ask_qty, m.last_price, m.bar_volume, m.bar_range, m.avg_price(now_ms), clock.ns)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 1_000),
    timeframe=st.sampled_from([Timeframe.M1, Timeframe.M5, Timeframe.H1]),
    quiet_from=st.integers(0, 150),
    quiet_len=st.integers(0, 40),
    gaps=st.lists(st.integers(1, 30), min_size=1, max_size=12),
)
def test_feed_to_when_rows_are_skipped_then_market_equals_the_eager_replay(
    seed: int, timeframe: Timeframe, quiet_from: int, quiet_len: int, gaps: list[int]
) -> None:
    bars = _quiet(generate_ohlcv("BTCUSDT", timeframe, 200, seed=seed), slice(quiet_from, quiet_from + quiet_len))
    lazy_venue, lazy_clock = _venue()
    feed = LazyBarFeed(lazy_venue, TickBars(bars, BTC.tick_size), STEP, lazy_clock.advance)
    eager_venue, eager_clock = _venue()
    plans = bar_plans(bars, BTC.tick_size, STEP)
    row, eager_row = -1, -1
    for gap in gaps:
        row = min(row + gap, len(bars) - 1)
        while eager_row < row:
            feed_plan(eager_venue, next(plans), BTC.tick_size, eager_clock.advance)
            eager_row += 1
        feed.feed_to(row)
        assert _market(lazy_venue, lazy_clock) == _market(eager_venue, eager_clock), f"row {row}"


def _without(bars: OHLCV, dropped: set[int]) -> OHLCV:
    """``bars`` less the rows ``dropped``: gaps in time, as a venue's outage leaves in recorded data."""
    keep = np.array([row not in dropped for row in range(len(bars))])
    return OHLCV(bars.symbol, bars.timeframe, bars.open_time_ns[keep], bars.open[keep], bars.high[keep],
                 bars.low[keep], bars.close[keep], bars.volume[keep])  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 1_000),
    dropped=st.sets(st.integers(1, 198), max_size=60),
    gaps=st.lists(st.integers(1, 12), min_size=1, max_size=20),
)
def test_feed_to_when_bars_are_missing_then_market_equals_the_eager_replay(
    seed: int, dropped: set[int], gaps: list[int]
) -> None:
    bars = _without(generate_ohlcv("BTCUSDT", Timeframe.M1, 200, seed=seed), dropped)
    lazy_venue, lazy_clock = _venue()
    feed = LazyBarFeed(lazy_venue, TickBars(bars, BTC.tick_size), STEP, lazy_clock.advance)
    eager_venue, eager_clock = _venue()
    plans = bar_plans(bars, BTC.tick_size, STEP)
    row, eager_row = -1, -1
    for gap in gaps:
        row = min(row + gap, len(bars) - 1)
        while eager_row < row:
            feed_plan(eager_venue, next(plans), BTC.tick_size, eager_clock.advance)
            eager_row += 1
        feed.feed_to(row)
        assert _market(lazy_venue, lazy_clock) == _market(eager_venue, eager_clock), f"row {row}"


def _assert_lazy_stamps_as_eager(bars: OHLCV, every: int) -> None:
    """Feed every bar eagerly and every ``every``-th row lazily: the latest trades and the market agree."""
    lazy_venue, lazy_clock = _venue()
    feed = LazyBarFeed(lazy_venue, TickBars(bars, BTC.tick_size), STEP, lazy_clock.advance)
    eager_venue, eager_clock = _venue()
    plans = bar_plans(bars, BTC.tick_size, STEP)
    for row in range(len(bars)):
        feed_plan(eager_venue, next(plans), BTC.tick_size, eager_clock.advance)
        if row % every == every - 1:
            feed.feed_to(row)
            lazy_window = list(lazy_venue.market("BTCUSDT").trades())[-8:]
            assert lazy_window == list(eager_venue.market("BTCUSDT").trades())[-8:]
            assert _market(lazy_venue, lazy_clock) == _market(eager_venue, eager_clock), f"row {row}"


def test_feed_to_when_bars_overlap_then_trades_are_stamped_as_the_eager_replay_stamps_them() -> None:
    """Open times closer than the timeframe (bad data, but allowed): the eager replay's clock is already
    past a bar's first points when it starts, so they are stamped at that clock, never earlier."""
    regular = generate_ohlcv("BTCUSDT", Timeframe.M5, 120, seed=9)
    bars = dataclasses.replace(regular, open_time_ns=regular.open_time_ns[0] + np.arange(120) * 100_000_000_000)
    _assert_lazy_stamps_as_eager(bars, every=7)


def test_feed_to_when_opens_are_not_whole_milliseconds_then_trades_are_stamped_as_the_eager_replay() -> None:
    """The lazy feed stamps a bar's trades as its open's ms plus each point's offset in ms: that must
    hold for an open with a sub-ms part too (the eager replay floors each point's own time)."""
    regular = generate_ohlcv("BTCUSDT", Timeframe.M1, 90, seed=4)
    _assert_lazy_stamps_as_eager(dataclasses.replace(regular, open_time_ns=regular.open_time_ns + 999_999), every=11)


def test_feed_to_when_a_bar_trades_more_lots_than_int64_holds_then_its_trades_are_exact() -> None:
    bars = _with_volume(generate_ohlcv("BTCUSDT", Timeframe.M1, 40, seed=2), slice(20, 21), 7.59452243282731e18)
    assert part_lots(bars.volume, STEP)[20] == TOO_MANY_LOTS
    lazy_venue, lazy_clock = _venue()
    feed = LazyBarFeed(lazy_venue, TickBars(bars, BTC.tick_size), STEP, lazy_clock.advance)
    eager_venue, eager_clock = _venue()
    for plan in list(bar_plans(bars, BTC.tick_size, STEP))[:24]:
        feed_plan(eager_venue, plan, BTC.tick_size, eager_clock.advance)

    feed.feed_to(23)  # bar 20 is in the window, replayed as trades only

    assert _market(lazy_venue, lazy_clock) == _market(eager_venue, eager_clock)


def test_feed_to_when_an_order_rests_then_every_bar_is_replayed_and_it_fills_as_in_the_eager_replay() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 300, seed=7)
    lazy_venue, lazy_clock = _venue()
    feed = LazyBarFeed(lazy_venue, TickBars(bars, BTC.tick_size), STEP, lazy_clock.advance)
    eager_venue, eager_clock = _venue()
    plans = list(bar_plans(bars, BTC.tick_size, STEP))
    for plan in plans[:51]:
        feed_plan(eager_venue, plan, BTC.tick_size, eager_clock.advance)
    feed.feed_to(50)
    price = (D(float(bars.low[51:].min())) / BTC.tick_size).to_integral_value(ROUND_FLOOR) * BTC.tick_size + 100
    order = OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.001"), price=price, time_in_force=TimeInForce.GTC)
    for venue in (lazy_venue, eager_venue):
        assert venue.place_order("a", order).is_open
    assert feed.resting

    feed.feed_to(299)  # one call: the resting order makes every bar count
    for plan in plans[51:]:
        feed_plan(eager_venue, plan, BTC.tick_size, eager_clock.advance)

    lazy_trades, eager_trades = lazy_venue.my_trades("a", "BTCUSDT"), eager_venue.my_trades("a", "BTCUSDT")
    assert len(eager_trades) == 1 and lazy_trades == eager_trades
    assert not feed.resting
    assert _market(lazy_venue, lazy_clock) == _market(eager_venue, eager_clock)


@settings(max_examples=200, deadline=None)
@given(lots=st.integers(0, 10**9), offset=st.sampled_from([-1, 0, 1]), scale=st.sampled_from([1, 3, 4, 7]))
def test_part_lots_when_volume_sits_on_or_beside_a_boundary_then_equals_the_decimal_rule(
    lots: int, offset: int, scale: int
) -> None:
    volume = float(D(4 * lots + offset * scale) * STEP / 4)  # on a boundary, or a hair either side
    want = int((D(repr(volume)) / 4 / STEP).to_integral_value(ROUND_FLOOR))
    assert part_lots(np.array([volume]), STEP).tolist() == [want]


def _two_symbol_venue() -> tuple[SimVenue, _Clock]:
    clock = _Clock()
    info = builtin_exchange_info()
    venue = SimVenue({s: info.get(s) for s in ("BTCUSDT", "ETHUSDT")}, clock, seed=1)
    venue.deposit("a", "USDT", D(1_000_000))
    return venue, clock


def _rest_below(venue: SimVenue, bars: OHLCV, symbol: str, tick: Decimal) -> None:
    """A BUY LIMIT a few ticks above the lowest low ahead: it rests, then some bar's trade fills it."""
    price = (D(float(bars.low[51:].min())) / tick).to_integral_value(ROUND_FLOOR) * tick + 3 * tick
    order = OrderParams(symbol, Side.BUY, OrderType.LIMIT, D("0.01"), price=price, time_in_force=TimeInForce.GTC)
    assert venue.place_order("a", order).is_open


def test_replay_together_when_two_symbols_have_orders_resting_then_events_interleave_as_one_venue_replays_them() -> (
    None
):
    # Arrange: two symbols on one venue, each with a resting order; the reference replays both symbols'
    # events merged by time (one clock, each event at its own time), as a venue serving both does.
    info = builtin_exchange_info()
    btc, eth = info.get("BTCUSDT"), info.get("ETHUSDT")
    series = {"BTCUSDT": generate_ohlcv("BTCUSDT", Timeframe.M5, 200, seed=7),
              "ETHUSDT": generate_ohlcv("ETHUSDT", Timeframe.M5, 200, seed=8, start_price=2_500.0)}  # fmt: skip
    merged_venue, merged_clock = _two_symbol_venue()
    together_venue, together_clock = _two_symbol_venue()
    one_by_one_venue, one_by_one_clock = _two_symbol_venue()
    feeds = {}
    for venue, clock in ((together_venue, together_clock), (one_by_one_venue, one_by_one_clock)):
        feeds[id(venue)] = [LazyBarFeed(venue, TickBars(series[i.symbol], i.tick_size), i.step_size, clock.advance)
                            for i in (btc, eth)]  # fmt: skip
        for feed in feeds[id(venue)]:
            feed.feed_to(50)
    streams = [bar_events(series[i.symbol].slice(0, 51), i.tick_size, i.step_size) for i in (btc, eth)]
    _apply(merged_venue, merged_clock, heapq.merge(*streams, key=lambda e: e.ts_ns))
    for venue in (merged_venue, together_venue, one_by_one_venue):
        for instrument in (btc, eth):
            _rest_below(venue, series[instrument.symbol], instrument.symbol, instrument.tick_size)

    # Act
    rest = [bar_events(series[i.symbol], i.tick_size, i.step_size) for i in (btc, eth)]
    _apply(
        merged_venue,
        merged_clock,
        (e for e in heapq.merge(*rest, key=lambda e: e.ts_ns) if e.ts_ns >= _after(series, 50)),
    )
    for row in range(51, 200):
        replay_together([(feed, row) for feed in feeds[id(together_venue)]])
        for feed in feeds[id(one_by_one_venue)]:
            feed.feed_to(row)

    # Assert: the same fills at the same times, and the same markets; one symbol after the other does not
    for symbol in ("BTCUSDT", "ETHUSDT"):
        merged = merged_venue.my_trades("a", symbol)
        assert len(merged) >= 1, symbol
        assert together_venue.my_trades("a", symbol) == merged, symbol
        assert list(together_venue.market(symbol).trades()) == list(merged_venue.market(symbol).trades()), symbol
    assert together_clock.ns == merged_clock.ns
    one_by_one = [t.time_ms for s in ("BTCUSDT", "ETHUSDT") for t in one_by_one_venue.my_trades("a", s)]
    assert one_by_one != [t.time_ms for s in ("BTCUSDT", "ETHUSDT") for t in merged_venue.my_trades("a", s)]


def _after(series: dict[str, OHLCV], row: int) -> int:
    """The first event time after bar ``row`` of every symbol (they share open times)."""
    first = series["BTCUSDT"]
    return int(first.open_time_ns[row + 1])


def _apply(venue: SimVenue, clock: _Clock, events: Iterable[ReplayEvent]) -> None:
    for event in events:
        clock.advance(event.ts_ns)
        if isinstance(event, ReplayQuote):
            venue.on_quote(event.symbol, event.bid, event.bid_qty, event.ask, event.ask_qty)
        elif isinstance(event, ReplayTrade):
            venue.on_trade(event.symbol, event.price, event.quantity)
        elif isinstance(event, BarContext):
            venue.on_bar_context(event.symbol, event.volume, event.range_fraction)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1_000), start=st.integers(0, 199), length=st.integers(0, 60), per_row=st.booleans())
def test_sums_when_any_rows_then_those_of_the_trades_made(seed: int, start: int, length: int, per_row: bool) -> None:
    """What the venue takes for deferred trades (their lot and ticks x lots sums) is what making them
    gives, from the per-row sums or, without them (``per_row`` False), from the columns."""
    bars = _quiet(generate_ohlcv("BTCUSDT", Timeframe.M1, 200, seed=seed), slice(50, 80))
    venue, clock = _venue()
    feed = LazyBarFeed(venue, TickBars(bars, BTC.tick_size), STEP, clock.advance)
    if not per_row:
        feed._tick_sums = None
    stop = min(start + length, 199)
    assert feed._sums(start, stop) == feed._trades(start, stop)[1:]
