"""Feeding a venue bar plans (one call per bar) leaves it exactly where the replay's events leave it."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderType, Side, Timeframe, TimeInForce
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import BarClosed, BarContext, ReplayQuote, ReplayTrade, bar_events, bar_plans, feed_plan
from thunes.simvenue.validation import OrderParams

D = Decimal
BTC = builtin_exchange_info().get("BTCUSDT")
ACCOUNT = "alice"


class _Clock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def advance(self, ns: int) -> None:
        self.ns = max(self.ns, ns)


def _venue() -> tuple[SimVenue, _Clock]:
    clock = _Clock()
    venue = SimVenue({BTC.symbol: BTC}, clock, seed=3)
    venue.deposit(ACCOUNT, "USDT", D(1_000_000))
    venue.deposit(ACCOUNT, "BTC", D(10))
    return venue, clock


def _rest_orders(venue: SimVenue, prices: list[Decimal]) -> None:
    """Resting orders around the market, for the replay's trades to go through."""
    for k, price in enumerate(prices):
        side = Side.BUY if k % 2 == 0 else Side.SELL
        params = OrderParams("BTCUSDT", side, OrderType.LIMIT, D("0.001"), price=price, time_in_force=TimeInForce.GTC)
        venue.place_order(ACCOUNT, params)


def _state(venue: SimVenue) -> tuple[object, ...]:
    m = venue.market("BTCUSDT")
    reports = venue.drain(ACCOUNT)
    return (venue.balances(ACCOUNT), venue.open_orders(ACCOUNT), venue.my_trades(ACCOUNT, "BTCUSDT"), reports,
            m.bid, m.bid_qty, m.ask, m.ask_qty, m.last_price, m.bar_volume, m.bar_range)  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), offsets=st.lists(st.integers(-3_000, 3_000), max_size=12))
def test_feed_plan_when_bars_cross_resting_orders_then_same_venue_as_event_by_event(
    seed: int, n: int, offsets: list[int]
) -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, n, seed=seed)
    first_close = D(repr(float(bars.close[0]))).quantize(BTC.tick_size)
    prices = [first_close + D(o) / 10 for o in offsets]
    by_event, event_clock = _venue()
    by_plan, plan_clock = _venue()
    _rest_orders(by_event, prices)
    _rest_orders(by_plan, prices)
    tick, step = BTC.tick_size, BTC.step_size

    for event in bar_events(bars, tick, step):
        event_clock.advance(event.ts_ns)
        if isinstance(event, ReplayTrade):
            by_event.on_trade(event.symbol, event.price, event.quantity)
        elif isinstance(event, ReplayQuote):
            by_event.on_quote(event.symbol, event.bid, event.bid_qty, event.ask, event.ask_qty)
        elif isinstance(event, BarContext):
            by_event.on_bar_context(event.symbol, event.volume, event.range_fraction)
        else:
            assert isinstance(event, BarClosed)
    for plan in bar_plans(bars, tick, step):
        feed_plan(by_plan, plan, tick, plan_clock.advance)

    assert plan_clock.ns == event_clock.ns
    assert _state(by_plan) == _state(by_event)
    assert by_plan.avg_price("BTCUSDT") == by_event.avg_price("BTCUSDT")


def test_bar_events_when_bars_replayed_then_sizes_times_and_path_as_documented() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 30, seed=5)
    tick, step = BTC.tick_size, BTC.step_size
    plans = list(bar_plans(bars, tick, step))
    events = list(bar_events(bars, tick, step))

    def quarter(volume: Decimal) -> Decimal:
        return (volume / 4 / step).to_integral_value(ROUND_FLOOR) * step

    for k, plan in enumerate(plans):
        bar, start = plan.bar, plan.bar.open_time_ns
        base = plans[k - 1].bar.volume if k else bar.volume  # the previous bar's volume; the first bar's own
        up = bar.close >= bar.open
        path = [bar.open, bar.low, bar.high, bar.close] if up else [bar.open, bar.high, bar.low, bar.close]
        assert plan.shown == max(step, quarter(base))
        assert plan.part == quarter(bar.volume)
        assert [p for _, p in plan.points] == path
        assert [t - start for t, _ in plan.points] == [0, 15_000_000_000, 30_000_000_000, 59_999_000_000]
        assert plan.context == (None if k == 0 else (plans[k - 1].bar.volume, plan.context[1]))  # type: ignore[index]
    quotes = [e for e in events if isinstance(e, ReplayQuote)]
    assert [q.bid_qty for q in quotes] == [p.shown for p in plans for _ in range(4)]
    assert [q.ask - q.bid for q in quotes] == [2 * tick] * len(quotes)
    assert sum(isinstance(e, BarClosed) for e in events) == len(plans) == 30
