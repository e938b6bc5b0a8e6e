"""The tamper matrix: every way to lose or change records of a real trail (weekly JSONL files, head,
``audit.db`` copy, as ``open_audit`` writes them) is caught by ``thunes audit verify`` with exit 1,
on a trail that never pruned and on one after a legitimate retention prune; the untampered trail
verifies OK, and verify writes nothing. Before the head and the copy check, a cut tail or every
file deleted verified "audit OK"."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.governance import NS, T0, lines, record, rewrite
from thunes.adapters.storage.audit_head import HEAD_NAME, read_head
from thunes.adapters.storage.audit_jsonl import ANCHOR_NAME, AuditLog, AuditLogError, audit_files
from thunes.adapters.storage.audit_sql import SqlAuditSink
from thunes.adapters.storage.audit_verify import ProblemKind, verify
from thunes.app.cli.audit import audit_app
from thunes.governance.audit_schema import canonical_json, compute_hash, record_from_json

WEEK = 7 * 86_400 * NS
runner = CliRunner()


def _write(data: Path, weeks: range, keep: int) -> None:
    copy = data / "audit.db"
    sink = SqlAuditSink(f"sqlite:///{copy}")
    try:
        with AuditLog(data / "audit", sinks=[sink], copy=copy, keep=keep) as log:
            for w in weeks:
                for s in range(3):
                    log.append(record(T0 + w * WEEK + s * NS, client_order_id=f"w{w}s{s}"))
    finally:
        sink.close()


@pytest.fixture(params=["kept", "pruned"])
def data(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Five weeks of three records; ``pruned``: only the newest three weekly files kept (anchor written)."""
    _write(tmp_path, range(5), keep=52 if request.param == "kept" else 3)
    return tmp_path


def _files(data: Path) -> list[Path]:
    return audit_files(data / "audit")


def _sql(data: Path, statement: str) -> None:
    with sqlite3.connect(data / "audit.db") as db:
        db.execute(statement)


def cut_last_record(data: Path) -> None:
    rewrite(_files(data)[-1], lines(_files(data)[-1])[:-1])


def cut_last_two_records(data: Path) -> None:
    rewrite(_files(data)[-1], lines(_files(data)[-1])[:-2])


def delete_newest_file(data: Path) -> None:
    _files(data)[-1].unlink()


def delete_every_file(data: Path) -> None:
    for path in _files(data):
        path.unlink()


def delete_a_middle_file(data: Path) -> None:
    _files(data)[1].unlink()


def edit_a_field(data: Path) -> None:
    path = _files(data)[1]
    content = lines(path)
    content[1] = content[1].replace(b'"w', b'"x', 1)
    rewrite(path, content)


def edit_the_last_record_and_rehash_it(data: Path) -> None:
    path = _files(data)[-1]
    content = lines(path)
    fields = json.loads(content[-1])
    fields["reason"] = "forged"
    fields["hash"] = compute_hash(record_from_json(canonical_json({**fields, "hash": ""})))
    content[-1] = (canonical_json(fields) + "\n").encode()
    rewrite(path, content)


def reorder_two_records(data: Path) -> None:
    path = _files(data)[-1]
    content = lines(path)
    content[0], content[1] = content[1], content[0]
    rewrite(path, content)


def delete_a_middle_db_row(data: Path) -> None:
    _sql(data, "DELETE FROM audit_records WHERE seq = (SELECT MAX(seq) - 4 FROM audit_records)")


def delete_the_newest_db_rows(data: Path) -> None:
    _sql(data, "DELETE FROM audit_records WHERE seq > (SELECT MAX(seq) - 2 FROM audit_records)")


def edit_a_db_row(data: Path) -> None:
    _sql(data, "UPDATE audit_records SET body = replace(body, '\"w4s1\"', '\"w4s9\"')")


def delete_the_db(data: Path) -> None:
    (data / "audit.db").unlink()


def delete_the_head(data: Path) -> None:
    (data / "audit" / HEAD_NAME).unlink()


def cut_the_tail_and_delete_the_head(data: Path) -> None:
    cut_last_two_records(data)
    delete_the_head(data)


def cut_the_tail_and_rewrite_the_head(data: Path) -> None:  # only the copy still knows
    cut_last_record(data)
    head = json.loads((data / "audit" / HEAD_NAME).read_text())
    head["count"] -= 1
    head["last_hash"] = json.loads(lines(_files(data)[-1])[-1])["hash"]
    (data / "audit" / HEAD_NAME).write_text(json.dumps(head))


TAMPERS: dict[str, tuple[Callable[[Path], None], set[ProblemKind]]] = {
    "cut_last_record": (cut_last_record, {ProblemKind.TRUNCATED}),
    "cut_last_two_records": (cut_last_two_records, {ProblemKind.TRUNCATED}),
    "delete_newest_file": (delete_newest_file, {ProblemKind.TRUNCATED}),
    "delete_every_file": (delete_every_file, {ProblemKind.TRUNCATED}),
    "delete_a_middle_file": (delete_a_middle_file, {ProblemKind.CHAIN_BREAK}),
    "edit_a_field": (edit_a_field, {ProblemKind.HASH_MISMATCH}),
    "edit_the_last_record_and_rehash_it": (edit_the_last_record_and_rehash_it, {ProblemKind.HEAD_MISMATCH}),
    "reorder_two_records": (reorder_two_records, {ProblemKind.CHAIN_BREAK}),
    "delete_a_middle_db_row": (delete_a_middle_db_row, {ProblemKind.COPY_MISMATCH}),
    "delete_the_newest_db_rows": (delete_the_newest_db_rows, {ProblemKind.COPY_MISMATCH}),
    "edit_a_db_row": (edit_a_db_row, {ProblemKind.COPY_MISMATCH}),
    "delete_the_db": (delete_the_db, {ProblemKind.MISSING}),
    "delete_the_head": (delete_the_head, {ProblemKind.MISSING}),
    "cut_the_tail_and_delete_the_head": (cut_the_tail_and_delete_the_head, {ProblemKind.MISSING}),
    "cut_the_tail_and_rewrite_the_head": (cut_the_tail_and_rewrite_the_head, {ProblemKind.TRUNCATED}),
}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_verify_when_untampered_then_ok_with_head_and_copy_compared(data: Path) -> None:
    result = verify(data / "audit")
    head = read_head(data / "audit")

    assert result.ok, result.problem
    assert head is not None and result.head == head.count == 15
    assert result.records == 3 * len(_files(data))
    assert result.copy_rows == result.records


@pytest.mark.parametrize("name", TAMPERS)
def test_verify_when_tampered_then_detected_and_cli_exits_1(data: Path, name: str) -> None:
    tamper, kinds = TAMPERS[name]
    tamper(data)

    result = verify(data / "audit")
    cli = runner.invoke(audit_app, ["verify", "--dir", str(data / "audit")])

    assert result.problem is not None, name
    assert result.problem.kind in kinds, result.problem
    assert cli.exit_code == 1, cli.output
    assert "audit FAILED" in cli.output


def test_verify_when_the_audit_directory_is_gone_but_its_copy_remains_then_exit_1(data: Path) -> None:
    for path in (data / "audit").iterdir():
        path.unlink()
    (data / "audit").rmdir()

    cli = runner.invoke(audit_app, ["verify", "--dir", str(data / "audit")])

    assert cli.exit_code == 1, cli.output
    assert "TRUNCATED" in cli.output


def test_verify_when_the_anchor_of_a_pruned_trail_is_deleted_then_chain_break(tmp_path: Path) -> None:
    _write(tmp_path, range(5), keep=3)
    (tmp_path / "audit" / ANCHOR_NAME).unlink()

    result = verify(tmp_path / "audit")

    assert result.problem is not None and result.problem.kind is ProblemKind.CHAIN_BREAK


def test_verify_when_retention_prunes_again_later_then_still_ok(tmp_path: Path) -> None:
    _write(tmp_path, range(5), keep=3)
    _write(tmp_path, range(5, 9), keep=3)  # a later session: more weeks, more pruning

    result = verify(tmp_path / "audit")

    assert result.ok, result.problem
    assert (result.files, result.records, result.head, result.copy_rows) == (3, 9, 27, 9)


@pytest.mark.parametrize("name", ["cut_last_record", "delete_newest_file", "delete_every_file"])
def test_reopen_when_trail_shorter_than_its_head_then_refused_instead_of_papering_over(data: Path, name: str) -> None:
    TAMPERS[name][0](data)

    with pytest.raises(AuditLogError, match="head says 15"):
        AuditLog(data / "audit")


def test_verify_when_a_crash_left_records_after_the_head_and_out_of_the_copy_then_ok_and_reopen_catches_up(
    tmp_path: Path,
) -> None:
    _write(tmp_path, range(2), keep=52)
    head_before = (tmp_path / "audit" / HEAD_NAME).read_text()
    with AuditLog(tmp_path / "audit") as log:  # appended without the copy or the head (a crash in between)
        log.append(record(T0 + 2 * WEEK, client_order_id="late"))
    (tmp_path / "audit" / HEAD_NAME).write_text(head_before)

    crashed = verify(tmp_path / "audit")
    _write(tmp_path, range(3, 4), keep=52)  # the next session: the copy catches up, the head moves on
    resumed = verify(tmp_path / "audit")

    assert crashed.ok and crashed.unacknowledged == 1, crashed.problem
    assert resumed.ok and resumed.unacknowledged == 0, resumed.problem
    assert resumed.copy_rows == resumed.records == 10


def test_verify_writes_nothing(data: Path) -> None:
    before = _snapshot(data)

    cli = runner.invoke(audit_app, ["verify", "--dir", str(data / "audit")])

    assert cli.exit_code == 0, cli.output
    assert _snapshot(data) == before
    delete_the_db(data)
    runner.invoke(audit_app, ["verify", "--dir", str(data / "audit")])
    assert not (data / "audit.db").exists()  # never created by a read
