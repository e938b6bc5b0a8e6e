"""A policy's place in the portfolio: the decision source of the symbols an RL policy trades.

The portfolio holds one decision source per symbol; an RL policy's source answers every closed bar
with HOLD, because its decisions arrive as actions through the adapter (:class:`~thunes.rl.adapter.
RLAdapter`), not on bars. Owning the symbol's slot is what makes the adapter one more decision source
on the shared engine: its orders are booked by that symbol's trader (position, fill ledger, risk
ledger), under the same risk engine and order manager as every other source, never a second path.
"""

from __future__ import annotations

from thunes.domain.identifiers import StrategyId
from thunes.domain.market import Bar
from thunes.strategy.base import Signal
from thunes.strategy.source import Decision

__all__ = ["PolicySource"]


class PolicySource:
    """Implements :class:`~thunes.strategy.source.DecisionSource` for policy ``policy_id``."""

    def __init__(self, policy_id: str) -> None:
        self._id = StrategyId(policy_id)
        self.bars = 0

    @property
    def strategy_id(self) -> StrategyId:
        return self._id

    def on_bar(self, bar: Bar) -> Decision:
        self.bars += 1
        return Signal.HOLD
