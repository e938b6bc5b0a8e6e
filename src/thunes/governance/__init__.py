"""Governance (SPEC §5): the tamper-evident audit trail and what feeds it.

Sits between the engine and the adapters: it subscribes to the engine's bus and defines the record
and the sink ports that storage adapters implement (``adapters.storage.audit_jsonl`` writes and
verifies the hash-chained files, ``adapters.storage.audit_sql`` the database copy).
"""

from thunes.governance.audit_ports import AuditSink, AuditWriter
from thunes.governance.audit_recorder import AuditRecorder
from thunes.governance.audit_schema import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    AuditContext,
    AuditEvent,
    AuditRecord,
    AuditRecordError,
    record_from_json,
)

__all__ = [
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "AuditContext",
    "AuditEvent",
    "AuditRecord",
    "AuditRecordError",
    "AuditRecorder",
    "AuditSink",
    "AuditWriter",
    "record_from_json",
]
