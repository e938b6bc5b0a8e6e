"""The JSONL writer on real files: chain, durability on reopen, weekly rotation, threads, sinks."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import pytest

from tests.unit.governance import NS, T0, lines, record, ts, write
from thunes.adapters.storage.audit_jsonl import (
    ANCHOR_NAME,
    AuditLog,
    AuditLogError,
    audit_files,
    file_name_for,
    read_anchor,
    read_records,
)
from thunes.adapters.storage.audit_verify import verify
from thunes.governance import GENESIS_HASH, AuditRecord
from thunes.governance.audit_schema import compute_hash

WEEK = 7 * 86_400 * NS


def _stored(directory: Path) -> list[AuditRecord]:
    out = []
    for _, _, item in read_records(directory):
        assert isinstance(item, AuditRecord), item
        out.append(item)
    return out


def test_append_when_many_records_then_chain_round_trips(tmp_path: Path) -> None:
    sealed = write(tmp_path, [T0 + i * NS for i in range(50)])

    stored = _stored(tmp_path)

    assert stored == sealed
    assert stored[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    assert all(compute_hash(r) == r.hash for r in stored)
    assert verify(tmp_path).ok
    assert [p.name for p in audit_files(tmp_path)] == ["audit-2026-W48.jsonl"]


def test_append_when_returned_then_line_is_complete_on_disk(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    try:
        sealed = log.append(record())
        raw = lines(tmp_path / "audit-2026-W48.jsonl")  # read while the log is still open
    finally:
        log.close()

    assert raw == [(sealed.to_json() + "\n").encode()]


def test_reopen_when_records_exist_then_chain_resumes_from_last_line(tmp_path: Path) -> None:
    first = write(tmp_path, [T0, T0 + NS])

    second = write(tmp_path, [T0 + 2 * NS])

    assert second[0].prev_hash == first[-1].hash
    result = verify(tmp_path)
    assert (result.ok, result.records) == (True, 3)


def test_reopen_when_last_line_torn_by_a_crash_then_cut_and_chain_resumes(tmp_path: Path) -> None:
    first = write(tmp_path, [T0, T0 + NS])
    path = tmp_path / "audit-2026-W48.jsonl"
    with path.open("ab") as f:
        f.write(b'{"event":"ORDER_FI')  # the crash hit mid-write: never acknowledged

    second = write(tmp_path, [T0 + 2 * NS])

    assert second[0].prev_hash == first[-1].hash
    assert len(lines(path)) == 3
    assert verify(tmp_path).ok


def test_reopen_when_last_complete_line_is_garbage_then_refuses(tmp_path: Path) -> None:
    write(tmp_path, [T0])
    with (tmp_path / "audit-2026-W48.jsonl").open("ab") as f:
        f.write(b"garbage\n")

    with pytest.raises(AuditLogError, match="verify"):
        AuditLog(tmp_path)


def test_reopen_when_newest_file_empty_then_chain_resumes_from_older_file(tmp_path: Path) -> None:
    first = write(tmp_path, [T0])
    (tmp_path / "audit-2026-W49.jsonl").touch()  # created, then the process died

    second = write(tmp_path, [T0 + WEEK])

    assert second[0].prev_hash == first[0].hash
    assert verify(tmp_path).ok


@pytest.mark.parametrize(
    ("when", "name"),
    [
        ("2026-11-23T00:00:00", "audit-2026-W48.jsonl"),
        ("2026-11-22T23:59:59", "audit-2026-W47.jsonl"),
        ("2024-12-30T12:00:00", "audit-2025-W01.jsonl"),  # ISO year differs from the calendar year
        ("2027-01-01T12:00:00", "audit-2026-W53.jsonl"),
    ],
)
def test_file_name_when_ts_given_then_iso_week_of_utc(when: str, name: str) -> None:
    assert file_name_for(ts(when)) == name


def test_rotation_when_weeks_pass_then_one_file_per_week_and_chain_continues(tmp_path: Path) -> None:
    sealed = write(tmp_path, [T0, T0 + NS, T0 + WEEK, T0 + 3 * WEEK])

    names = [p.name for p in audit_files(tmp_path)]

    assert names == ["audit-2026-W48.jsonl", "audit-2026-W49.jsonl", "audit-2026-W51.jsonl"]
    assert [len(lines(tmp_path / n)) for n in names] == [2, 1, 1]
    assert _stored(tmp_path) == sealed
    assert verify(tmp_path).ok


def test_rotation_when_more_than_52_weeks_then_newest_52_kept_and_chain_anchored(tmp_path: Path) -> None:
    times = [T0 + w * WEEK + s * NS for w in range(60) for s in range(2)]

    sealed = write(tmp_path, times)

    files = audit_files(tmp_path)
    assert len(files) == 52
    assert files[0].name == file_name_for(T0 + 8 * WEEK)
    assert files[-1].name == file_name_for(T0 + 59 * WEEK)
    anchor = read_anchor(tmp_path)
    assert anchor == (file_name_for(T0 + 7 * WEEK), sealed[15].hash, 16)  # 16 records pruned through it
    result = verify(tmp_path)
    assert (result.ok, result.records, result.files, result.anchor) == (True, 104, 52, anchor[0])


def test_rotation_when_keep_is_small_and_log_reopened_then_pruning_continues(tmp_path: Path) -> None:
    write(tmp_path, [T0 + w * WEEK for w in range(4)], keep=3)
    write(tmp_path, [T0 + w * WEEK for w in range(4, 6)], keep=3)

    assert [p.name for p in audit_files(tmp_path)] == [file_name_for(T0 + w * WEEK) for w in (3, 4, 5)]
    assert (tmp_path / ANCHOR_NAME).is_file()
    assert verify(tmp_path).ok


def test_append_when_record_is_from_an_older_week_then_it_stays_in_the_current_file(tmp_path: Path) -> None:
    write(tmp_path, [T0 + WEEK, T0])  # a late event stamped last week

    assert [p.name for p in audit_files(tmp_path)] == ["audit-2026-W49.jsonl"]
    assert len(lines(tmp_path / "audit-2026-W49.jsonl")) == 2
    assert verify(tmp_path).ok


def test_append_when_many_threads_then_count_exact_and_chain_valid(tmp_path: Path) -> None:
    threads_n, per_thread = 12, 150
    barrier = threading.Barrier(threads_n)
    log = AuditLog(tmp_path, fsync=False)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            log.append(record(T0 + i, client_order_id=f"t{t}-{i}"))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    log.close()

    stored = _stored(tmp_path)
    result = verify(tmp_path)
    assert (result.ok, result.records) == (True, threads_n * per_thread)
    assert len({r.client_order_id for r in stored}) == threads_n * per_thread
    assert len({r.event_id for r in stored}) == threads_n * per_thread
    for t in range(threads_n):  # each thread's own records keep their order
        mine = [r.client_order_id for r in stored if r.client_order_id and r.client_order_id.startswith(f"t{t}-")]
        assert mine == [f"t{t}-{i}" for i in range(per_thread)]


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Real fsyncs, counted (the standard library's, not our code)."""
    synced: list[int] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return synced


def test_append_when_fsync_batched_then_flush_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = _count_fsyncs(monkeypatch)
    log = AuditLog(tmp_path, fsync=False)
    log.append(record(T0))  # the new file's directory entry is synced, not the line
    before = len(synced)
    log.append(record(T0 + 1))

    assert len(synced) == before
    log.flush()
    assert len(synced) == before + 2  # the lines, then the head naming them
    log.close()


def test_append_many_when_batch_then_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog(tmp_path)
    log.append(record(T0))
    synced = _count_fsyncs(monkeypatch)

    log.append_many([record(T0 + i) for i in range(1, 11)])

    assert len(synced) == 2  # one for the batch's lines, one for the head: not one per record
    log.close()
    assert verify(tmp_path).records == 11


class _ListSink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, record: AuditRecord) -> None:
        self.records.append(record)


class _BrokenSink:
    def write(self, record: AuditRecord) -> None:
        raise ConnectionError("database down")


def test_sinks_when_records_appended_then_receive_the_sealed_records_in_order(tmp_path: Path) -> None:
    sink = _ListSink()

    sealed = write(tmp_path, [T0 + i for i in range(5)], sinks=[sink])

    assert sink.records == sealed
    assert all(r.sealed for r in sink.records)


def test_sinks_when_one_fails_then_file_still_written_and_failure_counted(tmp_path: Path) -> None:
    good = _ListSink()
    log = AuditLog(tmp_path, sinks=[_BrokenSink(), good])

    log.append(record())
    log.append(record(T0 + 1))
    log.close()

    assert log.sink_errors == 2
    assert len(good.records) == 2
    assert verify(tmp_path).records == 2


def test_open_when_another_writer_holds_the_trail_then_refused(tmp_path: Path) -> None:
    first = AuditLog(tmp_path)
    try:
        with pytest.raises(AuditLogError, match="another"):
            AuditLog(tmp_path)
    finally:
        first.close()

    AuditLog(tmp_path).close()  # released on close


def test_append_when_log_closed_then_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.close()

    with pytest.raises(AuditLogError, match="closed"):
        log.append(record())


def test_append_when_the_disk_fails_mid_line_then_nothing_of_it_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(tmp_path)
    first = log.append(record(T0))
    real_write = os.write

    def half_then_fail(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(OSError, match="space"):
        log.append(record(T0 + 1))
    monkeypatch.undo()
    third = log.append(record(T0 + 2))
    log.close()

    assert third.prev_hash == first.hash
    assert (verify(tmp_path).ok, verify(tmp_path).records) == (True, 2)


def test_append_many_when_a_batch_spans_two_weeks_then_each_file_gets_its_records_and_the_chain_verifies(
    tmp_path: Path,
) -> None:
    with AuditLog(tmp_path) as log:
        sealed = log.append_many([record(T0 + i) for i in range(3)] + [record(T0 + WEEK + i) for i in range(2)])

    assert [p.name for p in audit_files(tmp_path)] == ["audit-2026-W48.jsonl", "audit-2026-W49.jsonl"]
    assert [len(lines(p)) for p in audit_files(tmp_path)] == [3, 2]
    assert [r.hash for r in _stored(tmp_path)] == [r.hash for r in sealed]
    assert (verify(tmp_path).ok, verify(tmp_path).records) == (True, 5)


def test_append_many_when_the_disk_fails_then_no_record_of_the_batch_stays_and_the_chain_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(tmp_path)
    first = log.append(record(T0))
    real_write = os.write

    def half_then_fail(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(OSError, match="space"):
        log.append_many([record(T0 + i) for i in range(1, 5)])
    monkeypatch.undo()
    last = log.append(record(T0 + 9))
    log.close()

    assert last.prev_hash == first.hash
    assert (verify(tmp_path).ok, verify(tmp_path).records) == (True, 2)
