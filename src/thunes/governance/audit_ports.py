"""The ports of the audit trail: where sealed records go. Storage adapters implement them
(``adapters.storage.audit_jsonl``, ``adapters.storage.audit_sql``); the recorder only needs a writer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from thunes.governance.audit_schema import AuditRecord

__all__ = ["AuditSink", "AuditWriter"]


class AuditSink(Protocol):
    """A second home for every sealed record (a database table); called in chain order."""

    def write(self, record: AuditRecord) -> None: ...


class AuditWriter(Protocol):
    """What a recorder needs: seal and store records, in order, durably."""

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]: ...
