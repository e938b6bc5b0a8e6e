"""The look-ahead check catches strategies that read the future and passes the honest ones."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyarrow import feather

from thunes.domain import Timeframe
from thunes.domain.market import Bar
from thunes.features import OHLCV
from thunes.research.lookahead import Face, check_lookahead, cut_points, signal_cut_points
from thunes.strategy import RsiReversion, Signal, SignalArray, SmaCross, Strategy

TICK = Decimal("0.01")


def _random_walk(n: int, seed: int = 7) -> OHLCV:
    rng = np.random.default_rng(seed)
    close = np.round(20_000 + np.cumsum(rng.normal(0, 40, n)), 2)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high, low = np.maximum(open_, close) + 5, np.minimum(open_, close) - 5
    times = np.arange(n, dtype=np.int64) * Timeframe.H1.nanoseconds
    return OHLCV.from_arrays("BTCUSDT", Timeframe.H1, times, open_, high, low, close, np.full(n, 3.0))


class NextBarPeeker(Strategy):
    """Cheats: keeps the candles it was built with and reads the *next* close to decide."""

    name = "next_bar_peeker"
    version = "0"

    def __init__(self, bars: OHLCV) -> None:
        self._close = bars.close  # the shared array: everything the backtest will ever see
        self._row = {t: i for i, t in enumerate(bars.open_time_ns.tolist())}
        super().__init__(None, TICK)

    @property
    def parameters(self) -> Mapping[str, Any]:
        return {}

    @property
    def warmup(self) -> int:
        return 1

    def reset(self) -> None:
        pass

    def _decide(self, row: int) -> Signal:
        if row + 1 >= len(self._close) or self._close[row + 1] == self._close[row]:
            return Signal.HOLD
        return Signal.ENTER_LONG if self._close[row + 1] > self._close[row] else Signal.EXIT_LONG

    def on_bar(self, bar: Bar) -> Signal:
        return self._decide(self._row[bar.open_time_ns])

    def signals(self, bars: OHLCV) -> SignalArray:
        return np.array([self._decide(i) for i in range(len(bars))], dtype=np.int8)


class EarlySma(SmaCross):
    """Honest bar by bar, but its vectorised face shifts the signals one bar early (a classic
    ``shift(-1)`` slip)."""

    def signals(self, bars: OHLCV) -> SignalArray:
        out = np.roll(super().signals(bars), -1)
        out[-1] = Signal.HOLD
        return out


def test_check_when_strategy_peeks_at_next_bar_then_every_changed_cut_is_reported_on_both_faces() -> None:
    bars = _random_walk(600)
    close = bars.close

    report = check_lookahead(NextBarPeeker, bars, samples=12)

    # The full run knew bar ``cut``'s close at row ``cut - 1``; the truncated run could not.
    expected = {
        (face, c, c - 1) for c in report.cuts if close[c] != close[c - 1] for face in (Face.ON_BAR, Face.SIGNALS)
    }
    found = {(v.face, v.cut, v.row) for v in report.violations}
    assert not report.passed
    assert 12 <= len(report.cuts) <= 24  # 12 evenly spaced, up to 12 right after signals (here: every bar)
    assert found == expected
    assert len(expected) >= 20
    assert all(v.truncated is Signal.HOLD and v.full is not Signal.HOLD for v in report.violations)
    assert all(v.open_time_ns == int(bars.open_time_ns[v.row]) for v in report.violations)


def test_check_when_only_vectorised_face_looks_ahead_then_only_that_face_is_reported() -> None:
    bars = _random_walk(800)
    crossings = np.nonzero(SmaCross(5, 20, tick_size=TICK).signals(bars))[0]
    assert len(crossings) > 5

    report = check_lookahead(lambda _: EarlySma(5, 20, tick_size=TICK), bars, cuts=crossings.tolist())

    assert {v.face for v in report.violations} == {Face.SIGNALS}
    assert sorted((v.cut, v.row) for v in report.violations) == [(int(c), int(c) - 1) for c in crossings]


def test_check_when_rare_signals_leak_one_bar_early_then_default_cuts_after_signals_catch_it() -> None:
    bars = _random_walk(800)
    crossings = set(np.nonzero(SmaCross(5, 20, tick_size=TICK).signals(bars))[0].tolist())
    # Cuts that fall anywhere but on a crossing see nothing: even spacing finds this leak by luck only.
    elsewhere = [c for c in range(25, 800, 25) if c not in crossings]
    assert check_lookahead(lambda _: EarlySma(5, 20, tick_size=TICK), bars, cuts=elsewhere).passed

    report = check_lookahead(lambda _: EarlySma(5, 20, tick_size=TICK), bars, samples=4)

    assert not report.passed
    assert {v.face for v in report.violations} == {Face.SIGNALS}


def test_check_when_honest_strategy_on_synthetic_data_then_passes_and_counts_what_it_compared() -> None:
    bars = _random_walk(500)
    calls: list[tuple[int, int]] = []

    report = check_lookahead(lambda _: SmaCross(5, 20, tick_size=TICK), bars, samples=7,
                             on_cut=lambda done, total: calls.append((done, total)))  # fmt: skip

    assert report.passed
    assert report.signals_compared == 2 * sum(report.cuts)
    assert report.faces == (Face.ON_BAR, Face.SIGNALS)
    assert calls == [(i, len(report.cuts)) for i in range(1, len(report.cuts) + 1)]
    assert len(report.cuts) > 7


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> OHLCV:
    table = feather.read_table(shared_data / "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather")
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    return OHLCV.from_arrays("BTCUSDT", Timeframe.H1, table.column("date").cast("int64").to_numpy(), *cols)


@pytest.mark.parametrize(
    "make",
    [lambda: SmaCross(tick_size=TICK), lambda: RsiReversion(tick_size=TICK)],
    ids=["sma_cross", "rsi_reversion"],
)
def test_check_when_shipped_strategies_on_real_btc_1h_then_no_signal_changes(btc_1h: OHLCV, make: Any) -> None:
    report = check_lookahead(lambda _: make(), btc_1h, samples=15)

    assert report.passed, report.violations[:5]
    assert 15 < len(report.cuts) <= 30
    assert report.cuts[-1] == len(btc_1h) - 1
    assert report.signals_compared == 2 * sum(report.cuts)
    # Meaningful only if cuts fall right after real signals, where a peek would change them.
    full = make().signals(btc_1h)
    assert np.count_nonzero(full) > 50
    assert sum(int(full[c - 1] != 0) for c in report.cuts) >= 14


def test_cut_points_when_asked_then_spread_evenly_deduplicated_and_before_the_end() -> None:
    assert cut_points(101, 5, first=1) == [1, 26, 50, 75, 100]
    assert cut_points(10, 50, first=5) == [5, 6, 7, 8, 9]
    assert cut_points(3, 4, first=5) == []
    with pytest.raises(ValueError, match="at least one cut"):
        cut_points(100, 0)


def test_signal_cut_points_when_signals_then_cut_right_after_them_spread_evenly() -> None:
    on_bar = [0, 1, 0, 0, -1, 0, 0, 1, 0, -1]
    vectorised = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]

    assert signal_cut_points([on_bar, vectorised], 10) == [2, 3, 5, 8]  # the last row has no bar after it
    assert signal_cut_points([on_bar, vectorised], 2) == [2, 8]
    assert signal_cut_points([[0, 0, 0]], 5) == []
    assert signal_cut_points([], 5) == []


def test_check_when_cut_outside_the_data_then_value_error() -> None:
    with pytest.raises(ValueError, match="cuts must lie in"):
        check_lookahead(lambda _: SmaCross(5, 20, tick_size=TICK), _random_walk(50), cuts=[50])
