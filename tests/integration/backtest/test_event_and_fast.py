"""The event-driven backtest (whole engine core, every replayed market event) and the fast path
(vectorised signals; the compiled kernel, or the engine core, on signal bars only) trade identically
on the real data."""

from __future__ import annotations

import dataclasses
import gc
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from thunes.app.collector import YOUNG_PASS_EVERY
from thunes.app.config import load_settings
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.backtest.event import EventBacktestResult, run_event_backtest
from thunes.backtest.fast import run_engine_core_backtest, run_fast_backtest
from thunes.backtest.parts import EngineParts
from thunes.domain.enums import Side
from thunes.domain.market import Bar, Timeframe
from thunes.features.ohlcv import OHLCV, iter_bars
from thunes.strategy.base import Signal, SignalArray, Strategy
from thunes.strategy.sma_cross import SmaCross


def _world(shared_data: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, timeframe: str) -> tuple[Any, ...]:
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_STRATEGY__NAME", strategy)
    monkeypatch.setenv("THUNES_BACKTEST__TIMEFRAME", timeframe)
    settings = load_settings()
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    instrument = info.get(settings.backtest.symbol)
    bars = load_bars(instrument, Timeframe(timeframe), settings.data, path=settings.backtest.data_path).bars
    return settings, instrument, bars, info


def _trades(result: EventBacktestResult) -> list[tuple[object, ...]]:
    return [(f.client_order_id, f.side, f.price, f.quantity, f.commission, f.commission_asset, f.ts_ns, f.trade_id)
            for f in result.fills]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "timeframe"), [("sma_cross", "1h"), ("rsi_reversion", "1h"),
                                                     ("sma_cross", "5m"), ("rsi_reversion", "5m")])  # fmt: skip
def test_fast_path_when_run_on_real_btc_data_then_same_fills_as_the_event_driven_path(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, timeframe: str
) -> None:
    settings, instrument, bars, info = _world(shared_data, monkeypatch, strategy, timeframe)

    event = run_event_backtest(settings, instrument, bars, info)
    fast = run_fast_backtest(settings, instrument, bars, info)
    core = run_engine_core_backtest(settings, instrument, bars, info)

    print(f"{strategy} {timeframe}: bars={len(bars)} fills={len(event.fills)} denied={dict(event.stats.denied)}")
    assert fast.kernel, fast.fallback_reason  # the compiled kernel ran, not the engine core
    assert len(event.fills) > 50
    assert _trades(fast) == _trades(event) == _trades(core)
    assert fast.orders == event.orders == core.orders
    assert fast.stats == event.stats == core.stats
    assert fast.position == event.position == core.position
    assert event.stats.rejected == {}  # never a -1013 (filters) nor a -2010 (balance) from the venue
    assert {f.side for f in event.fills} == {Side.BUY, Side.SELL}


def test_event_backtest_when_run_twice_then_identical_and_equity_marked_every_traded_bar(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, instrument, bars, info = _world(shared_data, monkeypatch, "sma_cross", "1h")
    bars = bars.slice(0, 2_000)

    first = run_event_backtest(settings, instrument, bars, info, warmup_bars=100)
    second = run_event_backtest(settings, instrument, bars, info, warmup_bars=100)

    assert _trades(first) == _trades(second)
    assert len(first.equity) == len(bars) - 100
    assert first.equity[0][1] == settings.backtest.initial_cash  # nothing traded during the warm-up
    assert first.bars == len(bars)


def test_event_backtest_when_runs_overlap_in_threads_then_each_trades_the_same(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, instrument, bars, info = _world(shared_data, monkeypatch, "sma_cross", "1h")
    bars = bars.slice(0, 3_000)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_event_backtest(settings, instrument, bars, info), range(4)))

    assert all(_trades(r) == _trades(results[0]) for r in results) and results[0].fills


def test_event_backtest_when_called_as_a_library_then_the_collector_is_left_as_found(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc.freeze is the process entry point's business (``thunes``), never a library call's."""
    settings, instrument, bars, info = _world(shared_data, monkeypatch, "sma_cross", "1h")
    frozen_during: list[int] = []
    before = gc.get_freeze_count()

    def broken_scan(*args: object) -> tuple[int, Signal]:
        frozen_during.append(gc.get_freeze_count())
        raise RuntimeError("strategy bug")

    thresholds = gc.get_threshold()
    run_event_backtest(settings, instrument, bars.slice(0, 500), info)
    assert gc.get_freeze_count() == before and gc.get_threshold() == thresholds
    monkeypatch.setattr(SmaCross, "scan", broken_scan)
    with pytest.raises(RuntimeError, match="strategy bug"):
        run_event_backtest(settings, instrument, bars.slice(0, 500), info)
    assert frozen_during == [before]
    assert gc.get_freeze_count() == before


def test_thunes_entry_point_when_a_command_runs_then_what_was_loaded_is_frozen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from thunes.app.cli import main as cli

    seen: list[int] = []
    thresholds: list[tuple[int, ...]] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["thunes", "backtest", "--synthetic", "300"])
    monkeypatch.setattr(gc, "freeze", lambda: seen.append(len(gc.get_objects())))  # the process's own stays untouched
    monkeypatch.setattr(gc, "set_threshold", lambda *t: thresholds.append(t))
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0
    assert len(seen) == 1 and seen[0] > 10_000  # once, with the modules and the mounted command alive
    assert thresholds == [(YOUNG_PASS_EVERY, *gc.get_threshold()[1:])]  # young passes spaced out, once


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "timeframe"), [("sma_cross", "5m"), ("rsi_reversion", "1h")])
def test_event_backtest_when_bars_are_replayed_lazily_then_same_as_replaying_every_bar(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, timeframe: str
) -> None:
    settings, instrument, bars, info = _world(shared_data, monkeypatch, strategy, timeframe)
    bars = bars.slice(0, 30_000)

    lazy = run_event_backtest(settings, instrument, bars, info)
    eager = run_event_backtest(settings, instrument, bars, info, feed_every_bar=True)

    assert len(lazy.fills) > 50
    assert _trades(lazy) == _trades(eager)
    assert lazy.orders == eager.orders
    assert lazy.stats == eager.stats
    assert list(lazy.equity) == list(eager.equity)


class _WholeBars(Strategy):
    """An SMA crossover that decides from whole bars only (no ``on_ticks``), as a user's strategy may."""

    name = "whole_bars"
    version = "1"

    def __init__(self, tick_size: Decimal) -> None:
        self.inner = SmaCross(tick_size=tick_size)
        super().__init__(self.inner.strategy_id, tick_size)  # the same ids: the same orders

    parameters = property(lambda self: self.inner.parameters)
    warmup = property(lambda self: self.inner.warmup)

    def on_bar(self, bar: Bar) -> Signal:
        self.bars_seen.append(bar)
        return self.inner.on_bar(bar)

    def signals(self, bars: OHLCV) -> SignalArray:
        return self.inner.signals(bars)

    def reset(self) -> None:
        self.bars_seen: list[Bar] = []
        self.inner.reset()


def test_event_backtest_when_the_strategy_has_no_tick_face_then_it_sees_every_bar_and_trades_the_same(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, instrument, bars, info = _world(shared_data, monkeypatch, "sma_cross", "1h")
    bars = bars.slice(0, 3_000)
    whole = _WholeBars(instrument.tick_size)
    whole.reset()
    assert not whole.has_tick_face and SmaCross(tick_size=instrument.tick_size).has_tick_face
    parts = dataclasses.replace(EngineParts.of(settings), strategy=lambda settings, tick_size: whole)

    by_bars = run_event_backtest(settings, instrument, bars, info, parts=parts)
    by_ticks = run_event_backtest(settings, instrument, bars, info)

    assert whole.bars_seen == list(iter_bars(bars, instrument.tick_size))
    assert len(by_ticks.fills) > 10
    assert _trades(by_bars) == _trades(by_ticks)
    assert by_bars.stats == by_ticks.stats
