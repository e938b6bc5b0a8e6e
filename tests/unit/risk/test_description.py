"""A risk engine says what gate it runs: its rules in order, each with an id, a version and its own
parameters, and its limits; code that reproduces the gate elsewhere compares it with its own."""

from __future__ import annotations

from decimal import Decimal

from thunes.risk import GATE_VERSION, InMemoryRiskStore, RiskEngine, RiskLimits, RuleSpec
from thunes.risk.rules import CheckContext, DailyLossRule, DeclaredRule, Denial, default_entry_rules

from . import FakeClock


class _PriceCeiling(DeclaredRule):
    rule_id = "price_ceiling"
    version = 3

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        return None

    def describe(self) -> RuleSpec:
        return RuleSpec(self.rule_id, self.version, (("ceiling", "50000"),))


def test_describe_when_default_rules_then_every_rule_in_order_with_its_version_and_the_limits() -> None:
    limits = RiskLimits(max_order_notional=Decimal(40))

    described = RiskEngine(limits, FakeClock(), InMemoryRiskStore()).describe()

    assert described.gate_version == GATE_VERSION
    assert [str(r) for r in described.order_rules] == ["trading_state/1", "held_quantity/1"]
    assert [str(r) for r in described.entry_rules] == [
        "daily_loss/1", "cool_down/1", "one_position_per_symbol/1", "max_open_positions/1",
        "max_order_notional/1", "exit_feasibility/1",
    ]  # fmt: skip
    assert described.limits == limits


def test_describe_when_rules_are_handed_then_their_order_ids_versions_and_parameters() -> None:
    rules = (_PriceCeiling(), DailyLossRule())

    described = RiskEngine(RiskLimits(), FakeClock(), InMemoryRiskStore(), entry_rules=rules).describe()

    assert described.entry_rules == (RuleSpec("price_ceiling", 3, (("ceiling", "50000"),)), RuleSpec("daily_loss", 1))
    assert str(described.entry_rules[0]) == "price_ceiling/3(ceiling=50000)"
    assert described != RiskEngine(RiskLimits(), FakeClock(), InMemoryRiskStore()).describe()
    assert len({r.describe().rule_id for r in default_entry_rules()}) == len(default_entry_rules())
