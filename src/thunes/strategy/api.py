"""The strategy API for strategies written outside THUNES: subclass :class:`UserStrategy`.

Versioned (:data:`STRATEGY_API_VERSION`): a strategy states the version it was written for in
``api_version`` and THUNES refuses, in one line, a version it does not support, rather than run a
strategy whose contract changed under it. What version 1 promises (docs/strategy-api.md):

- **What a strategy is handed.** Its parameters, resolved and checked against its declarations
  (``self.p``), the instrument's tick size (``self.tick_size``), then closed candles one at a time
  (``on_bar``), oldest first, each exactly once per run, after ``reset``. Prices are ``Decimal``
  snapped to the tick. Nothing else: no clock, no account, no future bar.
- **What it returns.** A :class:`Signal` per bar: ENTER_LONG, EXIT_LONG or HOLD, decided at the bar's
  close and acted on at once (the venue fills at the next price). Signals are intentions: sizing and
  the risk gate decide what trades, and version 1 does not tell the strategy. A later version may
  let ``on_bar`` return target positions; a strategy declaring version 1 keeps version 1's contract.
- **How it declares its parameters.** ``params = {"window": Param(20, low=5, high=60)}``: the type
  comes from the default; ``low``/``high``/``step`` or ``choices`` bound what a user may set and are
  the search space ``thunes optimize`` tries. ``validate`` refuses combinations (``fast >= slow``).

A strategy that reads anything it is not handed (a file, the wall clock, a global filled elsewhere)
escapes both the engine's guarantees and the look-ahead check, which can only cut what it hands over.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import numpy as np

from thunes.domain.identifiers import StrategyId
from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, iter_bars
from thunes.strategy.base import Signal, SignalArray, Strategy

__all__ = [
    "STRATEGY_API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "Bar",
    "Param",
    "Params",
    "Signal",
    "StrategyParamError",
    "UserStrategy",
]

STRATEGY_API_VERSION = 1
"""The version this THUNES writes strategies for (``thunes new-strategy``)."""
SUPPORTED_API_VERSIONS: frozenset[int] = frozenset({1})
"""Every version this THUNES can run; an older one stays here while it can be honoured."""

ParamValue = bool | int | float | Decimal | str
_KINDS: tuple[type, ...] = (bool, int, float, Decimal, str)  # bool first: it is an int too
_RESERVED = frozenset({"tick_size", "strategy_id"})
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


class StrategyParamError(ValueError):
    """A parameter value a strategy refuses: fix the value (``--param NAME=VALUE``, ``[strategy.params]``)."""


def _kind_of(value: object) -> type:
    for kind in _KINDS:
        if isinstance(value, kind):
            return kind
    raise TypeError(f"a parameter default must be bool, int, float, Decimal or str, got {type(value).__name__}")


def _convert(kind: type, value: object) -> ParamValue:
    """``value`` as ``kind``; a string (the command line's) is parsed. ValueError when it is not one."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"must be true or false, got {str(value)[:40]!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError("must be text")
    return _number(kind, value)


def _number(kind: type, value: object) -> int | float | Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(f"must be a number, got {type(value).__name__}")
    if kind is int:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
            return int(value)
        raise ValueError(f"must be a whole number (at most 18 digits), got {str(value)[:40]!r}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"must be a number, got {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number if kind is Decimal else float(number)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its default (which sets its type: bool, int, float, Decimal or str), the bounds a
    value must keep (``low``/``high``, inclusive, and ``step`` for the search), or the ``choices`` it
    may take. A numeric parameter with both bounds, a choice and a bool are what ``thunes optimize``
    searches; give ``search=False`` to hold one fixed."""

    default: ParamValue
    low: int | float | Decimal | None = None
    high: int | float | Decimal | None = None
    step: int | float | Decimal | None = None
    choices: tuple[ParamValue, ...] | None = None
    help: str = ""
    search: bool = True

    def __post_init__(self) -> None:
        kind = _kind_of(self.default)
        numeric = kind in (int, float, Decimal)
        if not numeric and (self.low is not None or self.high is not None or self.step is not None):
            raise TypeError(f"low, high and step are for numbers, not a {kind.__name__} parameter")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step must be positive, got {self.step}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
            if not self.choices or any(_kind_of(c) is not kind for c in self.choices):
                raise TypeError(f"choices must be a non-empty list of {kind.__name__} values")
        self.coerce(self.default)  # the default obeys its own bounds

    @property
    def kind(self) -> type:
        return _kind_of(self.default)

    @property
    def searchable(self) -> bool:
        """What ``thunes optimize`` varies: a bounded number, a choice or a bool (unless ``search=False``)."""
        bounded = self.low is not None and self.high is not None
        return self.search and (self.choices is not None or self.kind is bool or bounded)

    def coerce(self, value: object) -> ParamValue:
        """``value`` as this parameter's type, inside its bounds or choices; ValueError saying why not."""
        converted = _convert(self.kind, value)
        if isinstance(converted, float) and not math.isfinite(converted):
            raise ValueError("must be a finite number")
        if self.choices is not None and converted not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(str, self.choices))}, got {converted}")
        if self.low is not None and converted < self.low:  # type: ignore[operator]
            raise ValueError(f"must be >= {self.low}, got {converted}")
        if self.high is not None and converted > self.high:  # type: ignore[operator]
            raise ValueError(f"must be <= {self.high}, got {converted}")
        return converted


class Params(Mapping[str, Any]):
    """A strategy's resolved parameters, read-only: ``self.p.window`` or ``self.p["window"]``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, ParamValue]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r} (declared: {', '.join(self._values) or 'none'})") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("parameters are read-only")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class UserStrategy(Strategy):
    """Base class of a strategy written against the strategy API (see the module doc).

    Set ``api_version`` (the version you wrote it for), ``name`` (default: the class name in
    snake_case), ``version`` (of your logic: it is part of every decision's parameter hash) and
    ``params``; implement ``on_bar``, and ``reset`` if the strategy keeps state (``__init__`` calls it);
    give ``warmup`` when signals need history. ``signals`` (the whole series at once) defaults to
    ``on_bar`` row by row on a fresh copy; override it only with a faster computation of the same.
    """

    api_version: ClassVar[int] = STRATEGY_API_VERSION
    name: ClassVar[str]
    version: ClassVar[str] = "0"
    params: ClassVar[Mapping[str, Param]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _snake(cls.__name__)

    def __init__(self, *, tick_size: Decimal, strategy_id: StrategyId | None = None, **values: object) -> None:
        self.p = Params(self.resolve(values))
        try:
            self.validate()
        except ValueError as e:
            raise StrategyParamError(f"{self.name} parameters: {e}") from None
        super().__init__(strategy_id, tick_size)
        self.reset()

    @classmethod
    def resolve(cls, values: Mapping[str, object]) -> dict[str, ParamValue]:
        """Every declared parameter's value: given (converted, checked) or its default."""
        unknown = sorted(set(values) - set(cls.params))
        if unknown:
            takes = ", ".join(cls.params) or "no parameters"
            raise StrategyParamError(f"{cls.name} has no parameter {unknown[0]!r} (it takes {takes})")
        resolved: dict[str, ParamValue] = {}
        for key, declared in cls.params.items():
            try:
                resolved[key] = declared.coerce(values[key]) if key in values else declared.default
            except ValueError as e:
                raise StrategyParamError(f"{cls.name} parameter {key}: {e}") from None
        return resolved

    def validate(self) -> None:
        """Refuse a combination of parameters (raise ValueError saying why); each value is checked already."""

    @property
    def parameters(self) -> Mapping[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in self.p.items()}

    @property
    def warmup(self) -> int:
        """Bars needed before the first signal can appear (0: none)."""
        return 0

    def reset(self) -> None:
        """Forget all state, as if freshly built (called by ``__init__`` and before every run)."""

    def signals(self, bars: OHLCV) -> SignalArray:
        twin = type(self)(tick_size=self.tick_size, strategy_id=self.strategy_id, **self.p)
        decided = [twin.on_bar(bar) for bar in iter_bars(bars, self.tick_size)]
        return np.asarray(decided, dtype=np.int8)

    @classmethod
    def search_warmup(cls) -> int:
        """The warm-up the most demanding point of the search space needs: by default the larger of the
        defaults' and of every bounded number at its ``high``. Override when that is not the most."""
        probe = Decimal(1)
        highs: dict[str, Any] = {k: p.high for k, p in cls.params.items() if p.searchable and p.high is not None}
        found = []
        for values in ({}, highs):
            try:
                found.append(cls(tick_size=probe, **values).warmup)
            except ValueError:
                continue
        return max(found, default=0)
