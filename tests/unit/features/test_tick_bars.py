"""TickBars gives the very bars iter_bars gives, by row and by chunk, and refuses a bad row up front
(bars built lazily would otherwise never check it)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.domain import Timeframe
from thunes.features import iter_bars, to_ticks
from thunes.features.tick_bars import TickBars

TICK = Decimal("0.01")


def test_bar_when_read_by_row_then_equals_iter_bars() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.M5, 500, seed=4)
    ticks = TickBars(bars, TICK)

    assert [ticks.bar(row) for row in range(len(bars))] == list(iter_bars(bars, TICK))


def test_chunks_when_many_rows_then_every_row_once_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("thunes.features.tick_bars._CHUNK", 64)
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 1_000, seed=5)
    ticks = TickBars(bars, TICK)

    firsts, times, closes = [], [], []
    for first, t, _, _, _, c in ticks.chunks():
        firsts.append(first)
        times += t
        closes += c

    assert firsts == list(range(0, 1_000, 64))
    assert times == bars.open_time_ns.tolist()
    assert closes == to_ticks(bars.close, TICK).tolist()


def test_first_row_at_or_after_when_between_rows_then_the_next_row() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.H1, 10, seed=6)
    ticks = TickBars(bars, TICK)
    t = bars.open_time_ns

    assert ticks.first_row_at_or_after(int(t[3])) == 3
    assert ticks.first_row_at_or_after(int(t[3]) + 1) == 4
    assert ticks.first_row_at_or_after(int(t[-1]) + 1) == 10


@pytest.mark.parametrize("column", ["low", "high"])
def test_init_when_a_row_breaks_the_bar_invariant_then_refused(column: str) -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.H1, 50, seed=7)
    bad = getattr(bars, column).copy()
    bad[17] = bars.close[17] * (1.5 if column == "low" else 0.5)  # low above the close, or high below it
    broken = dataclasses.replace(bars, **{column: bad})

    with pytest.raises(ValueError, match=f"inconsistent bar BTCUSDT @ {int(bars.open_time_ns[17])}"):
        TickBars(broken, TICK)


def test_init_when_volume_negative_then_refused() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.H1, 50, seed=8)
    volume = bars.volume.copy()
    volume[3] = -1.0

    with pytest.raises(ValueError, match="volume < 0"):
        TickBars(dataclasses.replace(bars, volume=volume), TICK)
    assert np.all(bars.volume >= 0)
