"""RL decision layer (SPEC §9): an external policy's actions through the nine gates.

A policy (an RL agent, a notebook, another bot) proposes :class:`RLAction` s; the :class:`RLAdapter`
decides, through the same risk engine, filters, breaker and order manager that guard THUNES's own
strategies, whether each is executed, and answers each with a :class:`Decision`. In shadow mode
nothing is placed. Pure logic over the engine's parts: no I/O, no wall clock in the gates.
"""

from thunes.rl.adapter import Outcome, RLAdapter, exec_fills
from thunes.rl.audit import DecisionAuditor, decision_record
from thunes.rl.parse import parse_action
from thunes.rl.reference import Quote, ReferencePriceCache
from thunes.rl.schemas import (
    SCHEMA_VERSION,
    Constraints,
    Decision,
    DecisionStatus,
    ExecEvent,
    ExecFill,
    Gate,
    Mode,
    NormalizedOrder,
    QtyMode,
    RLAction,
    action_id_of,
    json_schemas,
)
from thunes.rl.settings import AdapterSettings, BandSettings, PolicySettings
from thunes.rl.source import PolicySource

__all__ = [
    "SCHEMA_VERSION",
    "AdapterSettings",
    "BandSettings",
    "Constraints",
    "Decision",
    "DecisionAuditor",
    "DecisionStatus",
    "ExecEvent",
    "ExecFill",
    "Gate",
    "Mode",
    "NormalizedOrder",
    "Outcome",
    "PolicySettings",
    "PolicySource",
    "QtyMode",
    "Quote",
    "RLAction",
    "RLAdapter",
    "ReferencePriceCache",
    "action_id_of",
    "decision_record",
    "exec_fills",
    "json_schemas",
    "parse_action",
]
