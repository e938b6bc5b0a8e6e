"""The fast path's compiled passes over a whole series (``backtest/fast_series.py``) equal the numpy code
they replace: the SMA crossover's signal rows are ``SmaCross.signals``' after the warm-up, and the
equity curve from the kernel's columns is the one rebuilt from its fills, bit for bit."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.app.config import load_settings
from thunes.backtest.fast import run_fast_backtest, signal_rows
from thunes.backtest.fast_series import compiled_signal_rows
from thunes.backtest.run import equity_curve
from thunes.domain import Timeframe
from thunes.features.ohlcv import OHLCV
from thunes.strategy import RsiReversion, SmaCross

INFO = builtin_exchange_info()
BTC = INFO.get("BTCUSDT")
TICK = Decimal("0.01")


def _closes(ticks: list[int], tick: Decimal) -> OHLCV:
    close = np.asarray(ticks, dtype=np.float64) * float(tick)
    times = np.arange(len(ticks), dtype=np.int64) * Timeframe.M1.nanoseconds
    return OHLCV.from_arrays("BTCUSDT", Timeframe.M1, times, close, close, close, close, np.ones(len(ticks)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.integers(-3, 3), min_size=0, max_size=400),  # small steps: many equal averages
    fast=st.integers(1, 12),
    extra=st.integers(1, 30),
    warmup=st.integers(0, 60),
    tick=st.sampled_from([TICK, Decimal("0.1"), Decimal("0.00001")]),
)
def test_sma_cross_rows_when_any_series_then_the_vectorised_strategys_signals(
    steps: list[int], fast: int, extra: int, warmup: int, tick: Decimal
) -> None:
    bars = _closes(list(1_000 + np.cumsum(steps, dtype=np.int64)), tick)
    strategy = SmaCross(fast, fast + extra, tick_size=tick)

    compiled = compiled_signal_rows(strategy, bars, warmup)
    rows, signals = signal_rows(strategy, bars, warmup)

    if len(bars) <= strategy.slow:
        assert compiled is None  # nothing to cross: the numpy way, which finds nothing
        assert len(rows) == 0
        return
    assert compiled is not None
    assert compiled[0].tolist() == rows.tolist()
    assert compiled[1].tolist() == signals.tolist()


def test_sma_cross_rows_when_real_looking_series_then_the_vectorised_strategys_signals() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 50_000, seed=4)
    strategy = SmaCross(10, 30, tick_size=TICK)

    compiled = compiled_signal_rows(strategy, bars, 100)
    rows, signals = signal_rows(strategy, bars, 100)

    assert compiled is not None and len(rows) > 1_000
    assert compiled[0].tolist() == rows.tolist() and compiled[1].tolist() == signals.tolist()


def test_compiled_signal_rows_when_no_compiled_face_then_none() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 500, seed=1)

    assert compiled_signal_rows(RsiReversion(tick_size=TICK), bars, 0) is None
    huge = _closes([10**19] * 100, Decimal(1))  # no int64 tick: numpy's conversion is not the compiled one's
    assert compiled_signal_rows(SmaCross(2, 5, tick_size=Decimal(1)), huge, 0) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    price=st.sampled_from([40_000.0, 3_000.0, 2.5]),
    strategy=st.sampled_from(["sma_cross", "rsi_reversion"]),
    fee=st.sampled_from(["0", "0.001", "0.0075"]),
    deposit=st.sampled_from(["15", "1000", "12345.678"]),
    warmup=st.sampled_from([0, 100, 1_999, 2_000]),
)
def test_equity_curve_when_any_kernel_run_then_equals_the_curve_rebuilt_from_its_fills(
    seed: int, price: float, strategy: str, fee: str, deposit: str, warmup: int
) -> None:
    base = load_settings(env={})
    config = base.model_copy(update={
        "strategy": base.strategy.model_copy(update={"name": strategy}),
        "risk": base.risk.model_copy(update={"cool_down_minutes": 0}),
        "backtest": base.backtest.model_copy(update={"fee_rate": Decimal(fee)}),
    })  # fmt: skip
    bars = generate_ohlcv("BTCUSDT", Timeframe.M5, 2_000, seed=seed, start_price=price)

    fast = run_fast_backtest(config, BTC, bars, INFO, warmup_bars=warmup, deposit=Decimal(deposit))
    assume(fast.kernel)  # a float too close to a boundary for the kernel (zero PnL at no fee): the engine core ran
    from_columns = fast.equity_curve(bars, warmup)
    times, values = equity_curve(bars, fast.fills, BTC, warmup_bars=warmup, deposit=Decimal(deposit))

    assert from_columns is not None
    assert from_columns[0].tolist() == times.tolist()
    assert from_columns[1].tolist() == values.tolist()  # bit for bit
