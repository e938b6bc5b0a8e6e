"""Builders shared by the governance tests: a context, records at chosen times, and file surgery."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from thunes.adapters.storage.audit_jsonl import AuditLog
from thunes.governance import AuditContext, AuditEvent, AuditRecord

NS = 1_000_000_000
CONTEXT = AuditContext(
    strategy_id="sma-20-50", param_hash="ab" * 32, app_version="0.1.0", git_sha="c0ffee" * 6 + "c0fe"
)


def ts(text: str) -> int:
    """ISO time in UTC to Unix ns: ``ts("2026-11-23T10:00:00")``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


T0 = ts("2026-11-23T10:00:00")  # a Monday: ISO week 2026-W48


def record(ts_ns: int = T0, event: AuditEvent = AuditEvent.ORDER_FILLED, **fields: Any) -> AuditRecord:
    defaults: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "client_order_id": "c1",
        "metadata": {"price": Decimal("50000.01")},
    }
    return CONTEXT.record(event, ts_ns, **{**defaults, **fields})


def write(directory: Path, times: list[int], **kwargs: Any) -> list[AuditRecord]:
    """Append one record per time to a fresh ``AuditLog`` and close it; the sealed records."""
    with AuditLog(directory, **kwargs) as log:
        return [log.append(record(t, client_order_id=f"c{i}")) for i, t in enumerate(times)]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, new_lines: list[bytes]) -> None:
    path.write_bytes(b"".join(new_lines))
