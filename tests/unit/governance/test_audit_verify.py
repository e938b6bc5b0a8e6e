"""``verify`` against real tampering of real files: it must name the file and line of the first problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.governance import NS, T0, lines, rewrite, write
from thunes.adapters.storage.audit_jsonl import file_name_for
from thunes.adapters.storage.audit_verify import ProblemKind, verify
from thunes.governance.audit_schema import canonical_json, compute_hash, record_from_json

WEEK = 7 * 86_400 * NS
FILE = "audit-2026-W48.jsonl"


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """Ten records in one week's file."""
    write(tmp_path, [T0 + i * NS for i in range(10)])
    return tmp_path


def _edit(raw: bytes, **changes: object) -> bytes:
    data = json.loads(raw)
    data.update(changes)
    return (canonical_json(data) + "\n").encode()


def test_verify_when_untouched_then_ok_with_counts(trail: Path) -> None:
    result = verify(trail)

    assert result.ok
    assert (result.files, result.records, result.anchor) == (1, 10, "genesis")


def test_verify_when_empty_directory_then_ok_and_nothing_counted(tmp_path: Path) -> None:
    result = verify(tmp_path)

    assert (result.ok, result.files, result.records) == (True, 0, 0)


def test_verify_when_one_line_edited_then_fails_at_that_line(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    content[4] = _edit(content[4], reason="nothing to see")  # line 5
    rewrite(path, content)

    result = verify(trail)

    assert result.problem is not None
    assert (result.problem.file, result.problem.line, result.problem.kind) == (FILE, 5, ProblemKind.HASH_MISMATCH)
    assert result.records == 4
    assert str(result.problem).startswith(f"{FILE}:5: HASH_MISMATCH")


def test_verify_when_line_edited_and_its_hash_recomputed_then_next_line_breaks(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    forged = record_from_json(_edit(content[4], metadata={"price": "1"}, hash=""))
    content[4] = _edit(content[4], metadata={"price": "1"}, hash=compute_hash(forged))
    rewrite(path, content)

    result = verify(trail)

    assert result.problem is not None
    assert (result.problem.line, result.problem.kind) == (6, ProblemKind.CHAIN_BREAK)


def test_verify_when_a_line_deleted_then_fails_where_it_was(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    del content[6]  # line 7
    rewrite(path, content)

    result = verify(trail)

    assert result.problem is not None
    assert (result.problem.file, result.problem.line, result.problem.kind) == (FILE, 7, ProblemKind.CHAIN_BREAK)
    assert "deleted" in result.problem.detail


def test_verify_when_last_line_deleted_then_the_head_catches_the_cut_tail(trail: Path) -> None:
    path = trail / FILE
    rewrite(path, lines(path)[:-1])

    result = verify(trail)

    assert result.problem is not None
    assert result.problem.kind is ProblemKind.TRUNCATED
    assert "head counts 10 records, the files hold 9" in result.problem.detail


def test_verify_when_first_line_deleted_then_fails_at_line_one(trail: Path) -> None:
    path = trail / FILE
    rewrite(path, lines(path)[1:])

    result = verify(trail)

    assert result.problem is not None
    assert (result.problem.line, result.problem.kind) == (1, ProblemKind.CHAIN_BREAK)
    assert "genesis" in result.problem.detail


def test_verify_when_two_lines_swapped_then_fails_at_the_first_of_them(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    content[2], content[3] = content[3], content[2]  # lines 3 and 4
    rewrite(path, content)

    result = verify(trail)

    assert result.problem is not None
    assert (result.problem.line, result.problem.kind) == (3, ProblemKind.CHAIN_BREAK)


def test_verify_when_last_line_truncated_then_garbled_at_that_line(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    content[-1] = content[-1][:40]
    rewrite(path, content)

    result = verify(trail)

    assert result.problem is not None
    assert (result.problem.line, result.problem.kind) == (10, ProblemKind.GARBLED)
    assert "truncated" in result.problem.detail


def test_verify_when_middle_line_garbled_then_garbled_at_that_line(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    content[1] = content[1][:25] + b"\x00\x00" + content[1][27:]
    rewrite(path, content)

    result = verify(trail)

    assert result.problem is not None
    assert (result.problem.line, result.problem.kind) == (2, ProblemKind.GARBLED)


def test_verify_when_a_middle_file_is_missing_then_fails_at_line_one_of_the_next(tmp_path: Path) -> None:
    write(tmp_path, [T0 + w * WEEK + s * NS for w in range(3) for s in range(3)])
    (tmp_path / file_name_for(T0 + WEEK)).unlink()

    result = verify(tmp_path)

    assert result.problem is not None
    assert (result.problem.file, result.problem.line) == (file_name_for(T0 + 2 * WEEK), 1)
    assert result.problem.kind is ProblemKind.CHAIN_BREAK
    assert file_name_for(T0) in result.problem.detail


def test_verify_when_oldest_file_deleted_without_pruning_then_fails(tmp_path: Path) -> None:
    write(tmp_path, [T0, T0 + WEEK])
    (tmp_path / file_name_for(T0)).unlink()

    result = verify(tmp_path)

    assert result.problem is not None
    assert (result.problem.file, result.problem.line) == (file_name_for(T0 + WEEK), 1)


def test_verify_when_oldest_kept_file_deleted_after_pruning_then_fails_against_the_anchor(tmp_path: Path) -> None:
    write(tmp_path, [T0 + w * WEEK for w in range(5)], keep=3)
    assert verify(tmp_path).ok
    (tmp_path / file_name_for(T0 + 2 * WEEK)).unlink()

    result = verify(tmp_path)

    assert result.problem is not None
    assert (result.problem.file, result.problem.line) == (file_name_for(T0 + 3 * WEEK), 1)
    assert file_name_for(T0 + WEEK) in result.problem.detail  # the anchor: last pruned file


def test_verify_when_anchor_garbled_then_reports_it(tmp_path: Path) -> None:
    write(tmp_path, [T0 + w * WEEK for w in range(3)], keep=2)
    (tmp_path / "audit-anchor.json").write_text("{oops")

    result = verify(tmp_path)

    assert result.problem is not None
    assert result.problem.file == "audit-anchor.json"
