"""The fast path fails closed: its kernel runs only on the engine it reproduces. Every backtest path builds
its engine from the same ``EngineParts``; when those parts make another engine (a risk rule added,
removed, reordered or of another version, a limit the kernel does not digest, another slippage model,
another ``avgPrice`` window, a strategy the fast path does not know, a filter it does not model), the
fast path runs the engine core (the event engine for an unknown strategy), says why, and trades exactly
as the event-driven backtest does on those parts. Where the deviation changes the trades, the test
shows it does: a kernel that ignored it would be wrong."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.app.config import Settings, load_settings
from thunes.backtest.event import EventBacktestResult, run_event_backtest
from thunes.backtest.fast import run_fast_backtest
from thunes.backtest.parts import EngineParts
from thunes.domain import Timeframe
from thunes.domain.instrument import Instrument, MaxPositionFilter, NotionalFilter
from thunes.domain.messages import DenialReason
from thunes.features.ohlcv import OHLCV
from thunes.risk import RuleSpec
from thunes.risk.rules import (
    CheckContext,
    CoolDownRule,
    DailyLossRule,
    DeclaredRule,
    Denial,
    ExitFeasibilityRule,
    MaxOpenPositionsRule,
    MaxOrderNotionalRule,
    OnePositionPerSymbolRule,
    default_entry_rules,
)
from thunes.simvenue.slippage import FixedSlippage
from thunes.strategy import SmaCross, Strategy

INFO = builtin_exchange_info()
BTC = INFO.get("BTCUSDT")
BASE = load_settings(env={})
SETTINGS = BASE.model_copy(update={"risk": BASE.risk.model_copy(update={"cool_down_minutes": 600})})
NEAR_MAX = BASE.model_copy(
    update={  # orders near a MARKET notional maximum the venue judges at its average price
        "risk": BASE.risk.model_copy(update={"cool_down_minutes": 0, "max_order_notional": Decimal("11.99")}),
        "strategy": BASE.strategy.model_copy(update={"sma_fast": 3, "sma_slow": 8}),
    }
)
H1 = generate_ohlcv("BTCUSDT", Timeframe.H1, 3_000, seed=7)
M1 = generate_ohlcv("BTCUSDT", Timeframe.M1, 3_000, seed=1)
MAX_11_99 = dataclasses.replace(BTC, notional=NotionalFilter(Decimal(5), True, Decimal("11.99"), True, 5))
CEILING = Decimal(str(round(float(H1.close[1500]), 2)))


class EntryCeilingRule(DeclaredRule):
    """A user's rule: no entry while the price is above a ceiling."""

    rule_id = "entry_ceiling"

    def __init__(self, ceiling: Decimal) -> None:
        self.ceiling = ceiling

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        price = ctx.intent.reference_price
        if price is not None and price > self.ceiling:
            return Denial(DenialReason.ORDER_NOTIONAL, f"no entry above {self.ceiling}")
        return None

    def describe(self) -> RuleSpec:
        return RuleSpec(self.rule_id, 1, (("ceiling", str(self.ceiling)),))


class RevisedCoolDownRule(CoolDownRule):
    """The cool-down at a new version (its logic said to have changed)."""

    version = 2


class MySmaCross(SmaCross):
    """A user's strategy built on a built-in one: not a strategy the fast path knows."""

    name = "my_sma_cross"
    version = "0.1"


def _spec(parts: EngineParts, **changes: Any) -> EngineParts:
    """``parts`` whose kernel spec (limits, risk rules) has ``changes``."""
    return dataclasses.replace(parts, kernel=dataclasses.replace(parts.kernel, **changes))


def _entries(*rules: Any) -> Callable[[EngineParts], EngineParts]:
    return lambda parts: _spec(parts, entry_rules=tuple(rules))


def _without_cool_down(parts: EngineParts) -> EngineParts:
    return _spec(parts, entry_rules=tuple(r for r in default_entry_rules() if not isinstance(r, CoolDownRule)))


def _my_strategy(settings: Settings, tick: Decimal) -> Strategy:
    return MySmaCross(settings.strategy.sma_fast, settings.strategy.sma_slow, tick_size=tick)


Deviation = tuple[Callable[[EngineParts], EngineParts], Instrument, OHLCV, str, bool]
SETTINGS_OF = {"another avgPrice window": NEAR_MAX}
DEVIATIONS: dict[str, Deviation] = {
    "a rule removed": (_without_cool_down, BTC, H1, "removed cool_down/1", True),
    "a rule added": (
        lambda parts: _spec(parts, entry_rules=(*default_entry_rules(), EntryCeilingRule(CEILING))),
        BTC, H1, f"added entry_ceiling/1(ceiling={CEILING})", True,
    ),
    "rules reordered": (
        _entries(CoolDownRule(), DailyLossRule(), OnePositionPerSymbolRule(), MaxOpenPositionsRule(),
                 MaxOrderNotionalRule(), ExitFeasibilityRule()),
        BTC, H1, "risk entry rules differ from the kernel's (reordered)", False,
    ),
    "a rule of another version": (
        _entries(DailyLossRule(), RevisedCoolDownRule(), OnePositionPerSymbolRule(), MaxOpenPositionsRule(),
                 MaxOrderNotionalRule(), ExitFeasibilityRule()),
        BTC, H1, "changed cool_down/2 (kernel: cool_down/1)", False,
    ),
    "a limit the kernel does not model": (
        lambda parts: _spec(
            parts, limits=dataclasses.replace(parts.kernel.limits, max_daily_loss_equity_fraction=Decimal("0.02"))
        ),
        BTC, H1, "max_daily_loss_equity_fraction=0.02", False,
    ),
    "another slippage model": (
        lambda parts: dataclasses.replace(parts, slippage=FixedSlippage(30.0)), BTC, H1,
        "slippage model fixed/1(fixed_bps=30): the kernel reproduces sqrt_impact/1", True,
    ),
    "another avgPrice window": (
        lambda parts: dataclasses.replace(parts, avg_price_mins=1), MAX_11_99, M1,
        "avgPrice window 1 min: the kernel takes the replay model's for BTCUSDT, 5 min", True,
    ),
    "a filter the kernel does not model": (
        lambda parts: parts, dataclasses.replace(BTC, max_position=MaxPositionFilter(Decimal(100))), H1,
        "MAX_POSITION", False,
    ),
    "a strategy the fast path does not know": (
        lambda parts: dataclasses.replace(parts, strategy=_my_strategy), BTC, H1,
        "user strategy my_sma_cross: the fast path runs the built-ins only; the event-driven engine ran", False,
    ),
}  # fmt: skip


def _same(result: EventBacktestResult, reference: EventBacktestResult) -> None:
    assert result.fills == reference.fills
    assert result.orders == reference.orders
    assert result.stats == reference.stats
    assert result.position == reference.position


@pytest.mark.parametrize("name", DEVIATIONS)
def test_fast_backtest_when_the_engine_deviates_then_it_falls_back_says_why_and_trades_as_the_event_engine(
    name: str,
) -> None:
    deviate, instrument, bars, reason, binds = DEVIATIONS[name]
    settings = SETTINGS_OF.get(name, SETTINGS)
    parts = deviate(EngineParts.of(settings))

    fast = run_fast_backtest(settings, instrument, bars, INFO, parts=parts)
    event = run_event_backtest(settings, instrument, bars, INFO, parts=parts)

    assert not fast.kernel
    assert fast.fallback_reason is not None and reason in fast.fallback_reason, fast.fallback_reason
    assert len(event.fills) > 10
    _same(fast, event)
    if binds:  # the deviation changes the trades: the kernel's engine would not have made these
        usual = run_event_backtest(settings, instrument, bars, INFO)
        assert (usual.fills, usual.stats) != (event.fills, event.stats)


def test_fast_backtest_when_the_parts_are_the_usual_ones_rebuilt_then_the_kernel_runs_as_the_event_engine() -> None:
    parts = _spec(EngineParts.of(SETTINGS), entry_rules=tuple(default_entry_rules()))

    fast = run_fast_backtest(SETTINGS, BTC, H1, INFO, parts=parts)
    event = run_event_backtest(SETTINGS, BTC, H1, INFO, parts=parts)

    assert fast.kernel, fast.fallback_reason
    assert len(event.fills) > 10
    _same(fast, event)
