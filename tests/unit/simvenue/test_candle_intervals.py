"""``CandleHistory.klines`` reads only the base candles a query needs; whatever the interval, the
start, end and limit, it must answer what aggregating the whole history and then selecting would."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from thunes.domain.market import Bar, Symbol, Timeframe
from thunes.simvenue.candles import KLINE_INTERVALS, Candle, CandleHistory, bucket_ms, served_intervals

D = Decimal
HOUR_NS = 3_600_000_000_000
START_NS = 1_732_665_600_000_000_000  # 2024-11-27 00:00 UTC, a Wednesday
SPAN_MS = 200 * 86_400_000


def _history(hours: int, gap: tuple[int, int]) -> CandleHistory:
    """``hours`` 1h candles (minus the ``gap`` hours: the replayed file may have holes), the last still forming."""
    history = CandleHistory(Timeframe.H1)
    for h in range(hours):
        if gap[0] <= h < gap[1]:
            continue
        price = D(1000 + (h * 37) % 101)
        bar = Bar(Symbol("BTCUSDT"), Timeframe.H1, START_NS + h * HOUR_NS, price, price + 7, price - 5, price + 1,
                  D(h % 13) + D("0.12345"))  # fmt: skip
        history.on_bar_closed("BTCUSDT", bar)
    history.on_trade("BTCUSDT", START_NS + hours * HOUR_NS + 1, D(999), D("0.5"), False)
    return history


def _reference(history: CandleHistory, interval: str, start: int | None, end: int | None, limit: int) -> list[Candle]:
    """Everything aggregated, then selected: the slow, obvious answer."""
    every = history.klines("BTCUSDT", interval, None, None, 10**9)
    rows = [c for c in every if (start is None or c.open_ms >= start) and (end is None or c.open_ms <= end)]
    return rows[:limit] if start is not None else rows[-limit:]


@settings(max_examples=200, deadline=None)
@given(
    hours=st.integers(1, 24 * 120),
    gap=st.tuples(st.integers(0, 24 * 120), st.integers(0, 24 * 40)).map(lambda g: (g[0], g[0] + g[1])),
    interval=st.sampled_from(served_intervals(Timeframe.H1)),
    start=st.none() | st.integers(-86_400_000, SPAN_MS).map(lambda t: START_NS // 1_000_000 + t),
    end=st.none() | st.integers(-86_400_000, SPAN_MS).map(lambda t: START_NS // 1_000_000 + t),
    limit=st.integers(1, 40),
)
def test_klines_when_any_window_then_equal_aggregate_everything_then_select(
    hours: int, gap: tuple[int, int], interval: str, start: int | None, end: int | None, limit: int
) -> None:
    history = _history(hours, gap)

    got = history.klines("BTCUSDT", interval, start, end, limit)

    assert got == _reference(history, interval, start, end, limit)
    for candle in got:
        assert (candle.open_ms, candle.close_ms) == bucket_ms(interval, candle.open_ms)


def test_served_intervals_when_1h_or_5m_then_every_multiple_and_nothing_finer() -> None:
    assert served_intervals(Timeframe.H1) == ("1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
    assert served_intervals(Timeframe.M5)[:2] == ("5m", "15m")
    assert "3m" not in served_intervals(Timeframe.M5)
    assert served_intervals(Timeframe.M1) == tuple(i for i in KLINE_INTERVALS if i != "1s")
