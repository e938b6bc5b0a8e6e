"""Every decision is an RL_DECISION record in the hash-chained audit trail, tied to the policy, its
model version and the adapter's parameter hash; the chain verifies."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from tests.unit.rl.kit import POLICY, rig
from thunes.adapters.storage.audit_jsonl import AuditLog, read_records
from thunes.adapters.storage.audit_verify import verify
from thunes.governance import AuditEvent, AuditRecord
from thunes.risk import RiskLimits
from thunes.rl import DecisionAuditor, Mode


def test_each_decision_parsed_or_not_is_one_audit_record_and_the_chain_verifies(tmp_path: Path) -> None:
    r = rig(Mode.SHADOW)
    lines = [r.action().model_dump_json(), "{truncated", r.action(policy_id="rogue").model_dump_json()]
    with AuditLog(tmp_path / "audit") as log:
        auditor = DecisionAuditor(log, app_version="test", git_sha="0" * 40)
        auditor.attach(r.kernel.bus)

        async def run() -> list[object]:
            return [(await r.adapter.act_line(line, n)).decision for n, line in enumerate(lines, 1)]

        decisions = asyncio.run(run())

    records = [rec for _, _, rec in read_records(tmp_path / "audit")]
    assert all(isinstance(rec, AuditRecord) for rec in records)
    assert len(records) == len(decisions) == auditor.records == 3
    ok, bad, rogue = records  # type: ignore[misc]
    assert {rec.event for rec in records} == {AuditEvent.RL_DECISION}  # type: ignore[union-attr]
    assert (ok.strategy_id, ok.model_version, ok.param_hash) == (POLICY, "v1", r.adapter.param_hash)
    assert ok.metadata["status"] == "ACCEPTED" and ok.metadata["placed"] is False and ok.client_order_id
    assert ok.risk_snapshot["trading_state"] == "ACTIVE"
    assert (bad.strategy_id, bad.reason, bad.metadata["gate"], bad.metadata["line"]) == (
        "unknown", "INVALID_JSON", "PARSE", 2)  # fmt: skip
    assert (rogue.strategy_id, rogue.reason, rogue.metadata["gate"]) == ("rogue", "UNKNOWN_POLICY", "POLICY")
    result = verify(tmp_path / "audit")
    assert result.problem is None and result.records == 3


def test_param_hash_changes_with_the_adapters_settings_and_with_the_risk_limits() -> None:
    base = rig(Mode.SHADOW).adapter.param_hash

    same = rig(Mode.SHADOW).adapter.param_hash
    other_band = rig(Mode.SHADOW, settings={"max_reference_age_ms": 999}).adapter.param_hash
    other_limits = rig(Mode.SHADOW, limits=RiskLimits(max_order_notional=Decimal(99))).adapter.param_hash

    assert base == same
    assert len({base, other_band, other_limits}) == 3


def test_a_holding_auditor_writes_nothing_until_flushed_then_every_record_in_order(tmp_path: Path) -> None:
    r = rig(Mode.SHADOW)
    lines = [r.action().model_dump_json(), "{truncated", r.action(policy_id="rogue").model_dump_json()]
    with AuditLog(tmp_path / "audit") as log:
        auditor = DecisionAuditor(log, app_version="test", git_sha="0" * 40, hold=10)
        auditor.attach(r.kernel.bus)
        decisions = [r.adapter.decide_line(line, n) for n, line in enumerate(lines, 1)]
        held = [rec for _, _, rec in read_records(tmp_path / "audit")]
        auditor.flush()

    records = [rec for _, _, rec in read_records(tmp_path / "audit")]
    assert held == [] and auditor.records == 3
    assert [rec.metadata["action_id"] for rec in records] == [d.action_id for d in decisions]  # type: ignore[union-attr]
    assert verify(tmp_path / "audit").records == 3
