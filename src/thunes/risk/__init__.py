"""The pre-trade risk gate: limits, kill-switch, trading states, circuit breakers, rate limits.

Pure logic over domain types (SPEC §2): time comes from an injected clock, persistence through the
:class:`RiskStateStore` port, and a denial is a :class:`RiskDecision`, never an exception.
"""

from thunes.risk.breaker import BreakerConfig, BreakerState, CircuitBreaker, FailureKind
from thunes.risk.decision import RiskDecision, RiskIntent
from thunes.risk.description import RiskDescription, RuleSpec
from thunes.risk.engine import AUTOMATIC_ACTORS, GATE_VERSION, SAFETY_ACTOR, RiskEngine
from thunes.risk.ledger import FillEffect
from thunes.risk.limits import RiskLimits
from thunes.risk.rate_limiter import RateLimiter, WindowUsage
from thunes.risk.rules import CheckContext, Denial, PreTradeRule, default_entry_rules, default_order_rules
from thunes.risk.state import Reservation, RiskSnapshot, SwitchState, TradingState, utc_day
from thunes.risk.store import (
    InMemoryRiskStore,
    OnDemandRiskStore,
    RiskStateStore,
    RiskStoreError,
    snapshot_from_dict,
    snapshot_to_dict,
)

__all__ = [
    "AUTOMATIC_ACTORS",
    "GATE_VERSION",
    "SAFETY_ACTOR",
    "BreakerConfig",
    "BreakerState",
    "CheckContext",
    "CircuitBreaker",
    "Denial",
    "FailureKind",
    "FillEffect",
    "InMemoryRiskStore",
    "OnDemandRiskStore",
    "PreTradeRule",
    "RateLimiter",
    "Reservation",
    "RiskDecision",
    "RiskDescription",
    "RiskEngine",
    "RiskIntent",
    "RiskLimits",
    "RiskSnapshot",
    "RiskStateStore",
    "RiskStoreError",
    "RuleSpec",
    "SwitchState",
    "TradingState",
    "WindowUsage",
    "default_entry_rules",
    "default_order_rules",
    "snapshot_from_dict",
    "snapshot_to_dict",
    "utc_day",
]
