"""The decision-source port: what the engine asks of anything that decides (a built-in or user
strategy, an RL policy through its adapter, an external signal feed). Everything after the decision
(sizing, risk, filters, idempotent submission, booking) is the engine's and is shared by all kinds.

A source answers each closed bar with a :class:`~thunes.strategy.base.Signal` (enter, exit, hold) or a
:class:`TargetPosition` (hold this much base asset: the engine orders the difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from thunes.domain.identifiers import StrategyId
from thunes.domain.market import Bar
from thunes.strategy.base import Signal

__all__ = ["Decision", "DecisionSource", "TargetPosition"]


@dataclass(frozen=True, slots=True)
class TargetPosition:
    """Hold ``quantity`` of the base asset after the next order (0: flat). Long-only spot: never negative."""

    quantity: Decimal

    def __post_init__(self) -> None:
        if not self.quantity.is_finite() or self.quantity < 0:
            raise ValueError(f"a target position is a finite quantity >= 0, got {self.quantity}")


Decision = Signal | TargetPosition


@runtime_checkable
class DecisionSource(Protocol):
    """Decides once per closed bar of its symbol; ``strategy_id`` names it in client order ids, the
    audit trail and the risk ledger."""

    @property
    def strategy_id(self) -> StrategyId: ...

    def on_bar(self, bar: Bar) -> Decision: ...
