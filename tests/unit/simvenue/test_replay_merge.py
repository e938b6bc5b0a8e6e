"""Several symbols' replay events on one clock: time order across symbols, each symbol's own order kept,
every candle of a moment closed before the next bar of any symbol opens, the same merge on every run."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain.market import Timeframe
from thunes.simvenue.replay import BarClosed, ReplayEvent, bar_events, merged

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
PRICES = {"BTCUSDT": 40_000.0, "ETHUSDT": 2_500.0, "BNBUSDT": 300.0, "SOLUSDT": 100.0}
HOUR_NS = 3_600 * 10**9
START_NS = 1_704_067_200 * 10**9  # 2024-01-01


def _stream(symbol: str, bars: int, offset_hours: int) -> list[ReplayEvent]:
    instrument = builtin_exchange_info().get(symbol)
    ohlcv = generate_ohlcv(symbol, Timeframe.H1, bars, seed=len(symbol) + bars, start_price=PRICES[symbol],
                           start_ns=START_NS + offset_hours * HOUR_NS, tick_size=float(instrument.tick_size))  # fmt: skip
    return list(bar_events(ohlcv, instrument.tick_size, instrument.step_size))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.integers(0, 6)), min_size=1, max_size=4))
def test_merged_when_symbols_span_different_times_then_one_time_order_and_each_symbol_in_its_own(
    shapes: list[tuple[int, int]],
) -> None:
    streams = [_stream(symbol, bars, offset) for symbol, (bars, offset) in zip(SYMBOLS, shapes, strict=False)]

    events = list(merged(streams))

    assert sorted(map(id, events)) == sorted(id(e) for s in streams for e in s)  # nothing lost or repeated
    assert [e.ts_ns for e in events] == sorted(e.ts_ns for e in events)
    for stream in streams:  # each symbol's events in its own order
        assert [e for e in events if e.symbol == stream[0].symbol] == stream
    for before, after in itertools.pairwise(events):  # at one moment, every close comes first
        if before.ts_ns == after.ts_ns and isinstance(after, BarClosed):
            assert isinstance(before, BarClosed)
    assert list(merged(streams)) == events  # the same order on every run: a journal counts events


def test_merged_when_two_symbols_close_together_then_both_closes_precede_the_next_bars_events() -> None:
    btc, eth = _stream("BTCUSDT", 3, 0), _stream("ETHUSDT", 3, 0)

    events = list(merged([btc, eth]))
    first_close = next(i for i, e in enumerate(events) if isinstance(e, BarClosed))

    assert [(type(e).__name__, e.symbol) for e in events[first_close : first_close + 2]] == [
        ("BarClosed", "BTCUSDT"),
        ("BarClosed", "ETHUSDT"),
    ]
    assert {e.symbol for e in events[:first_close]} == {"BTCUSDT", "ETHUSDT"}  # the first bars interleaved
