"""What a risk engine is, declared: its rules in the order it runs them, each with a version and its
parameters, and the limits they read.

Code that reproduces the gate elsewhere (the fast backtest's compiled kernel) compares the engine's
description with the one it reproduces and refuses to run on anything else, rather than trust that
nobody added, reordered or changed a rule. Change what a rule decides and you change its version.
"""

from __future__ import annotations

from dataclasses import dataclass

from thunes.risk.limits import RiskLimits

__all__ = ["RiskDescription", "RuleSpec"]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule: its id, the version of its logic and the parameters it holds itself (as text)."""

    rule_id: str
    version: int
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        held = f"({', '.join(f'{k}={v}' for k, v in self.params)})" if self.params else ""
        return f"{self.rule_id}/{self.version}{held}"


@dataclass(frozen=True, slots=True)
class RiskDescription:
    """The gate: its structure's version (the order of its steps), the rules every order meets, the
    rules only entries meet, and the limits the rules read."""

    gate_version: int
    order_rules: tuple[RuleSpec, ...]
    entry_rules: tuple[RuleSpec, ...]
    limits: RiskLimits
