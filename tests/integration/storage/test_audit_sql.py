"""The audit trail's database copy on a real SQLite file and a real PostgreSQL server.

PostgreSQL gets a fresh schema per test from the storage suite's own helper, dropped afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from tests.integration.storage.test_sql_store import PG_URL, _postgres_url
from tests.unit.governance import NS, T0, record
from thunes.adapters.storage.audit_jsonl import AuditLog, read_records
from thunes.adapters.storage.audit_sql import SqlAuditSink, audit_records
from thunes.adapters.storage.audit_verify import ProblemKind, verify, verify_sequence
from thunes.domain import Side
from thunes.governance import AuditEvent, AuditRecord

WEEK = 7 * 86_400 * NS


def _drop_schema(url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    pg = _postgres_url()
    yield pg
    _drop_schema(pg)


@pytest.fixture
def sink(url: str) -> Iterator[SqlAuditSink]:
    s = SqlAuditSink(url)
    yield s
    s.close()


def _file_records(directory: Path) -> list[AuditRecord]:
    return [item for _, _, item in read_records(directory) if isinstance(item, AuditRecord)]


def test_sink_when_log_appends_then_table_holds_the_same_chain(sink: SqlAuditSink, tmp_path: Path) -> None:
    times = [T0 + w * WEEK + i * NS for w in range(3) for i in range(4)]
    with AuditLog(tmp_path / "audit", sinks=[sink]) as log:
        for i, t in enumerate(times):
            log.append(record(t, side=Side.SELL, client_order_id=f"c{i}", metadata={"qty": "0.00000001"}))

    stored = list(sink.records())

    assert stored == _file_records(tmp_path / "audit")
    assert verify(tmp_path / "audit").ok
    assert verify_sequence(stored) is None
    assert stored[0].metadata["qty"] == "0.00000001"


def test_sink_when_columns_queried_then_they_match_the_body(sink: SqlAuditSink, tmp_path: Path) -> None:
    with AuditLog(tmp_path, sinks=[sink]) as log:
        sealed = log.append(record(event=AuditEvent.TRADE_REJECTED, reason="COOL_DOWN", side=Side.BUY))

    with sink.engine.connect() as conn:
        row = conn.execute(select(audit_records)).one()._mapping

    assert (row["event_id"], row["event"], row["reason"], row["side"], row["symbol"]) == (
        sealed.event_id, "TRADE_REJECTED", "COOL_DOWN", "BUY", "BTCUSDT")  # fmt: skip
    assert (row["ts_ns"], row["prev_hash"], row["hash"]) == (T0, sealed.prev_hash, sealed.hash)
    assert row["body"] == sealed.to_json()
    assert [r.event_id for r in sink.records(event="TRADE_REJECTED", symbol="BTCUSDT")] == [sealed.event_id]
    assert list(sink.records(event="ORDER_FILLED")) == []


def test_sink_when_record_written_twice_then_refused(sink: SqlAuditSink, tmp_path: Path) -> None:
    with AuditLog(tmp_path) as log:
        sealed = log.append(record())
    sink.write(sealed)

    with pytest.raises(IntegrityError):
        sink.write(sealed)
    assert len(list(sink.records())) == 1


def test_sink_when_record_not_sealed_then_refused(sink: SqlAuditSink) -> None:
    with pytest.raises(ValueError, match="not sealed"):
        sink.write(record())


def test_sink_when_a_row_body_is_edited_then_the_copy_no_longer_verifies(sink: SqlAuditSink, tmp_path: Path) -> None:
    with AuditLog(tmp_path, sinks=[sink]) as log:
        for i in range(5):
            log.append(record(T0 + i, client_order_id=f"c{i}"))
    with sink.engine.begin() as conn:
        body = conn.execute(select(audit_records.c.body).where(audit_records.c.client_order_id == "c2")).scalar_one()
        forged = body.replace('"c2"', '"cX"')
        conn.execute(update(audit_records).where(audit_records.c.client_order_id == "c2").values(body=forged))

    assert verify_sequence(sink.records()) == (2, ProblemKind.HASH_MISMATCH)


def test_sink_when_files_lose_their_tail_then_the_copy_still_has_it(sink: SqlAuditSink, tmp_path: Path) -> None:
    with AuditLog(tmp_path, sinks=[sink]) as log:
        for i in range(4):
            log.append(record(T0 + i))
    path = next(tmp_path.glob("audit-*.jsonl"))
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]))

    from_db = list(sink.records())

    cut = verify(tmp_path)
    assert cut.problem is not None and cut.problem.kind is ProblemKind.TRUNCATED  # the head sees the cut tail...
    assert len(from_db) == 4 and verify_sequence(from_db) is None  # ...the database copy shows it
    assert from_db[1].hash == _file_records(tmp_path)[-1].hash


def test_sink_when_many_threads_append_then_every_record_once_in_chain_order(
    sink: SqlAuditSink, tmp_path: Path
) -> None:
    log = AuditLog(tmp_path, sinks=[sink], fsync=False)
    barrier = threading.Barrier(6)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(25):
            log.append(record(T0 + i, client_order_id=f"t{t}-{i}"))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    log.close()

    stored = list(sink.records())
    assert len(stored) == 150
    assert verify_sequence(stored) is None
    assert stored == _file_records(tmp_path)


def test_sink_when_reopened_then_table_is_reused(url: str, tmp_path: Path) -> None:
    first = SqlAuditSink(url)
    with AuditLog(tmp_path, sinks=[first]) as log:
        log.append(record(T0))
    first.close()

    second = SqlAuditSink(url)
    try:
        with AuditLog(tmp_path, sinks=[second]) as log:
            log.append(record(T0 + 1))
        stored = list(second.records())
        assert verify_sequence(stored) is None
        assert len(stored) == 2
        with second.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM audit_records")).scalar_one() == 2
    finally:
        second.close()


def test_records_when_parsed_back_then_equal_to_what_was_sealed(sink: SqlAuditSink, tmp_path: Path) -> None:
    with AuditLog(tmp_path, sinks=[sink]) as log:
        sealed = log.append(replace(record(), metadata={"nested": {"price": "1.10"}, "list": [1, "a", None]}))

    assert list(sink.records()) == [sealed]
