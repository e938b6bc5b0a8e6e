"""The incremental and vectorised faces of each strategy give identical signals on real data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from pyarrow import feather

from thunes.domain import Timeframe
from thunes.features import OHLCV, iter_bars, to_ticks
from thunes.strategy import RsiReversion, Signal, SmaCross, Strategy

TICK = Decimal("0.01")  # BTCUSDT and ETHUSDT PRICE_FILTER tickSize in the exchangeInfo dump


def _load(path: Path, timeframe: Timeframe) -> OHLCV:
    table = feather.read_table(path)
    times = table.column("date").cast("int64").to_numpy()
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    return OHLCV.from_arrays("BTCUSDT", timeframe, times, *cols)


def _incremental(strategy: Strategy, bars: OHLCV) -> np.ndarray:
    strategy.reset()
    return np.array([strategy.on_bar(bar) for bar in iter_bars(bars, strategy.tick_size)], dtype=np.int8)


DATASETS = [
    ("marketlab_2024-09_2026-02/BTC_USDT-1h.feather", Timeframe.H1, None),
    ("marketlab_2024-09_2026-02/ETH_USDT-5m.feather", Timeframe.M5, 40_000),
    ("ftrade_1m_2024-07_2024-08/BTC_USDT-1m.feather", Timeframe.M1, None),
]
STRATEGIES = [
    lambda: SmaCross(tick_size=TICK),
    lambda: SmaCross(5, 13, tick_size=TICK),
    lambda: RsiReversion(tick_size=TICK),
    lambda: RsiReversion(7, 25.0, 75.0, Decimal("0.01"), tick_size=TICK),
]


@pytest.mark.parametrize(("relative", "timeframe", "rows"), DATASETS)
@pytest.mark.parametrize("make", STRATEGIES)
def test_signals_when_real_data_then_vectorised_equals_incremental(
    shared_data: Path, relative: str, timeframe: Timeframe, rows: int | None, make: object
) -> None:
    bars = _load(shared_data / "binance" / "ohlcv" / relative, timeframe)
    if rows is not None:
        bars = bars.slice(0, rows)
    strategy = make()  # type: ignore[operator]

    vectorised = strategy.signals(bars)
    incremental = _incremental(strategy, bars)

    assert len(vectorised) == len(bars)
    mismatch = np.nonzero(vectorised != incremental)[0]
    assert mismatch.size == 0, f"first mismatch at row {mismatch[:5]}"
    assert (vectorised == Signal.ENTER_LONG).sum() >= 10  # a real test: signals do occur
    assert (vectorised == Signal.EXIT_LONG).sum() >= 10


@pytest.mark.parametrize("make", STRATEGIES)
def test_on_ticks_when_real_data_then_equals_on_bar(shared_data: Path, make: object) -> None:
    bars = _load(shared_data / "binance" / "ohlcv" / DATASETS[0][0], DATASETS[0][1])
    strategy = make()  # type: ignore[operator]
    ticks = [to_ticks(column, TICK).tolist() for column in (bars.open, bars.high, bars.low, bars.close)]

    by_bars = _incremental(strategy, bars)
    strategy.reset()
    by_ticks = np.array([strategy.on_ticks(*row) for row in zip(*ticks, strict=True)], dtype=np.int8)

    assert strategy.has_tick_face
    assert (by_ticks != Signal.HOLD).sum() >= 20
    assert by_ticks.tolist() == by_bars.tolist()


def _scanned(strategy: Strategy, ticks: list[list[int]], cuts: list[int]) -> list[int]:
    """Signals per row from ``scan`` over runs ending at ``cuts`` (resumed after each signal), then
    ``on_ticks`` on the remaining rows: a scan must leave the state that feeding row by row leaves."""
    out = [0] * len(ticks[0])
    row = 0
    for stop in cuts:
        while row < stop:
            hit, signal = strategy.scan(*ticks, row, stop)
            if signal is not Signal.HOLD:
                assert row <= hit < stop
                out[hit] = int(signal)
            row = hit + 1 if signal is not Signal.HOLD else stop
    for i in range(row, len(out)):
        out[i] = int(strategy.on_ticks(ticks[0][i], ticks[1][i], ticks[2][i], ticks[3][i]))
    return out


@pytest.mark.parametrize("make", STRATEGIES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scan_when_real_data_cut_anywhere_then_equals_on_ticks_row_by_row(
    shared_data: Path, make: object, seed: int
) -> None:
    """The event backtest feeds bars through ``scan`` (SmaCross's own tight loop, RsiReversion's the
    base class's): runs of random length, warm-up included, give every signal ``on_ticks`` gives."""
    bars = _load(shared_data / "binance" / "ohlcv" / DATASETS[0][0], DATASETS[0][1]).slice(0, 4000)
    strategy = make()  # type: ignore[operator]
    ticks = [to_ticks(column, TICK).tolist() for column in (bars.open, bars.high, bars.low, bars.close)]
    cuts = sorted(set(np.random.default_rng(seed).integers(0, 3000, size=40).tolist()))

    strategy.reset()
    by_ticks = [int(strategy.on_ticks(*row)) for row in zip(*ticks, strict=True)]
    strategy.reset()
    by_scan = _scanned(strategy, ticks, cuts)

    assert sum(1 for s in by_ticks if s) >= 20
    assert by_scan == by_ticks


@pytest.mark.parametrize("make", STRATEGIES)
def test_signals_when_future_bars_removed_then_past_signals_unchanged(shared_data: Path, make: object) -> None:
    bars = _load(shared_data / "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather", Timeframe.H1)
    strategy = make()  # type: ignore[operator]
    full = strategy.signals(bars)

    for cut in np.random.default_rng(7).integers(60, len(bars), size=25):
        assert np.array_equal(strategy.signals(bars.slice(0, int(cut))), full[: int(cut)]), f"look-ahead at {cut}"
