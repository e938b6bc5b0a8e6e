"""The versioned strategy interface.

A strategy has two faces that must agree signal for signal: ``on_bar`` (incremental, used by the
live and paper engine) and ``signals`` (vectorised over a whole series, used by fast backtests and
parameter sweeps). The signal at row ``i`` is decided at the *close* of bar ``i`` and acts at the
*open* of bar ``i + 1``: no strategy can trade on a price it has not seen.

Optional hooks take ``**kwargs`` so the engine can pass more context in later interface versions
without breaking strategies written today.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from thunes.domain.identifiers import StrategyId
from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV

__all__ = ["INTERFACE_VERSION", "Signal", "SignalArray", "Strategy"]

INTERFACE_VERSION = 1

SignalArray = npt.NDArray[np.int8]


class Signal(IntEnum):
    """What the strategy wants at the next open. Long-only spot: enter, exit, or nothing."""

    EXIT_LONG = -1
    HOLD = 0
    ENTER_LONG = 1


_HOLD = Signal.HOLD


class Strategy(ABC):
    """Base class. Subclasses set ``name`` and ``version`` and implement both faces."""

    interface_version: ClassVar[int] = INTERFACE_VERSION
    name: ClassVar[str]
    version: ClassVar[str]

    def __init__(self, strategy_id: StrategyId | None, tick_size: Decimal) -> None:
        if tick_size <= 0:
            raise ValueError(f"tick_size must be positive, got {tick_size}")
        self.tick_size = tick_size
        self.strategy_id = strategy_id or StrategyId(f"{self.name}-{self.param_hash[:8]}")

    @property
    @abstractmethod
    def parameters(self) -> Mapping[str, Any]:
        """The parameters that define this instance (recorded with every decision)."""

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Bars needed before the first non-HOLD signal can appear."""

    @abstractmethod
    def on_bar(self, bar: Bar) -> Signal:
        """Consume one closed bar and return the signal for the next open."""

    @abstractmethod
    def signals(self, bars: OHLCV) -> SignalArray:
        """Signals for every row of ``bars`` at once; must equal feeding ``on_bar`` row by row."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all state, as if freshly built."""

    @property
    def param_hash(self) -> str:
        """SHA-256 of name, version and parameters: identifies the exact configuration."""
        payload = {"name": self.name, "version": self.version, "parameters": dict(self.parameters)}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def on_ticks(self, open_: int, high: int, low: int, close: int) -> Signal:
        """``on_bar`` for a bar given as integer ticks (volume unseen): the event backtest's hot loop calls it
        on every bar and builds a ``Bar`` only where a signal acts. Optional; see :attr:`has_tick_face`."""
        raise NotImplementedError(f"{type(self).__name__} decides from whole bars only (on_bar)")

    def scan(self, opens: Sequence[int], highs: Sequence[int], lows: Sequence[int], closes: Sequence[int],
             start: int, stop: int) -> tuple[int, Signal]:  # fmt: skip
        """:meth:`on_ticks` on rows ``start..stop-1`` of the columns, in order, stopping after the first row
        that signals: ``(that row, its signal)``, or ``(stop, HOLD)`` when none does. The event backtest
        feeds bars this way; a strategy may override it with a tighter loop that must leave it in the
        state, and give the signals, that :meth:`on_ticks` row by row would (tested per strategy)."""
        on_ticks = self.on_ticks
        for row in range(start, stop):
            signal = on_ticks(opens[row], highs[row], lows[row], closes[row])
            if signal is not _HOLD:
                return row, signal
        return stop, _HOLD

    @property
    def has_tick_face(self) -> bool:
        """True when the strategy overrides :meth:`on_ticks`; its ``on_bar`` must then be ``on_ticks`` of
        the bar's ticks, so both give the same signals."""
        return type(self).on_ticks is not Strategy.on_ticks

    def ticks(self, price: Decimal) -> int:
        """``price`` in integer ticks (exact: bars are snapped to the tick)."""
        return int((price / self.tick_size).to_integral_value())

    # Optional hooks: override any of them; accept **kwargs for forward compatibility.
    def on_start(self, **kwargs: Any) -> None:  # noqa: B027 - optional hook, empty by design
        """Called once before the first bar (e.g. ``instrument=``, ``clock=``)."""

    def on_fill(self, **kwargs: Any) -> None:  # noqa: B027 - optional hook, empty by design
        """Called after one of this strategy's orders fills (e.g. ``fill=``, ``position=``)."""

    def on_stop(self, **kwargs: Any) -> None:  # noqa: B027 - optional hook, empty by design
        """Called once when the run ends."""
