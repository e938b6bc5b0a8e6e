"""Strategies: pure signal logic over market data, with an incremental and a vectorised face."""

from decimal import Decimal
from typing import Any

from thunes.strategy.base import INTERFACE_VERSION, Signal, SignalArray, Strategy
from thunes.strategy.rsi_reversion import RsiReversion
from thunes.strategy.sma_cross import SmaCross

__all__ = ["INTERFACE_VERSION", "STRATEGIES", "RsiReversion", "Signal", "SignalArray", "SmaCross", "Strategy", "build"]

STRATEGIES: dict[str, type[Strategy]] = {SmaCross.name: SmaCross, RsiReversion.name: RsiReversion}


def build(name: str, tick_size: Decimal, **params: Any) -> Strategy:
    """A strategy by registry name; ``ValueError`` naming the known ones when unknown."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None
    return cls(tick_size=tick_size, **params)
