"""The strategy API a user subclasses: parameter declarations and their checks, what the base class
derives (name, parameters, the vectorised face, the search warm-up)."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import pytest

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import iter_bars
from thunes.strategy.api import (
    STRATEGY_API_VERSION,
    SUPPORTED_API_VERSIONS,
    Bar,
    Param,
    Signal,
    StrategyParamError,
    UserStrategy,
)

TICK = Decimal("0.01")


class ChannelBreak(UserStrategy):
    """Enter above the last ``window`` closes' high, exit below their low."""

    params: ClassVar[dict[str, Param]] = {
        "window": Param(10, low=2, high=40, step=2),
        "exit_window": Param(5, low=2, high=30),
        "threshold": Param(Decimal("0.5"), low=Decimal(0), high=Decimal(5)),
        "mode": Param("close", choices=("close", "high")),
        "strict": Param(True),
    }

    def validate(self) -> None:
        if self.p.exit_window > self.p.window:
            raise ValueError("exit_window must not exceed window")

    @property
    def warmup(self) -> int:
        return int(self.p.window) + 1

    def reset(self) -> None:
        self.closes: deque[Decimal] = deque(maxlen=self.p.window)
        self.long = False

    def on_bar(self, bar: Bar) -> Signal:
        signal = Signal.HOLD
        if len(self.closes) == self.closes.maxlen:
            if not self.long and bar.close > max(self.closes):
                signal, self.long = Signal.ENTER_LONG, True
            elif self.long and bar.close < min(list(self.closes)[-self.p.exit_window :]):
                signal, self.long = Signal.EXIT_LONG, False
        self.closes.append(bar.close)
        return signal


def test_subclass_when_no_name_given_then_named_after_its_class_and_current_api_version() -> None:
    assert ChannelBreak.name == "channel_break"
    assert ChannelBreak.api_version == STRATEGY_API_VERSION
    assert STRATEGY_API_VERSION in SUPPORTED_API_VERSIONS


def test_build_when_values_given_as_text_then_converted_to_declared_types() -> None:
    strategy = ChannelBreak(tick_size=TICK, window="20", threshold="1.25", mode="high", strict="false")

    assert strategy.p.window == 20 and type(strategy.p.window) is int
    assert strategy.p["threshold"] == Decimal("1.25")
    assert (strategy.p.mode, strategy.p.strict, strategy.p.exit_window) == ("high", False, 5)
    assert strategy.parameters == {"window": 20, "exit_window": 5, "threshold": "1.25", "mode": "high",
                                   "strict": False}  # fmt: skip
    assert str(strategy.strategy_id).startswith("channel_break-")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"window": "abc"}, "channel_break parameter window: must be a whole number"),
        ({"window": 1}, "must be >= 2, got 1"),
        ({"window": 41}, "must be <= 40, got 41"),
        ({"window": 10.0}, "must be a whole number"),
        ({"window": True}, "must be a number, got bool"),
        ({"threshold": "nan"}, "must be a finite number"),
        ({"mode": "open"}, "must be one of close, high, got open"),
        ({"strict": "maybe"}, "must be true or false"),
        ({"nope": 1}, "channel_break has no parameter 'nope' (it takes window, exit_window, threshold"),
        ({"window": 4, "exit_window": 6}, "channel_break parameters: exit_window must not exceed window"),
    ],
)
def test_build_when_value_bad_then_param_error_names_strategy_and_parameter(values: dict[str, Any],
                                                                            message: str) -> None:  # fmt: skip
    with pytest.raises(StrategyParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ChannelBreak(tick_size=TICK, **values)


def test_params_when_assigned_then_read_only() -> None:
    strategy = ChannelBreak(tick_size=TICK)

    with pytest.raises(AttributeError):
        strategy.p.window = 3
    with pytest.raises(AttributeError, match="no parameter 'windw'"):
        _ = strategy.p.windw


@pytest.mark.parametrize(
    "make",
    [
        lambda: Param(5, low=10),  # the default outside its own bounds
        lambda: Param(5, low=10, high=2),
        lambda: Param("a", low=1),
        lambda: Param(1, choices=("a",)),
        lambda: Param([1, 2]),
        lambda: Param(1.0, step=0),
    ],
)
def test_param_when_declaration_inconsistent_then_refused_at_class_definition(make: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        make()


def test_searchable_when_bounded_choice_or_bool_then_searched_unless_held() -> None:
    assert Param(1, low=0, high=3).searchable
    assert Param("a", choices=("a", "b")).searchable
    assert Param(True).searchable
    assert not Param(1, low=0).searchable  # one bound: a limit, not a range
    assert not Param(1, low=0, high=3, search=False).searchable
    assert not Param("free text").searchable


def test_signals_when_not_overridden_then_equal_on_bar_row_by_row_and_leave_state_alone() -> None:
    bars = generate_ohlcv("BTCUSDT", Timeframe.H1, 1500, seed=5)
    strategy = ChannelBreak(tick_size=TICK, window=12, exit_window=4)
    strategy.on_bar(next(iter_bars(bars, TICK)))  # some state of its own, which signals() must not touch

    vectorised = strategy.signals(bars)
    strategy.reset()
    incremental = np.array([strategy.on_bar(bar) for bar in iter_bars(bars, TICK)], dtype=np.int8)

    assert vectorised.dtype == np.int8 and len(vectorised) == len(bars)
    assert np.array_equal(vectorised, incremental)
    assert (vectorised == Signal.ENTER_LONG).sum() >= 5 and (vectorised == Signal.EXIT_LONG).sum() >= 5


def test_search_warmup_when_bounds_given_then_warmup_at_the_highest_point() -> None:
    assert ChannelBreak.search_warmup() == 41  # window at its high, 40, + 1

    class Invalid(ChannelBreak):  # at their highs exit_window 60 > window 40: validate refuses them
        params: ClassVar[dict[str, Param]] = {**ChannelBreak.params, "exit_window": Param(5, low=2, high=60)}

    assert Invalid.search_warmup() == 11  # the highs are refused together: the defaults' warm-up
