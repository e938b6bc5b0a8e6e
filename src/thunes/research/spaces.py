"""What a study searches: the built-ins' spaces, and the space a user strategy declares with its
parameters (:class:`~thunes.strategy.api.Param`: bounds, step, choices).

A space's ``suggest`` returns the ``StrategySettings`` fields a trial overrides: the built-ins' own keys
(``sma_fast``...), a user strategy's ``{"params": {...}}`` (merged over the configured ones by
:func:`~thunes.research.optimize.with_strategy`). Its ``warmup`` is what the most demanding point needs, so
every trial is measured over the same bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, cast

import optuna

from thunes.strategy.api import Param, UserStrategy
from thunes.strategy.loader import BUILTIN_STRATEGIES, load_strategy_class

__all__ = ["DeclaredSpace", "RsiSpace", "SearchSpace", "SmaSpace", "space_for"]


class SearchSpace(Protocol):
    """Which parameters a study tries: ``suggest`` returns ``StrategySettings`` fields to override."""

    @property
    def strategy(self) -> str: ...

    @property
    def warmup(self) -> int:
        """Bars the most demanding point of the space needs before its first signal."""
        ...

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SmaSpace:
    """SMA windows in bars; ``fast < slow`` by a conditional range (``slow`` from ``fast + min_gap``),
    so no trial is spent on an impossible pair."""

    fast: tuple[int, int] = (5, 60)
    slow_max: int = 240
    min_gap: int = 5
    strategy: str = field(default="sma_cross", init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.fast[0] <= self.fast[1] or self.min_gap < 1 or self.fast[1] + self.min_gap > self.slow_max:
            raise ValueError(f"empty SMA space: fast {self.fast}, gap {self.min_gap}, slow up to {self.slow_max}")

    @property
    def warmup(self) -> int:
        return self.slow_max + 1

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        fast = trial.suggest_int("sma_fast", *self.fast)
        return {"sma_fast": fast, "sma_slow": trial.suggest_int("sma_slow", fast + self.min_gap, self.slow_max)}


@dataclass(frozen=True, slots=True)
class RsiSpace:
    """RSI period (bars), thresholds (RSI points, whole numbers) and stop (fraction, 0.5 % steps).
    The threshold ranges are disjoint, so ``oversold < overbought`` always holds."""

    period: tuple[int, int] = (5, 30)
    oversold: tuple[float, float] = (15.0, 40.0)
    overbought: tuple[float, float] = (60.0, 85.0)
    stop_loss: tuple[float, float] = (0.01, 0.10)
    strategy: str = field(default="rsi_reversion", init=False)

    def __post_init__(self) -> None:
        if self.period[0] < 2 or self.oversold[1] >= self.overbought[0]:
            raise ValueError(f"RSI space: need period >= 2 and oversold {self.oversold} below {self.overbought}")

    @property
    def warmup(self) -> int:
        return self.period[1] + 1

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        stop = trial.suggest_float("rsi_stop_loss", *self.stop_loss, step=0.005)
        return {
            "rsi_period": trial.suggest_int("rsi_period", *self.period),
            "rsi_oversold": trial.suggest_float("rsi_oversold", *self.oversold, step=1.0),
            "rsi_overbought": trial.suggest_float("rsi_overbought", *self.overbought, step=1.0),
            "rsi_stop_loss": f"{stop:.3f}",  # a decimal string: settings hold a Decimal, not 0.035000000000000003
        }


@dataclass(frozen=True, slots=True)
class DeclaredSpace:
    """A user strategy's declared space: every searchable parameter (a bounded number by its ``step``, a
    choice, a bool); the others keep their configured value. ``strategy`` is the spec the settings name."""

    strategy: str
    declared: tuple[tuple[str, Param], ...]
    need: int = 0  # the class's search_warmup

    @classmethod
    def of(cls, spec: str, strategy: type[UserStrategy]) -> DeclaredSpace:
        searched = tuple((k, p) for k, p in strategy.params.items() if p.searchable)
        if not searched:
            raise ValueError(f"{strategy.name} declares no parameter to search (give one low and high, or choices)")
        return cls(spec, searched, strategy.search_warmup())

    @property
    def warmup(self) -> int:
        return self.need

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {"params": {name: _suggest(trial, name, p) for name, p in self.declared}}


def _suggest(trial: optuna.Trial, name: str, p: Param) -> bool | int | float | str:
    """One parameter's value for ``trial``; a Decimal as its exact text (settings hold it as given)."""
    if p.choices is not None:  # Decimal choices as their text: Optuna stores bool, int, float and str
        chosen = trial.suggest_categorical(name, [str(c) if isinstance(c, Decimal) else c for c in p.choices])
        return cast("bool | int | float | str", chosen)
    if p.kind is bool:
        return trial.suggest_categorical(name, [False, True])
    assert p.low is not None  # searchable: both bounds
    assert p.high is not None
    if p.kind is int:
        return trial.suggest_int(name, int(p.low), int(p.high), step=int(p.step or 1))
    value = trial.suggest_float(name, float(p.low), float(p.high), step=None if p.step is None else float(p.step))
    if p.kind is Decimal:
        exact = Decimal(repr(value))
        return str(exact.quantize(Decimal(str(p.step))) if p.step is not None else exact)
    return value


def space_for(strategy: str) -> SearchSpace:
    """The default search space of a strategy: a built-in's, or the one a user strategy declares."""
    spaces: dict[str, SearchSpace] = {"sma_cross": SmaSpace(), "rsi_reversion": RsiSpace()}
    if strategy in BUILTIN_STRATEGIES:
        return spaces[strategy]
    return DeclaredSpace.of(strategy, load_strategy_class(strategy))
