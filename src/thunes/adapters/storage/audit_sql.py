"""The audit trail's database copy (SPEC §5): table ``audit_records`` on SQLite or PostgreSQL.

Each sealed record is one row: the fields people filter on as columns, and ``body``, the exact
canonical JSON line that was hashed. The body is kept as text, not JSON/JSONB, because PostgreSQL's
JSONB reorders keys and rewrites numbers: the copy must re-verify byte for byte. ``seq`` keeps chain
order; ``event_id`` and ``hash`` are unique, so a record written twice is refused, never doubled.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from thunes.adapters.storage.sql_engine import open_engine
from thunes.governance.audit_schema import AuditRecord, record_from_json

__all__ = ["AUDIT_METADATA", "AuditCopyError", "SqlAuditSink", "audit_records", "stored_rows"]

AUDIT_METADATA = MetaData()

audit_records = Table(
    "audit_records",
    AUDIT_METADATA,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("ts_ns", BigInteger, nullable=False),
    Column("event", String(40), nullable=False),
    Column("symbol", String(20), nullable=True),
    Column("side", String(4), nullable=True),
    Column("reason", Text, nullable=True),
    Column("client_order_id", String(36), nullable=True),
    Column("strategy_id", String(64), nullable=False),
    Column("param_hash", String(64), nullable=False),
    Column("model_version", String(64), nullable=True),
    Column("app_version", String(32), nullable=False),
    Column("git_sha", String(40), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Index("ix_audit_records_ts_ns", "ts_ns"),
    Index("ix_audit_records_event_ts", "event", "ts_ns"),
    Index("ix_audit_records_symbol_ts", "symbol", "ts_ns"),
)


class SqlAuditSink:
    """An ``AuditSink`` writing to ``audit_records`` (created if missing); each write commits."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url, AUDIT_METADATA)

    def close(self) -> None:
        self.engine.dispose()

    def write(self, record: AuditRecord) -> None:
        """Insert one sealed record; ``ValueError`` for an unsealed one (it has no place in the chain)."""
        if not record.sealed:
            raise ValueError(f"audit record {record.event_id} is not sealed into the chain")
        row = {
            "event_id": record.event_id, "ts_ns": record.ts_ns, "event": record.event.value, "symbol": record.symbol,
            "side": None if record.side is None else record.side.value, "reason": record.reason,
            "client_order_id": record.client_order_id, "strategy_id": record.strategy_id,
            "param_hash": record.param_hash, "model_version": record.model_version, "app_version": record.app_version,
            "git_sha": record.git_sha, "schema_version": record.schema_version, "prev_hash": record.prev_hash,
            "hash": record.hash, "body": record.to_json(),
        }  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(insert(audit_records).values(**row))

    def last_hash(self) -> str | None:
        """The hash of the newest stored record (None: empty), so the log can send what a crash kept out."""
        query = select(audit_records.c.hash).order_by(audit_records.c.seq.desc()).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def records(self, *, event: str | None = None, symbol: str | None = None) -> Iterator[AuditRecord]:
        """Stored records in chain order, parsed back from their exact bodies."""
        query = select(audit_records.c.body).order_by(audit_records.c.seq)
        if event is not None:
            query = query.where(audit_records.c.event == event)
        if symbol is not None:
            query = query.where(audit_records.c.symbol == symbol)
        with self.engine.connect() as conn:
            bodies = conn.execute(query).scalars().all()
        for body in bodies:
            yield record_from_json(body)


class AuditCopyError(RuntimeError):
    """The database copy cannot be read (not a database, no ``audit_records`` table)."""


def stored_rows(path: Path) -> Generator[tuple[int, str, str]]:
    """(seq, hash, body) of every row of the SQLite copy at ``path`` in chain order, read without
    writing anything: a checkpointed file is opened immutable (no -wal/-shm created), one a session
    is writing (its -wal and -shm exist) read-only through them."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    mode = "mode=ro" if wal.exists() and shm.exists() else "immutable=1"
    engine = create_engine(f"sqlite:///file:{path}?{mode}&uri=true")
    query = select(audit_records.c.seq, audit_records.c.hash, audit_records.c.body).order_by(audit_records.c.seq)
    try:
        with engine.connect() as conn:
            for row in conn.execution_options(yield_per=1_000).execute(query):
                yield int(row.seq), str(row.hash), str(row.body)
    except SQLAlchemyError as e:
        raise AuditCopyError(f"{path}: unreadable audit copy ({str(e).splitlines()[0]})") from e
    finally:
        engine.dispose()
