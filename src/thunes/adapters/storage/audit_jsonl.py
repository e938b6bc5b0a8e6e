"""The append-only audit trail on disk: JSONL, one file per ISO week, 52 weeks kept (SPEC §5).

Durability: :meth:`AuditLog.append` returns only once the line is fsynced, so a record that was
acknowledged survives a crash. A crash *during* a write can leave a torn last line with no newline;
it was never acknowledged, so reopening cuts it off (and logs it) before the chain resumes.

Rotation: the file is chosen by the ISO week (UTC) of the record's ``ts_ns``, but the log never goes
back to an older file: a late record lands in the current one, so file order is chain order. The
chain continues across files. When more than ``keep`` files exist the oldest are deleted, and the
last hash and record count of what was deleted are written to ``audit-anchor.json`` first, so
``verify`` can tell a pruned history from a deleted file.

Head: after every durable append (and after the database copy got it) ``audit-head.json`` holds the
record count since genesis and the last hash (:mod:`audit_head`): a cut tail or a deleted newest file
is then a trail shorter than its head. Reopening a trail shorter than its head is refused, so a
truncation is never papered over by the next session. The database copy catches up on open with the
records a crash kept from it (a sink implementing :class:`ResumableSink`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Protocol, runtime_checkable

import structlog

from thunes.adapters.storage.audit_head import HEAD_NAME, HeadError, read_head, write_json_atomically
from thunes.adapters.storage.durable import fsync_dir
from thunes.governance.audit_ports import AuditSink
from thunes.governance.audit_schema import GENESIS_HASH, AuditRecord, AuditRecordError, record_from_json, seal_json

__all__ = [
    "ANCHOR_NAME",
    "HEAD_NAME",
    "Anchor",
    "AuditLog",
    "AuditLogError",
    "ResumableSink",
    "audit_files",
    "count_records",
    "file_name_for",
    "read_anchor",
    "read_records",
]

ANCHOR_NAME = "audit-anchor.json"
LOCK_NAME = ".audit.lock"
DEFAULT_KEEP = 52
_FILE = re.compile(r"^audit-(\d{4})-W(\d{2})\.jsonl$")
_TAIL_CHUNK = 64 * 1024
_log = structlog.get_logger(__name__)


class AuditLogError(RuntimeError):
    """The trail cannot be continued safely: run ``thunes audit verify`` and look at the files."""


_NS_PER_DAY = 86_400 * 1_000_000_000
_last_day: list[tuple[int, str]] = [(-1, "")]  # (day since the epoch, its file): records come in runs of one day


def file_name_for(ts_ns: int) -> str:
    """``audit-2026-W48.jsonl``: the ISO year and week (UTC) of ``ts_ns``."""
    day = ts_ns // _NS_PER_DAY
    known = _last_day[0]
    if known[0] == day:
        return known[1]
    year, week, _ = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).isocalendar()
    name = f"audit-{year:04d}-W{week:02d}.jsonl"
    _last_day[0] = (day, name)
    return name


def audit_files(directory: Path) -> list[Path]:
    """The trail's files, oldest first (names sort as ISO weeks do)."""
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if _FILE.fullmatch(p.name) and p.is_file()), key=lambda p: p.name)


@runtime_checkable
class ResumableSink(Protocol):
    """A sink that can say what it holds, so the log sends it what a crash kept from it."""

    def write(self, record: AuditRecord) -> None: ...

    def last_hash(self) -> str | None: ...


class Anchor(NamedTuple):
    """Where pruning left the chain: the last pruned file, its last hash, and how many records were
    pruned through it (None in anchors written before counts were kept)."""

    pruned_through: str
    last_hash: str
    records: int | None


def read_anchor(directory: Path) -> Anchor | None:
    """Where pruning left the chain, or None when nothing was ever pruned."""
    path = directory / ANCHOR_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        count = data.get("count")
        return Anchor(str(data["pruned_through"]), str(data["last_hash"]), None if count is None else int(count))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise AuditLogError(f"{path}: unreadable anchor ({e})") from e


def count_records(paths: Sequence[Path]) -> int:
    """Newline-terminated lines in ``paths`` (a torn last line is not a record)."""
    total = 0
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                total += chunk.count(b"\n")
    return total


def read_records(directory: Path) -> Iterator[tuple[Path, int, AuditRecord | AuditRecordError]]:
    """Every line of every file as (file, 1-based line number, record or why it is unreadable)."""
    for path in audit_files(directory):
        with path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.endswith(b"\n"):
                    yield path, number, AuditRecordError("truncated line (no newline)")
                    continue
                try:
                    yield path, number, record_from_json(raw)
                except AuditRecordError as e:
                    yield path, number, e


def _last_line(path: Path) -> bytes | None:
    """The last newline-terminated line of ``path`` (read backwards by chunks), or None."""
    with path.open("rb") as f:
        position, buffer = f.seek(0, os.SEEK_END), b""
        while position > 0:
            step = min(_TAIL_CHUNK, position)
            position -= step
            f.seek(position)
            buffer = f.read(step) + buffer
            end = buffer.rfind(b"\n")
            if end != -1 and (position == 0 or buffer.rfind(b"\n", 0, end) != -1):
                break
    end = buffer.rfind(b"\n")
    if end == -1:
        return None
    return buffer[buffer.rfind(b"\n", 0, end) + 1 : end]


def _torn_length(path: Path) -> int:
    """Bytes after the last newline of ``path``: a line whose write never completed."""
    with path.open("rb") as f:
        position, tail = f.seek(0, os.SEEK_END), b""
        while position > 0:
            step = min(_TAIL_CHUNK, position)
            position -= step
            f.seek(position)
            tail = f.read(step) + tail
            if b"\n" in tail:
                return len(tail) - tail.rfind(b"\n") - 1
        return len(tail)


def _lock_directory(directory: Path) -> int:
    """Hold an exclusive lock on the trail: a second writer would fork the chain."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        raise AuditLogError(f"{directory}: another process or AuditLog is writing this audit trail") from e
    return fd


class AuditLog:
    """Seals records into the hash chain and appends them to weekly JSONL files; thread-safe.

    ``fsync=False`` batches durability: records are written at once but only :meth:`flush` (or
    :meth:`close`, or a rotation) makes them crash-safe, so a caller must flush before treating
    them as acknowledged. ``sinks`` receive each sealed record after it is in the file; a failing
    sink is logged and counted in ``sink_errors`` (the file is the record of truth, and an audit
    database outage must not stop trading).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        keep: int = DEFAULT_KEEP,
        sinks: Sequence[AuditSink] = (),
        fsync: bool = True,
        copy: Path | None = None,
    ) -> None:
        if keep < 1:
            raise ValueError("keep at least one file")
        self.directory = Path(directory)
        self.keep, self._sinks, self._fsync_each = keep, tuple(sinks), fsync
        self._copy = None if copy is None else os.path.relpath(copy, self.directory)
        self.sink_errors = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._current: str | None = None
        self._dirty = False
        self._closed = False
        self._count = 0  # records since genesis, pruned ones included
        self._head_count = -1  # what audit-head.json says
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_directory(self.directory)
        try:
            self._last_hash = self._resume()
            self._catch_up_sinks()
            self._write_head()
        except BaseException:
            os.close(self._lock_fd)
            raise

    # --- public --------------------------------------------------------------------------------
    @property
    def last_hash(self) -> str:
        with self._lock:
            return self._last_hash

    @property
    def current_file(self) -> Path | None:
        with self._lock:
            return None if self._current is None else self.directory / self._current

    def append(self, record: AuditRecord) -> AuditRecord:
        """Seal ``record`` after the last one, store it durably, and return the sealed record."""
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Seal and store ``records`` in order, with one fsync for the batch."""
        with self._lock:
            if self._closed:
                raise AuditLogError(f"the audit log in {self.directory} is closed")
            sealed: list[AuditRecord] = []
            lines: list[str] = []  # sealed, not yet written: one write per file (all of them, or none)
            last = self._last_hash
            for record in records:
                name = file_name_for(record.ts_ns)
                if lines and not self._stays(name):
                    self._commit(sealed[-len(lines) :], lines)
                    lines = []
                self._switch_to(name)
                done, line = seal_json(record, last)
                last = done.hash
                sealed.append(done)
                lines.append(line)
            if lines:
                self._commit(sealed[-len(lines) :], lines)
            if self._fsync_each:
                self._sync()
            for done in sealed:
                self._to_sinks(done)
            if self._fsync_each:
                self._write_head()  # last: the head never names a record the file or the copy lacks
            return sealed

    def _stays(self, name: str) -> bool:
        """Whether a record of file ``name`` goes to the file open now (see :meth:`_switch_to`)."""
        return self._fd is not None and self._current is not None and name <= self._current

    def _commit(self, sealed: Sequence[AuditRecord], lines: list[str]) -> None:
        """Append sealed records' lines in one write; the chain moves on only once they are written."""
        self._write(("\n".join(lines) + "\n").encode("utf-8"))
        self._last_hash = sealed[-1].hash
        self._count += len(sealed)

    def flush(self) -> None:
        """Make everything appended so far crash-safe."""
        with self._lock:
            self._sync()
            self._write_head()

    def close(self) -> None:
        """Sync, close the file and release the directory for another writer. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._sync()
            self._write_head()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.close(self._lock_fd)
            self._closed = True

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # --- files ---------------------------------------------------------------------------------
    def _resume(self) -> str:
        """The hash to chain from (the newest record on disk, the anchor, or genesis), after checking
        that the trail still reaches its head: a shorter trail lost its newest records."""
        files = audit_files(self.directory)
        if files:
            self._current = files[-1].name
            self._cut_torn_tail(files[-1])
        anchor = read_anchor(self.directory)
        self._count = (0 if anchor is None else anchor.records or 0) + count_records(files)
        last = self._newest_hash(files)
        last = last if last is not None else GENESIS_HASH if anchor is None else anchor.last_hash
        try:
            head = read_head(self.directory)
        except HeadError as e:
            raise AuditLogError(f"{e}; run `thunes audit verify`") from e
        if head is None and (files or anchor is not None):
            _log.warning("audit_head_missing_adopted", directory=str(self.directory), records=self._count)
        elif head is not None and (head.count > self._count or (head.count == self._count and head.last_hash != last)):
            raise AuditLogError(
                f"{self.directory}: the trail holds {self._count} records but its head says {head.count} (last hash "
                f"{head.last_hash[:12]}): records were cut off or files deleted; run `thunes audit verify`"
            )
        return last

    @staticmethod
    def _newest_hash(files: list[Path]) -> str | None:
        for path in reversed(files):
            line = _last_line(path)
            if line is None:
                continue
            try:
                return record_from_json(line).hash
            except AuditRecordError as e:
                raise AuditLogError(f"{path.name}: last record unreadable ({e}); run `thunes audit verify`") from e
        return None

    def _catch_up_sinks(self) -> None:
        """Send each resumable sink the records after the last one it holds (a crash between the file and
        the copy); a sink holding a record the files lack is left alone for ``verify`` to report."""
        for sink in self._sinks:
            if not isinstance(sink, ResumableSink):
                continue
            theirs = sink.last_hash()
            if theirs == self._last_hash:
                continue
            anchor = read_anchor(self.directory)
            found = theirs is None or (anchor is not None and theirs == anchor.last_hash)
            for _path, _line, item in read_records(self.directory):
                if isinstance(item, AuditRecordError):
                    break
                if found:
                    _log.warning("audit_sink_catching_up", sink=type(sink).__name__, event_id=item.event_id)
                    self._to_sinks(item, only=sink)
                found = found or item.hash == theirs
            if not found:
                _log.error("audit_sink_diverged", sink=type(sink).__name__, last_hash=theirs)

    def _write_head(self) -> None:
        """Record the durable count and last hash (only when they moved); never raises."""
        if self._head_count == self._count:
            return
        head = {"count": self._count, "last_hash": self._last_hash, "database": self._copy}
        try:  # a head lost by a crash lags behind the files, which verify tolerates: no directory fsync
            write_json_atomically(self.directory, HEAD_NAME, head, sync_dir=False)
            self._head_count = self._count
        except OSError as e:
            _log.error("audit_head_write_failed", error=str(e))

    def _cut_torn_tail(self, path: Path) -> None:
        """Drop an unterminated last line: a write the crash interrupted, never acknowledged."""
        torn = _torn_length(path)
        if torn == 0:
            return
        size = path.stat().st_size
        with path.open("rb+") as f:
            f.truncate(size - torn)
            f.flush()
            os.fsync(f.fileno())
        _log.warning("audit_torn_tail_removed", file=path.name, bytes_removed=torn)

    def _switch_to(self, name: str) -> None:
        if self._fd is not None and self._current is not None and name <= self._current:
            return
        if self._current is not None and name < self._current:
            name = self._current  # never write into an older week: file order is chain order
        if self._fd is not None:
            self._sync()
            os.close(self._fd)
        created = not (self.directory / name).exists()
        self._fd = os.open(self.directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._current = name
        if created:
            fsync_dir(self.directory)
            self._prune()

    def _write(self, data: bytes) -> None:
        """Append whole lines, or nothing: a failed write (disk full) is cut back off."""
        assert self._fd is not None
        start = os.lseek(self._fd, 0, os.SEEK_END)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except BaseException:
            os.ftruncate(self._fd, start)
            raise
        self._dirty = True

    def _sync(self) -> None:
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    def _to_sinks(self, record: AuditRecord, only: AuditSink | None = None) -> None:
        for sink in self._sinks if only is None else (only,):
            try:
                sink.write(record)
            except Exception:
                self.sink_errors += 1
                _log.exception("audit_sink_failed", sink=type(sink).__name__, event_id=record.event_id)

    def _prune(self) -> None:
        """Delete the oldest files beyond ``keep``, anchoring the chain first. Never raises."""
        files = audit_files(self.directory)
        doomed = files[: max(0, len(files) - self.keep)]
        if not doomed:
            return
        try:
            last = next((line for p in reversed(doomed) if (line := _last_line(p)) is not None), None)
            if last is not None:
                anchor = read_anchor(self.directory)
                pruned = (0 if anchor is None else anchor.records or 0) + count_records(doomed)
                self._write_anchor(doomed[-1].name, record_from_json(last).hash, pruned)
            for path in doomed:  # only this log's own rotated files (audit_files: its naming), past retention
                path.unlink()
            fsync_dir(self.directory)
        except (OSError, AuditRecordError, AuditLogError) as e:
            _log.error("audit_prune_failed", error=str(e), files=[p.name for p in doomed])

    def _write_anchor(self, pruned_through: str, last_hash: str, count: int) -> None:
        data = {"pruned_through": pruned_through, "last_hash": last_hash, "count": count}
        write_json_atomically(self.directory, ANCHOR_NAME, data)
