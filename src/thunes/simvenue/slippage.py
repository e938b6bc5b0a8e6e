"""Slippage on bar data (SPEC §8): a square-root impact, scaled by volatility and capped.

``slip_bps = base_bps * sqrt(order volume / bar volume) * (bar range / reference range)``, at most
``cap_bps``. A tiny order in a deep bar barely moves; one that is a large share of the bar's
volume on a violent bar pays a lot. With an L2 book the venue walks the book instead.

Every model says what it is (:meth:`Slippage.describe`: an id, a version, its parameters), so that code
reproducing the venue elsewhere (the fast backtest's kernel) can check it is the model it reproduces
rather than trust it. Change a model's formula and you change its version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Protocol

__all__ = ["FixedSlippage", "Slippage", "SlippageModel", "SlippageSpec"]


@dataclass(frozen=True, slots=True)
class SlippageSpec:
    """What a slippage model is: its id, the version of its formula and its parameters."""

    model_id: str
    version: int
    params: tuple[tuple[str, float], ...] = ()

    def __str__(self) -> str:
        values = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.model_id}/{self.version}({values})"


class Slippage(Protocol):
    """A bar slippage model: the adverse move of a taker's order, in basis points."""

    def bps(self, order_qty: Decimal, bar_volume: Decimal | None, bar_range: float | None) -> float: ...

    def describe(self) -> SlippageSpec: ...


@dataclass(frozen=True, slots=True)
class SlippageModel:
    """The square-root impact model (the venue's default)."""

    model_id: ClassVar[str] = "sqrt_impact"
    version: ClassVar[int] = 1
    base_bps: float = 5.0
    cap_bps: float = 50.0
    reference_range: float = 0.01  # a bar whose high-low is 1 % of its close scales by 1

    def bps(self, order_qty: Decimal, bar_volume: Decimal | None, bar_range: float | None) -> float:
        """Adverse price move in basis points for ``order_qty`` against a bar of ``bar_volume``."""
        if bar_volume is None or bar_volume <= 0:
            return self.base_bps if order_qty > 0 else 0.0  # no bar context: the base cost only
        share = float(order_qty / bar_volume)
        scale = (bar_range / self.reference_range) if bar_range is not None else 1.0
        return min(self.cap_bps, self.base_bps * math.sqrt(share) * scale)

    def describe(self) -> SlippageSpec:
        params = (("base_bps", self.base_bps), ("cap_bps", self.cap_bps), ("reference_range", self.reference_range))
        return SlippageSpec(self.model_id, self.version, params)


@dataclass(frozen=True, slots=True)
class FixedSlippage:
    """The same move for every order whatever the bar: the cost model of simpler backtesters (a fixed
    spread), to compare with them on their own terms."""

    model_id: ClassVar[str] = "fixed"
    version: ClassVar[int] = 1
    fixed_bps: float = 5.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fixed_bps) and self.fixed_bps >= 0):
            raise ValueError(f"fixed_bps must be finite and >= 0, got {self.fixed_bps}")

    def bps(self, order_qty: Decimal, bar_volume: Decimal | None, bar_range: float | None) -> float:
        """``fixed_bps`` for any order (nothing for nothing)."""
        return self.fixed_bps if order_qty > 0 else 0.0

    def describe(self) -> SlippageSpec:
        return SlippageSpec(self.model_id, self.version, (("fixed_bps", self.fixed_bps),))
