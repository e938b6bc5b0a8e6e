"""Per-symbol market state: the remembered average price and the O(1) "crosses nothing" check stay exact."""

from __future__ import annotations

import random
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderType, Side, TimeInForce
from thunes.simvenue.market import MarketState
from thunes.simvenue.models import SimOrder
from thunes.simvenue.slippage import SlippageModel

D = Decimal
T0_MS = 1_700_000_000_000
WINDOW_MS = 5 * 60_000
BTC = builtin_exchange_info().instruments["BTCUSDT"]  # type: ignore[index]


def _market() -> MarketState:
    return MarketState(BTC, D("0.001"), SlippageModel())


def _naive_avg(trades: list[tuple[int, Decimal, Decimal]], now_ms: int, last: Decimal | None) -> Decimal | None:
    """filters.md avgPrice from scratch: volume-weighted over the trades of the last five minutes."""
    recent = [(p, q) for t, p, q in trades if t >= now_ms - WINDOW_MS]
    qty = sum((q for _, q in recent), D(0))
    if not recent or qty == 0:
        return last
    tick = BTC.tick_size
    return (sum((p * q for p, q in recent), D(0)) / qty / tick).to_integral_value(ROUND_FLOOR) * tick


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 300))
def test_avg_price_when_trades_and_time_move_then_equals_the_naive_window(rng: random.Random, n: int) -> None:
    market, trades, now = _market(), [], T0_MS
    for _ in range(n):
        step = rng.choice([0, 0, 1, 1_000, 59_999, WINDOW_MS - 1, WINDOW_MS, WINDOW_MS + 1])
        now += step
        if rng.random() < 0.5:
            price, qty = D(30_000) + D(rng.randint(-500, 500)) / 100, D(rng.randint(0, 50)) / 100
            market.record_trade(price, qty, now)
            trades.append((now, price, qty))
        expected = _naive_avg(trades, now, trades[-1][1] if trades else None)

        assert market.avg_price(now) == expected
        assert market.avg_price(now) == expected  # asked twice: the remembered answer


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 400), st.sampled_from([3, 4096]))
def test_avg_price_when_asked_rarely_then_trades_that_aged_out_unasked_never_count(
    rng: random.Random, n: int, catch_up_every: int
) -> None:
    """Most trades of a replay leave the window before anyone asks (they are dropped unsummed), and the
    periodic catch-up that bounds memory may run in between: the answer is still the naive window's."""
    import thunes.simvenue.market as market_module

    saved, market_module._CATCH_UP_EVERY = market_module._CATCH_UP_EVERY, catch_up_every
    try:
        market, trades, now = _market(), [], T0_MS
        for _ in range(n):
            now += rng.choice([0, 1, 15_000, 60_000, WINDOW_MS])
            price, qty = D(30_000) + D(rng.randint(-500, 500)) / 100, D(rng.randint(1, 50)) / 100
            market.record_trade(price, qty, now)
            trades.append((now, price, qty))
            if rng.random() < 0.05:
                assert market.avg_price(now) == _naive_avg(trades, now, price)
        assert market.avg_price(now) == _naive_avg(trades, now, trades[-1][1])
    finally:
        market_module._CATCH_UP_EVERY = saved


def test_avg_price_when_oldest_trade_reaches_the_window_edge_then_it_counts_until_the_next_millisecond() -> None:
    market = _market()
    market.record_trade(D(100), D(1), T0_MS)
    market.record_trade(D(200), D(1), T0_MS + 60_000)

    at_edge = market.avg_price(T0_MS + WINDOW_MS)
    still = market.avg_price(T0_MS + WINDOW_MS)
    after = market.avg_price(T0_MS + WINDOW_MS + 1)

    assert (at_edge, still, after) == (D(150), D(150), D(200))


def _resting(order_id: int, side: Side, ticks: int) -> SimOrder:
    price = ticks * BTC.tick_size
    return SimOrder("a", "BTCUSDT", order_id, f"c{order_id}", side, OrderType.LIMIT, TimeInForce.GTC, price, D(1),
                    D(0), T0_MS, sequence=order_id, price_ticks=ticks)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(2_999_990, 3_000_010)), max_size=20),
    st.lists(st.integers(0, 30), max_size=10),
    st.sampled_from([D(0), D("0.001"), D("0.005"), D("0.009")]),
    st.integers(2_999_985, 3_000_015),
)
def test_may_cross_when_it_says_no_then_no_resting_order_is_crossed(
    orders: list[tuple[Side, int]], removed: list[int], fraction: Decimal, trade_ticks: int
) -> None:
    market = _market()
    resting = [_resting(i, side, ticks) for i, (side, ticks) in enumerate(orders)]
    for order in resting:
        market.rest(order)
    for i in removed:
        if i < len(resting):
            market.unrest(resting[i])
    price = trade_ticks * BTC.tick_size + fraction  # on the tick, or between two ticks

    crossed = list(market.crossed_by_trade(market.ticks(price)))

    if not market.may_cross(price):
        assert crossed == []
    if crossed:
        assert market.may_cross(price)


def test_may_cross_when_price_not_finite_then_the_exact_path_decides() -> None:
    market = _market()
    market.rest(_resting(1, Side.BUY, 2_900_000))

    assert market.may_cross(D("Infinity"))
    assert market.may_cross(D("NaN"))
    assert not market.may_cross(D(30_000))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 40))
def test_record_summed_when_batches_come_minutes_or_seconds_apart_then_sums_equal_record_trades(
    rng: random.Random, n: int
) -> None:
    """Batches whose sums are handed in (a replay's) leave the window, its running sums (value and
    exponent) and the average exactly as recording them one by one does: the window starting afresh
    (batches minutes apart) or not (seconds apart)."""
    summed, plain, now = _market(), _market(), T0_MS
    for _ in range(n):
        now += rng.choice([1_000, 15_000, WINDOW_MS, 2 * WINDOW_MS])
        batch = [(now - rng.randint(0, 400_000), D(rng.randint(2_900_000, 3_100_000)) * BTC.tick_size,
                  rng.randint(1, 40) * BTC.step_size) for _ in range(rng.randint(1, 8))]  # fmt: skip
        batch.sort(key=lambda trade: trade[0])
        qty = sum((q for _, _, q in batch), D(0))
        notional = sum((p * q for _, p, q in batch), D(0))
        summed.record_summed(batch, qty, notional, now)
        plain.record_trades(batch)
        asked = now + rng.choice([0, 1, 30_000])
        assert summed.avg_price(asked) == plain.avg_price(asked)
        assert list(summed.window) == list(plain.window)
        assert (str(summed.window_qty), str(summed.window_notional)) == (str(plain.window_qty),
                                                                         str(plain.window_notional))  # fmt: skip
        assert summed.last_price == plain.last_price
        now = asked


class _Maker:
    """Makes a batch of trades on demand, counting how often it was asked."""

    def __init__(self, batch: list[tuple[int, Decimal, Decimal]]) -> None:
        self.batch, self.calls = batch, 0

    def __call__(self) -> list[tuple[int, Decimal, Decimal]]:
        self.calls += 1
        return list(self.batch)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 40))
def test_record_deferred_when_batches_minutes_or_seconds_apart_then_same_as_record_trades(
    rng: random.Random, n: int
) -> None:
    """Deferred batches (their trades made only when needed) leave the averages, the last price, the
    running sums and the window exactly as recording the trades one by one does; a batch all of whose
    trades age out before anything needs them one by one is never made."""
    deferred, plain, now = _market(), _market(), T0_MS
    makers: list[_Maker] = []
    for _ in range(n):
        now += rng.choice([1_000, 15_000, WINDOW_MS, 2 * WINDOW_MS])
        batch = [(now - rng.randint(0, 200_000), D(rng.randint(2_900_000, 3_100_000)) * BTC.tick_size,
                  rng.randint(1, 40) * BTC.step_size) for _ in range(rng.randint(1, 8))]  # fmt: skip
        batch.sort(key=lambda trade: trade[0])
        qty = sum((q for _, _, q in batch), D(0))
        notional = sum((p * q for _, p, q in batch), D(0))
        makers.append(_Maker(batch))
        deferred.record_deferred(makers[-1], qty, notional, batch[-1][1], now - 200_000, now)
        plain.record_trades(batch)
        for asked in sorted(now + rng.choice([0, 1, 30_000, WINDOW_MS]) for _ in range(2)):
            assert deferred.avg_price(asked) == plain.avg_price(asked)
        assert deferred.last_price == plain.last_price
        now = asked
        if rng.random() < 0.2:  # someone reads the window: the pending trades are made, once
            assert list(deferred.trades()) == list(plain.trades())
            assert (str(deferred.window_qty), str(deferred.window_notional)) == (str(plain.window_qty),
                                                                                 str(plain.window_notional))  # fmt: skip
    assert all(maker.calls <= 1 for maker in makers)


def test_record_deferred_when_every_trade_ages_out_unread_then_never_made() -> None:
    market, plain = _market(), _market()
    for k in range(5):
        now = T0_MS + k * 2 * WINDOW_MS  # each batch leaves the window before the next comes
        batch = [(now - 1_000, D("30000.00"), D("0.01000")), (now, D("30000.10"), D("0.02000"))]

        def refuse() -> list[tuple[int, Decimal, Decimal]]:
            raise AssertionError("trades made although they all aged out unread")

        notional = sum((p * q for _, p, q in batch), D(0))
        market.record_deferred(refuse, D("0.03000"), notional, D("30000.10"), now - 1_000, now)
        plain.record_trades(batch)
        assert market.avg_price(now) == plain.avg_price(now)
        assert market.last_price == plain.last_price


def test_record_trade_when_deferred_pending_then_made_first_in_time_order() -> None:
    market = _market()
    batch = [(T0_MS, D("30000.00"), D("0.01000")), (T0_MS + 10, D("30001.00"), D("0.01000"))]
    maker = _Maker(batch)
    market.record_deferred(maker, D("0.02000"), sum((p * q for _, p, q in batch), D(0)), D("30001.00"), T0_MS,
                           T0_MS + 10)  # fmt: skip
    market.record_trade(D("30002.00"), D("0.01000"), T0_MS + 20)
    assert maker.calls == 1
    assert [t for t, _, _ in market.trades()] == [T0_MS, T0_MS + 10, T0_MS + 20]
    assert market.avg_price(T0_MS + 20) == D("30001.00")
