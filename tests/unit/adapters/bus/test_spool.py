"""The bus spool: what is appended comes back in order until committed, a torn tail is cut, a corrupt
record in the middle is an error naming the file and offset, acknowledged segments go."""

from __future__ import annotations

from pathlib import Path

import pytest

from thunes.adapters.bus.codec import Envelope
from thunes.adapters.bus.spool import Spool, SpoolCorruptError


def _envelopes(n: int, start: int = 0) -> list[Envelope]:
    return [Envelope(f"run-{i}", f"thunes.sim.BTCUSDT.E{i % 3}", b'{"n":%d}' % i) for i in range(start, start + n)]


def test_pending_when_reopened_then_everything_after_the_cursor_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ends = spool.append(_envelopes(5))
    spool.append(_envelopes(3, 5))
    spool.commit(ends[1])  # the first two acknowledged
    spool.close()

    again = Spool(tmp_path)

    assert [r.envelope for r in again.pending()] == _envelopes(6, 2)


def test_open_when_last_record_torn_then_cut_and_the_others_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(_envelopes(4))
    spool.close()
    segment = next(tmp_path.glob("*.spool"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # a crash in the middle of the last write

    again = Spool(tmp_path)
    again.append(_envelopes(1, 10))

    assert [r.envelope.msg_id for r in again.pending()] == ["run-0", "run-1", "run-2", "run-10"]


def test_pending_when_a_middle_record_is_corrupt_then_error_names_file_and_offset(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ends = spool.append(_envelopes(3))
    spool.close()
    segment = next(tmp_path.glob("*.spool"))
    data = bytearray(segment.read_bytes())
    data[ends[0].offset + 12] ^= 0xFF  # inside the second record's body: its checksum no longer matches
    segment.write_bytes(bytes(data))
    spool = Spool.__new__(Spool)  # read without the repair of the last segment's tail
    spool.directory, spool.cursor, spool.segment_bytes = tmp_path, Spool(tmp_path / "other").cursor, 1 << 20

    with pytest.raises(SpoolCorruptError, match=rf"{segment.name}: corrupt record at byte {ends[0].offset}"):
        list(spool.pending())


def test_commit_when_past_a_segment_then_that_segment_is_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64)  # a new segment once one holds 64 bytes
    first = spool.append(_envelopes(2))
    second = spool.append(_envelopes(2, 2))
    assert len(list(tmp_path.glob("*.spool"))) == 2

    spool.commit(second[0])

    assert first[-1].segment not in {int(p.stem) for p in tmp_path.glob("*.spool")}
    assert [r.envelope.msg_id for r in spool.pending()] == ["run-3"]
