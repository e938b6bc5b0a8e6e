"""Every RL decision as an audit record (SPEC §5 ``RL_DECISION``), written by a bus subscriber.

The adapter publishes each :class:`~thunes.rl.schemas.Decision`; this recorder listens (STYLE habit 8:
observability subscribes, the engine never calls it) and writes one hash-chained record per decision,
tied to the policy (``strategy_id``), its ``model_version`` and the adapter's ``param_hash``, so the
trail says which policy proposed what, which gates judged it and how.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from thunes.governance.audit_ports import AuditWriter
from thunes.governance.audit_schema import AuditEvent, AuditRecord
from thunes.rl.schemas import Decision

__all__ = ["DecisionAuditor", "decision_record"]

M = TypeVar("M")
UNKNOWN_POLICY = "unknown"  # a line that parsed to no action names no policy


class Subscriber(Protocol):
    def subscribe(self, message_type: type[M], handler: Callable[[M], None]) -> None: ...


def decision_record(decision: Decision, *, app_version: str, git_sha: str) -> AuditRecord:
    """The unsealed ``RL_DECISION`` record of ``decision``."""
    data = decision.model_dump(mode="json")
    metadata: dict[str, Any] = {key: data[key] for key in (
        "action_id", "status", "gate", "detail", "mode", "placed", "normalized_order", "reference_price",
        "reference_age_ms", "explanation", "latency_us", "line", "schema_version")}  # fmt: skip
    return AuditRecord(event=AuditEvent.RL_DECISION, ts_ns=decision.ts_ns,
                       strategy_id=decision.policy_id or UNKNOWN_POLICY, param_hash=decision.param_hash,
                       app_version=app_version, git_sha=git_sha, symbol=decision.symbol, side=decision.side,
                       reason=decision.reason, client_order_id=decision.client_order_id,
                       model_version=decision.model_version, risk_snapshot=data["risk_snapshot"],
                       metadata=metadata)  # fmt: skip


class DecisionAuditor:
    """Writes one record per published decision to ``log`` (the session's audit trail).

    ``hold``: records wait in memory, in order, until :meth:`flush` writes them in one batch (or until
    ``hold`` of them wait). A stream that writes its decisions out in batches (``thunes shadow``)
    flushes the auditor first, so no decision leaves the process before its record is in the trail;
    without ``hold`` (0) each record is written as its decision is published."""

    def __init__(self, log: AuditWriter, *, app_version: str, git_sha: str, hold: int = 0) -> None:
        self._log, self._app_version, self._git_sha, self._hold = log, app_version, git_sha, hold
        self._pending: list[AuditRecord] = []
        self.records = 0

    def attach(self, bus: Subscriber) -> None:
        bus.subscribe(Decision, self.on_decision)

    def on_decision(self, decision: Decision) -> None:
        self._pending.append(decision_record(decision, app_version=self._app_version, git_sha=self._git_sha))
        if len(self._pending) > self._hold:
            self.flush()

    def flush(self) -> None:
        """Write the records held so far (in one batch), in the order of their decisions."""
        if self._pending:
            pending, self._pending = self._pending, []
            self._log.append_many(pending)
            self.records += len(pending)
