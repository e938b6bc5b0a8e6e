"""``verify``: walk the audit trail in chain order, against its head and its database copy, and name
the first place it was tampered with or lost records. Read-only: it writes nothing, not even the
database's side files.

What each check catches (SPEC §5: tampering or loss is detectable):
- a line that is not a schema-valid record: torn by a crash, truncated, garbled (GARBLED);
- a record whose content no longer matches its own hash: an edited line (HASH_MISMATCH);
- a record whose ``prev_hash`` is not the hash of the record before it: a deleted line, two lines
  swapped, a file missing in the middle, or an older file deleted outside pruning (CHAIN_BREAK);
- fewer records than the head (``audit-head.json``, rewritten after every durable append) counts, or
  the database copy holding records after the files' last one: the newest records cut off, the
  newest file or every file deleted (TRUNCATED);
- a record whose hash differs from the head's at its position: the last line edited with its hash
  recomputed (HEAD_MISMATCH);
- the database copy differing from the files, record by record (same bodies, same order, same
  hashes), its own chain from genesis broken, or rows missing (COPY_MISMATCH);
- the head missing on a trail that has records, or the database copy missing when the head says
  the writer kept one (MISSING).

Retention (52 weekly files, SPEC §5) is not loss: pruning writes the anchor (last pruned hash and
the record count pruned through it) before deleting, and the database copy keeps every record, so
its rows up to the anchor must chain from genesis to the anchor's hash and the files continue there.

Records after the head are tolerated and counted (``unacknowledged``): a crash between the append
and the head's rewrite leaves them, and the next session adopts them. An edit that also recomputes
the line's hash is caught one line later as a chain break, or at the head and the copy.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from thunes.adapters.storage.audit_head import HEAD_NAME, Head, HeadError, read_head
from thunes.adapters.storage.audit_jsonl import (
    ANCHOR_NAME,
    Anchor,
    AuditLogError,
    audit_files,
    count_records,
    read_anchor,
    read_records,
)
from thunes.adapters.storage.audit_sql import AuditCopyError, stored_rows
from thunes.governance.audit_schema import GENESIS_HASH, AuditRecord, AuditRecordError, compute_hash, record_from_json

__all__ = [
    "COPY_NAME",
    "Problem",
    "ProblemKind",
    "VerifyResult",
    "chain_problem",
    "verify",
    "verify_sequence",
]

COPY_NAME = "audit.db"  # next to the audit directory (``open_audit``)


class ProblemKind(StrEnum):
    GARBLED = "GARBLED"
    HASH_MISMATCH = "HASH_MISMATCH"
    CHAIN_BREAK = "CHAIN_BREAK"
    TRUNCATED = "TRUNCATED"
    HEAD_MISMATCH = "HEAD_MISMATCH"
    COPY_MISMATCH = "COPY_MISMATCH"
    MISSING = "MISSING"


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong: where (file name, 1-based line or database seq) and what."""

    file: str
    line: int
    kind: ProblemKind
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``records`` counts the file records checked good before the first problem (all, when ``ok``).

    ``anchor`` is where the chain starts: ``genesis``, or the last file removed by pruning. ``head``
    is the head's count (None: no head), ``copy_rows`` the database rows compared (None: no copy),
    ``unacknowledged`` the records after the head (a crash before its rewrite).
    """

    files: int
    records: int
    last_hash: str
    anchor: str
    problem: Problem | None = None
    head: int | None = None
    copy_rows: int | None = None
    unacknowledged: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


class _StopError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _stop(file: str, line: int, kind: ProblemKind, detail: str) -> _StopError:
    return _StopError(Problem(file, line, kind, detail))


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


class _Copy:
    """The database rows, consumed in chain order alongside the files."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.rows: Generator[tuple[int, str, str]] = stored_rows(path)
        self.taken = 0  # rows compared with file records
        self.last_seq = 0

    def next(self) -> tuple[int, str, str] | None:
        try:
            row = next(self.rows, None)
        except AuditCopyError as e:
            raise _stop(self.name, self.last_seq, ProblemKind.GARBLED, str(e)) from e
        if row is not None:
            self.last_seq = row[0]
        return row

    def close(self) -> None:
        self.rows.close()  # ends the read and disposes of the engine

    def skip_to(self, anchor: Anchor | None) -> None:
        """Check the rows the files no longer hold (pruned): a chain from genesis to the anchor."""
        if anchor is None:
            return
        expected, count = GENESIS_HASH, 0
        while expected != anchor.last_hash:
            row = self.next()
            if row is None:
                raise _stop(
                    self.name,
                    self.last_seq,
                    ProblemKind.COPY_MISMATCH,
                    f"the copy never reaches the anchor's record ({anchor.pruned_through}): "
                    "its rows or the anchor were changed",
                )
            seq, _, body = row
            record = _parse_row(self.name, seq, body)
            kind = chain_problem(record, expected)
            if kind is not None:
                raise _stop(
                    self.name,
                    seq,
                    ProblemKind.COPY_MISMATCH,
                    f"row {seq}: {kind.value} in the copy's chain before the anchor",
                )
            expected, count = record.hash, count + 1
        if anchor.records is not None and count != anchor.records:
            raise _stop(
                self.name,
                self.last_seq,
                ProblemKind.COPY_MISMATCH,
                f"{count} rows up to the anchor, the anchor says {anchor.records}",
            )


def _parse_row(name: str, seq: int, body: str) -> AuditRecord:
    try:
        return record_from_json(body)
    except AuditRecordError as e:
        raise _stop(name, seq, ProblemKind.COPY_MISMATCH, f"row {seq} unreadable: {e}") from e


@dataclass(slots=True)
class _Walk:
    """The files in chain order, each record compared with the head and the copy as it passes."""

    directory: Path
    anchor: Anchor | None
    head: Head | None
    copy: _Copy | None
    count: int = 0
    expected: str = GENESIS_HASH
    copy_ended: tuple[str, int] | None = None  # the first file record the copy lacks

    @property
    def base(self) -> int:
        return 0 if self.anchor is None else self.anchor.records or 0

    @property
    def anchor_name(self) -> str:
        return "genesis" if self.anchor is None else self.anchor.pruned_through

    def run(self) -> None:
        self.expected = GENESIS_HASH if self.anchor is None else self.anchor.last_hash
        if self.head is not None and self.head.count < self.base:
            raise _stop(
                HEAD_NAME,
                1,
                ProblemKind.HEAD_MISMATCH,
                f"the head counts {self.head.count} records, fewer than were pruned ({self.base})",
            )
        self._check_head(HEAD_NAME, 1, self.expected)
        previous_file = current_file = None
        for path, line, item in read_records(self.directory):
            if path.name != current_file:
                previous_file, current_file = current_file, path.name
            if isinstance(item, AuditRecordError):
                raise _stop(path.name, line, ProblemKind.GARBLED, f"unreadable record: {item}")
            kind = chain_problem(item, self.expected)
            if kind is ProblemKind.HASH_MISMATCH:
                detail = "the content does not match its hash: the line was edited"
                raise _stop(path.name, line, kind, detail)
            if kind is ProblemKind.CHAIN_BREAK:
                raise _stop(path.name, line, kind, _break_detail(line, previous_file, self.anchor_name))
            self.count += 1
            self._check_head(path.name, line, item.hash)
            self._compare_copy(path.name, line, item)
            self.expected = item.hash

    def _check_head(self, name: str, line: int, hash_here: str) -> None:
        if self.head is not None and self.base + self.count == self.head.count and hash_here != self.head.last_hash:
            raise _stop(
                name,
                line,
                ProblemKind.HEAD_MISMATCH,
                f"record {self.head.count} is not the one the head names "
                f"({self.head.last_hash[:12]}…): it was replaced",
            )

    def _compare_copy(self, name: str, line: int, record: AuditRecord) -> None:
        if self.copy is None or self.copy_ended is not None:
            return
        row = self.copy.next()
        if row is None:
            self.copy_ended = (name, line)
            return
        seq, digest, body = row
        self.copy.taken += 1
        if digest != record.hash or body != record.to_json():
            raise _stop(
                name,
                line,
                ProblemKind.COPY_MISMATCH,
                f"differs from {self.copy.name} row {seq}: the file or its copy was changed",
            )

    def finish(self, last_place: str) -> int:
        """After the files: what the head and the copy hold beyond them. Returns the unacknowledged count."""
        total = self.base + self.count
        if self.copy is not None and self.copy_ended is None:
            extra = 0
            while self.copy.next() is not None:
                extra += 1
            if extra:
                raise _stop(
                    self.copy.name,
                    self.copy.last_seq,
                    ProblemKind.TRUNCATED,
                    f"the copy holds {extra} records after {last_place}: the newest records were "
                    "cut off the files, or their file deleted",
                )
        if self.head is None:
            return 0
        if total < self.head.count:
            raise _stop(
                HEAD_NAME,
                1,
                ProblemKind.TRUNCATED,
                f"the head counts {self.head.count} records, the files hold {total} "
                f"(through {last_place}): the newest records were cut off or files deleted",
            )
        if self.copy is not None and self.copy_ended is not None and self.base + self.copy.taken < self.head.count:
            name, line = self.copy_ended
            raise _stop(
                name, line, ProblemKind.COPY_MISMATCH, f"{self.copy.name} lacks this record and the ones after it"
            )
        return total - self.head.count


def _copy_for(directory: Path, head: Head | None, database: Path | None, has_records: bool) -> _Copy | None:
    if database is not None:
        path = database
    elif head is not None and head.database is not None:
        path = Path(os.path.normpath(directory / head.database))
    else:
        path = directory.parent / COPY_NAME  # compared when it is there
    if not path.is_file():
        if head is not None and head.database is not None:
            raise _stop(
                path.name, 0, ProblemKind.MISSING, f"no database copy at {path}, though the trail was written with one"
            )
        return None
    copy = _Copy(path)
    if head is None and not has_records:  # no trail here: a copy with rows means the trail is gone
        rows = 0
        while copy.next() is not None:
            rows += 1
        if rows:
            raise _stop(
                path.name,
                copy.last_seq,
                ProblemKind.TRUNCATED,
                f"the audit directory holds no records but {path} holds {rows}: the trail was deleted",
            )
        return None
    return copy


def verify(directory: Path, database: Path | None = None) -> VerifyResult:
    """Check every audit file under ``directory`` in order, against its head and its database copy
    (``database``, by default ``audit.db`` beside ``directory``); stop at the first problem."""
    files = audit_files(directory)
    anchor: Anchor | None = None
    walk: _Walk | None = None
    copy: _Copy | None = None
    try:
        try:
            anchor = read_anchor(directory)
        except AuditLogError as e:
            raise _stop(ANCHOR_NAME, 1, ProblemKind.GARBLED, str(e)) from e
        try:
            head = read_head(directory)
        except HeadError as e:
            raise _stop(HEAD_NAME, 1, ProblemKind.GARBLED, str(e)) from e
        has_records = bool(files) or anchor is not None
        if head is None and has_records:
            raise _stop(
                HEAD_NAME,
                0,
                ProblemKind.MISSING,
                f"no {HEAD_NAME}: the trail's end cannot be checked (deleted, or written before "
                "heads existed: the next session adopts the trail as it stands)",
            )
        copy = _copy_for(directory, head, database, has_records)
        if copy is not None:
            copy.skip_to(anchor)
        walk = _Walk(directory, anchor, head, copy)
        walk.run()
        last_place = f"{files[-1].name}:{count_records(files[-1:])}" if files else "the start (no files left)"
        unacknowledged = walk.finish(last_place)
    except _StopError as stop:
        done = walk.count if walk is not None else 0
        return VerifyResult(len(files), done, walk.expected if walk else "", _anchor_name(anchor), stop.problem)
    finally:
        if copy is not None:
            copy.close()
    return VerifyResult(
        len(files),
        walk.count,
        walk.expected,
        walk.anchor_name,
        None,
        None if head is None else head.count,
        None if copy is None else copy.taken,
        unacknowledged,
    )


def _anchor_name(anchor: Anchor | None) -> str:
    return "genesis" if anchor is None else anchor.pruned_through
