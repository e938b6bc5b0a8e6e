"""``verify``: walk the audit trail in chain order and name the first place it was tampered with.

What each check catches (SPEC §5: tampering or loss is detectable):
- a line that is not a schema-valid record: torn by a crash, truncated, garbled (GARBLED);
- a record whose content no longer matches its own hash: an edited line (HASH_MISMATCH);
- a record whose ``prev_hash`` is not the hash of the record before it: a deleted line, two lines
  swapped, a file missing in the middle, or an older file deleted outside pruning (CHAIN_BREAK).

An edit that also recomputes the line's hash is caught one line later, as a chain break. What no
file check can see is the *newest* records cut off the end; the database copy is there for that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from thunes.adapters.storage.audit_jsonl import ANCHOR_NAME, AuditLogError, audit_files, read_anchor, read_records
from thunes.governance.audit_schema import GENESIS_HASH, AuditRecord, AuditRecordError, compute_hash

__all__ = ["Problem", "ProblemKind", "VerifyResult", "chain_problem", "verify", "verify_sequence"]


class ProblemKind(StrEnum):
    GARBLED = "GARBLED"
    HASH_MISMATCH = "HASH_MISMATCH"
    CHAIN_BREAK = "CHAIN_BREAK"


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong: where (file name, 1-based line) and what."""

    file: str
    line: int
    kind: ProblemKind
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``records`` counts the records checked good before the first problem (all, when ``ok``).

    ``anchor`` is where the chain starts: ``genesis``, or the last file removed by pruning.
    """

    files: int
    records: int
    last_hash: str
    anchor: str
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def chain_problem(record: AuditRecord, expected_prev: str) -> ProblemKind | None:
    """Whether ``record`` is intact and chained right after ``expected_prev``."""
    if compute_hash(record) != record.hash:
        return ProblemKind.HASH_MISMATCH
    if record.prev_hash != expected_prev:
        return ProblemKind.CHAIN_BREAK
    return None


def verify_sequence(records: Iterable[AuditRecord], start_hash: str = GENESIS_HASH) -> tuple[int, ProblemKind] | None:
    """Check records already parsed (e.g. the database copy): (0-based index, kind) of the first problem."""
    expected = start_hash
    for index, record in enumerate(records):
        kind = chain_problem(record, expected)
        if kind is not None:
            return index, kind
        expected = record.hash
    return None


def _break_detail(line: int, previous_file: str | None, anchor: str) -> str:
    if line > 1:
        return "prev_hash is not the hash of the line before: a line was deleted or lines were reordered"
    if previous_file is not None:
        return f"prev_hash does not continue {previous_file}: a file or lines between them are missing"
    return f"the trail does not start at {anchor}: an older file or its first lines are missing"


def verify(directory: Path) -> VerifyResult:
    """Walk every audit file under ``directory`` in order; stop at the first problem."""
    try:
        anchor_data = read_anchor(directory)
    except AuditLogError as e:
        return VerifyResult(0, 0, "", "?", Problem(ANCHOR_NAME, 1, ProblemKind.GARBLED, str(e)))
    anchor = "genesis" if anchor_data is None else anchor_data[0]
    expected = GENESIS_HASH if anchor_data is None else anchor_data[1]
    files = audit_files(directory)
    count, previous_file, current_file = 0, None, None
    for path, line, item in read_records(directory):
        if path.name != current_file:
            previous_file, current_file = current_file, path.name
        if isinstance(item, AuditRecordError):
            problem = Problem(path.name, line, ProblemKind.GARBLED, f"unreadable record: {item}")
            return VerifyResult(len(files), count, expected, anchor, problem)
        kind = chain_problem(item, expected)
        if kind is ProblemKind.HASH_MISMATCH:
            detail = "the content does not match its hash: the line was edited"
            return VerifyResult(len(files), count, expected, anchor, Problem(path.name, line, kind, detail))
        if kind is ProblemKind.CHAIN_BREAK:
            detail = _break_detail(line, previous_file, anchor)
            return VerifyResult(len(files), count, expected, anchor, Problem(path.name, line, kind, detail))
        expected = item.hash
        count += 1
    return VerifyResult(len(files), count, expected, anchor)
