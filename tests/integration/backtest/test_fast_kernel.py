"""The fast backtest's compiled kernel against what it reproduces: the engine core at every signal bar
(``run_engine_core_backtest``) and the event-driven backtest. Same orders, fills, counters and final
position on synthetic markets where the risk limits, the filters, a small account and a thin market
actually bind; and the engine core, with the reason, whenever the kernel cannot be exact."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.app.config import Settings, load_settings
from thunes.backtest.event import EventBacktestResult, run_event_backtest
from thunes.backtest.fast import run_engine_core_backtest, run_fast_backtest
from thunes.backtest.fast_result import FastBacktestResult
from thunes.domain import Timeframe
from thunes.domain.enums import OrderStatus
from thunes.domain.instrument import Instrument, MaxPositionFilter, MinNotionalFilter, NotionalFilter
from thunes.features.ohlcv import OHLCV

INFO = builtin_exchange_info()
BTC = INFO.get("BTCUSDT")
BASE = load_settings(env={})
H1 = generate_ohlcv("BTCUSDT", Timeframe.H1, 3_000, seed=7)
M5 = generate_ohlcv("BTCUSDT", Timeframe.M5, 3_000, seed=3)

Scenario = tuple[Settings, Instrument, OHLCV, Decimal, Callable[[FastBacktestResult], bool]]


def _with(settings: Settings, **parts: dict[str, Any]) -> Settings:
    return settings.model_copy(update={name: getattr(settings, name).model_copy(update=v) for name, v in parts.items()})


def _volume(bars: OHLCV, volume: Any) -> OHLCV:
    return OHLCV.from_arrays(bars.symbol, bars.timeframe, bars.open_time_ns, bars.open, bars.high, bars.low,
                             bars.close, volume)  # fmt: skip


def _thin(bars: OHLCV, factor: float) -> OHLCV:
    return _volume(bars, np.round(bars.volume * factor, 5))


def _filters(**changes: Any) -> Instrument:
    return dataclasses.replace(BTC, **changes)


def _same(result: EventBacktestResult, reference: EventBacktestResult) -> None:
    assert result.fills == reference.fills
    assert result.orders == reference.orders
    assert result.stats == reference.stats
    assert result.position == reference.position


def _expired(result: FastBacktestResult) -> int:
    return sum(o.status is OrderStatus.EXPIRED for o in result.orders)


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "tight daily loss turns the kill-switch on": lambda: (
        _with(BASE, risk={"max_daily_loss": Decimal("0.05"), "cool_down_minutes": 0}), BTC, H1, Decimal(1000),
        lambda r: r.stats.denied["KILL_SWITCH"] > 0,
    ),
    "a long cool-down after each losing close": lambda: (
        _with(BASE, risk={"cool_down_minutes": 600}), BTC, H1, Decimal(1000), lambda r: r.stats.denied["COOL_DOWN"] > 0,
    ),
    "a small account runs out of quote (-2010)": lambda: (
        _with(BASE, risk={"max_order_notional": Decimal(12)}), BTC, H1, Decimal("12.5"),
        lambda r: r.stats.rejected[-2010] > 0 and len(r.fills) > 2,
    ),
    "a budget near the minimum notional: some entries cannot exit": lambda: (
        _with(BASE, risk={"max_order_notional": Decimal("5.8")}, backtest={"fee_rate": Decimal("0.00075")}), BTC, H1,
        Decimal(1000), lambda r: r.stats.denied["EXIT_INFEASIBLE"] > 0 and len(r.fills) > 10,
    ),
    "no fee in the sizing": lambda: (
        _with(BASE, backtest={"fee_rate": Decimal(0)}), BTC, M5, Decimal(1000), lambda r: len(r.fills) > 10,
    ),
    "a 1 % fee in the sizing": lambda: (
        _with(BASE, backtest={"fee_rate": Decimal("0.01")}), BTC, H1, Decimal(1000), lambda r: len(r.fills) > 10,
    ),
    "a NOTIONAL maximum for MARKET orders": lambda: (
        BASE, _filters(notional=NotionalFilter(Decimal(5), True, Decimal("11.99"), True, 5)), H1, Decimal(1000),
        lambda r: r.stats.denied["FILTERS_NOTIONAL"] > 0 and len(r.fills) > 10,
    ),
    "a legacy MIN_NOTIONAL": lambda: (
        BASE, _filters(notional=None, min_notional=MinNotionalFilter(Decimal(10), True, 5)), H1, Decimal(1000),
        lambda r: len(r.fills) > 10,
    ),
    "a thin market: partial fills and a position too small to sell": lambda: (
        _with(BASE, risk={"max_order_notional": Decimal(500)}), BTC, _thin(H1, 3e-6), Decimal(1000),
        lambda r: _expired(r) > 0 and r.stats.denied["DUPLICATE_POSITION"] > 0,
    ),
    "a thin market with several entries per symbol": lambda: (
        _with(BASE, risk={"one_position_per_symbol": False}), BTC, _thin(H1, 1e-6), Decimal(1000),
        lambda r: _expired(r) > 10,
    ),
    "no volume at all: the venue has no average price (-1013)": lambda: (
        BASE, BTC, _volume(H1, np.zeros(len(H1))), Decimal(1000), lambda r: r.stats.rejected[-1013] > 0,
    ),
    "RSI mean reversion with a tight daily loss": lambda: (
        _with(BASE, strategy={"name": "rsi_reversion"}, risk={"max_daily_loss": Decimal("0.1")}), BTC, M5,
        Decimal(1000), lambda r: r.stats.denied["KILL_SWITCH"] > 0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", SCENARIOS)
def test_kernel_when_limits_and_filters_bind_then_same_trades_as_the_engine_core(name: str) -> None:
    settings, instrument, bars, deposit, binds = SCENARIOS[name]()

    fast = run_fast_backtest(settings, instrument, bars, INFO, deposit=deposit)
    core = run_engine_core_backtest(settings, instrument, bars, INFO, deposit=deposit)

    assert fast.kernel, fast.fallback_reason
    _same(fast, core)
    assert binds(fast), fast.stats  # the rule under test did bind
    assert fast.fill_count == len(core.fills)


@hypothesis_settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    timeframe=st.sampled_from([Timeframe.H1, Timeframe.M15, Timeframe.M5]),
    price=st.sampled_from([40_000.0, 3_000.0, 250.0]),
    volume=st.sampled_from([1.0, 1e-5, 1e-6]),
    strategy=st.sampled_from(["sma_cross", "rsi_reversion"]),
    order_notional=st.sampled_from(["6", "12", "50"]),
    daily_loss=st.sampled_from(["0.02", "0.3", "20"]),
    cool_down=st.sampled_from([0, 5, 120]),
    one_position=st.booleans(),
    fee=st.sampled_from(["0", "0.00075", "0.001", "0.004"]),
    deposit=st.sampled_from(["13", "40", "1000"]),
    warmup=st.sampled_from([0, 100]),
)
def test_kernel_when_any_market_and_limits_then_same_trades_as_the_engine_core(
    seed: int, timeframe: Timeframe, price: float, volume: float, strategy: str, order_notional: str,
    daily_loss: str, cool_down: int, one_position: bool, fee: str, deposit: str, warmup: int,
) -> None:  # fmt: skip
    bars = _thin(generate_ohlcv("BTCUSDT", timeframe, 1_500, seed=seed, start_price=price), volume)
    settings = _with(
        BASE,
        strategy={"name": strategy},
        risk={"max_order_notional": Decimal(order_notional), "max_daily_loss": Decimal(daily_loss),
              "cool_down_minutes": cool_down, "one_position_per_symbol": one_position},
        backtest={"fee_rate": Decimal(fee)},
    )  # fmt: skip
    outcomes = []
    for run in (run_fast_backtest, run_engine_core_backtest):
        try:
            outcomes.append(run(settings, BTC, bars, INFO, warmup_bars=warmup, deposit=Decimal(deposit)))
        except ArithmeticError as e:  # size_entry finds no feasible entry (a 1-lot market step, a big fee)
            outcomes.append(e)
    fast, core = outcomes

    if isinstance(core, ArithmeticError):
        assert isinstance(fast, ArithmeticError) and str(fast) == str(core)
        return
    assert isinstance(fast, FastBacktestResult) and isinstance(core, EventBacktestResult)
    # The kernel runs unless the venue refuses an exit (retried bar by bar, which it does not model):
    # then it fails closed, says so, and the result is still the engine's.
    assert fast.kernel or "an exit the venue refused" in (fast.fallback_reason or ""), fast.fallback_reason
    _same(fast, core)


@pytest.mark.parametrize(
    ("timeframe", "zero_every", "instrument"),
    [
        (Timeframe.M1, 0, BTC),  # the average price spans five bars
        (Timeframe.M1, 3, BTC),  # some bars without a trade
        (Timeframe.M5, 0, _filters(notional=NotionalFilter(Decimal(5), True, Decimal("11.99"), True, 5))),
    ],
)
def test_kernel_when_average_price_spans_bars_then_same_trades_as_the_event_driven_backtest(
    timeframe: Timeframe, zero_every: int, instrument: Instrument
) -> None:
    bars = generate_ohlcv("BTCUSDT", timeframe, 2_500, seed=5)
    if zero_every:
        bars = _volume(bars, np.where(np.arange(len(bars)) % zero_every == 0, 0.0, bars.volume))
    settings = _with(BASE, risk={"cool_down_minutes": 0})

    fast = run_fast_backtest(settings, instrument, bars, INFO)
    event = run_event_backtest(settings, instrument, bars, INFO)
    core = run_engine_core_backtest(settings, instrument, bars, INFO)

    assert fast.kernel, fast.fallback_reason
    assert len(event.fills) > 5
    _same(fast, event)
    _same(core, event)


def test_kernel_when_bar_columns_are_read_only_then_runs_and_same_trades_as_the_engine_core() -> None:
    columns = [np.array(c) for c in (M5.open_time_ns, M5.open, M5.high, M5.low, M5.close, M5.volume)]
    for column in columns[-2:]:  # a mix of writable and read-only columns (loaded data can be either)
        column.flags.writeable = False
    bars = OHLCV(M5.symbol, M5.timeframe, *columns)
    settings = _with(BASE, risk={"cool_down_minutes": 0})

    fast = run_fast_backtest(settings, BTC, bars, INFO)
    core = run_engine_core_backtest(settings, BTC, bars, INFO)

    assert fast.kernel, fast.fallback_reason
    assert len(core.fills) > 5
    _same(fast, core)


# --- the engine core when the kernel cannot be exact ----------------------------------------------------
def test_fast_backtest_when_symbol_has_max_position_filter_then_engine_core_runs_and_says_why() -> None:
    instrument = _filters(max_position=MaxPositionFilter(Decimal(100)))

    fast = run_fast_backtest(BASE, instrument, H1, INFO)
    core = run_engine_core_backtest(BASE, instrument, H1, INFO)

    assert not fast.kernel
    assert fast.fallback_reason is not None and "MAX_POSITION" in fast.fallback_reason
    assert len(core.fills) > 10
    _same(fast, core)


def test_fast_backtest_when_the_venue_refuses_an_exit_then_engine_core_runs_and_says_why() -> None:
    """The trader schedules a refused exit again (and counts it): the kernel does not, so it stops."""
    settings = _with(BASE, risk={"cool_down_minutes": 0, "max_order_notional": Decimal("11.99")},
                     strategy={"sma_fast": 3, "sma_slow": 8})  # fmt: skip
    instrument = _filters(notional=NotionalFilter(Decimal(5), True, Decimal("11.99"), True, 5))
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 3_000, seed=1)  # an exit's notional passes 11.99 at the average

    fast = run_fast_backtest(settings, instrument, bars, INFO)
    event = run_event_backtest(settings, instrument, bars, INFO)

    assert not fast.kernel
    assert fast.fallback_reason is not None and "an exit the venue refused" in fast.fallback_reason
    assert event.stats.exit_retries > 0
    _same(fast, event)


def test_fast_backtest_when_a_volume_has_no_short_decimal_form_then_engine_core_runs_and_says_why() -> None:
    bars = _volume(H1, H1.volume / 3)  # 17-digit floats: the kernel cannot read them as iter_bars does

    fast = run_fast_backtest(BASE, BTC, bars, INFO)
    core = run_engine_core_backtest(BASE, BTC, bars, INFO)

    assert not fast.kernel
    assert fast.fallback_reason is not None and "volume" in fast.fallback_reason
    _same(fast, core)


def test_fast_backtest_when_numba_is_missing_then_engine_core_runs_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # what an environment without numba looks like

    fast = run_fast_backtest(BASE, BTC, H1.slice(0, 800), INFO)

    assert not fast.kernel
    assert fast.fallback_reason is not None and "numba" in fast.fallback_reason
    _same(fast, run_engine_core_backtest(BASE, BTC, H1.slice(0, 800), INFO))


def test_fast_backtest_when_kernel_turned_off_then_engine_core_runs() -> None:
    fast = run_fast_backtest(BASE, BTC, H1.slice(0, 800), INFO, use_kernel=False)

    assert not fast.kernel
    assert fast.fallback_reason == "use_kernel=False"


def test_fast_backtest_when_warmup_negative_then_refused() -> None:
    with pytest.raises(ValueError, match="warmup_bars"):
        run_fast_backtest(BASE, BTC, H1, INFO, warmup_bars=-1)
