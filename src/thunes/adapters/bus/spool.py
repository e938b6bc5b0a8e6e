"""The bus's local spool: every message is on disk (appended, fsync'd) before it is sent to JetStream,
and stays there until JetStream acknowledged it, so an outage or a crash loses nothing and the
re-send after either is the same message ids (de-duplicated by the stream).

Layout, in the session's data directory (``bus/``): numbered segment files of framed records
(``<length><crc32><msg id>\\n<subject>\\n<payload>``, little-endian 32-bit header) and ``cursor.json``,
the position after the last record JetStream acknowledged (written atomically). Segments wholly
before the cursor are removed: the spool created them. A torn last record (a crash mid-write) is
cut off at open; a corrupt record anywhere else is an error naming the file and offset.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from thunes.adapters.bus.codec import Envelope
from thunes.adapters.storage.durable import fsync_dir, replace_atomically

__all__ = ["CURSOR_NAME", "Position", "Spool", "SpoolCorruptError", "SpooledRecord"]

CURSOR_NAME = "cursor.json"
_SUFFIX = ".spool"
_HEADER = struct.Struct("<II")
_pack = _HEADER.pack
_MAX_RECORD = 64 * 1024 * 1024


class SpoolCorruptError(ValueError):
    """A spool record that cannot be read back, not at the end of the spool (so not a torn write)."""


class Position(NamedTuple):
    """A place in the spool: a segment number and a byte offset in it."""

    segment: int
    offset: int


class SpooledRecord(NamedTuple):
    envelope: Envelope
    end: Position  # the position after the record: the cursor once it is acknowledged


def _frame(envelope: Envelope) -> bytes:
    body = b"\n".join((envelope.msg_id.encode(), envelope.subject.encode(), envelope.payload))
    return _pack(len(body), zlib.crc32(body)) + body


def _records(path: Path, segment: int, start: int) -> Iterator[tuple[Envelope | None, int]]:
    """``(envelope, end offset)`` of each whole record from ``start``; ``(None, offset)`` where a torn
    or corrupt record begins (then stops)."""
    data = path.read_bytes()
    offset = start
    while offset < len(data):
        if offset + _HEADER.size > len(data):
            yield None, offset
            return
        length, crc = _HEADER.unpack_from(data, offset)
        body = data[offset + _HEADER.size : offset + _HEADER.size + length]
        if length > _MAX_RECORD or len(body) != length or zlib.crc32(body) != crc:
            yield None, offset
            return
        msg_id, subject, payload = body.split(b"\n", 2)
        offset += _HEADER.size + length
        yield Envelope(msg_id.decode(), subject.decode(), payload), offset


class Spool:
    """Append-only, fsync'd segments with an acknowledged cursor; one writer (the publisher's thread)."""

    def __init__(self, directory: Path, segment_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self.cursor = self._read_cursor()
        for number in self._segments():
            if number < self.cursor.segment:
                self._path(number).unlink()  # wholly acknowledged: a segment the spool wrote
        segments = self._segments()
        current = max(segments, default=max(self.cursor.segment, 1))
        self._repair(current)
        self._number = current
        self._file: BinaryIO = open(self._path(current), "ab")  # noqa: SIM115 - held open for appends
        self._size = self._file.tell()
        fsync_dir(directory)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:010d}{_SUFFIX}"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit())

    def _read_cursor(self) -> Position:
        path = self.directory / CURSOR_NAME
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Position(int(raw["segment"]), int(raw["offset"]))
        except FileNotFoundError:
            return Position(0, 0)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SpoolCorruptError(f"{path}: unreadable spool cursor ({e}); nothing was sent or removed") from e

    def _repair(self, number: int) -> None:
        """Cut a torn record off the end of the last segment (a crash mid-append)."""
        path = self._path(number)
        if not path.exists():
            return
        start = self.cursor.offset if number == self.cursor.segment else 0
        end = start
        for envelope, end in _records(path, number, start):
            if envelope is None:
                with open(path, "r+b") as handle:
                    handle.truncate(end)
                    handle.flush()
                    os.fsync(handle.fileno())
                return

    def pending(self) -> Iterator[SpooledRecord]:
        """Every record after the cursor, in order: what a previous run spooled and JetStream has not
        acknowledged."""
        for number in self._segments():
            if number < self.cursor.segment:
                continue
            path = self._path(number)
            start = self.cursor.offset if number == self.cursor.segment else 0
            for envelope, end in _records(path, number, start):
                if envelope is None:
                    raise SpoolCorruptError(f"{path}: corrupt record at byte {end}; the records after it are kept")
                yield SpooledRecord(envelope, Position(number, end))

    def append(self, envelopes: Sequence[Envelope]) -> list[Position]:
        """Write ``envelopes`` after the last record and fsync them; their end positions."""
        if self._size >= self.segment_bytes:
            self._rotate()
        ends = []
        chunks = []
        size = self._size
        for envelope in envelopes:
            frame = _frame(envelope)
            chunks.append(frame)
            size += len(frame)
            ends.append(Position(self._number, size))
        self._file.write(b"".join(chunks))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._size = size
        return ends

    def _rotate(self) -> None:
        self._file.close()
        self._number += 1
        self._file = open(self._path(self._number), "ab")  # noqa: SIM115 - held open for appends
        self._size = 0
        fsync_dir(self.directory)

    def commit(self, position: Position) -> None:
        """Record that everything up to ``position`` is acknowledged; drop segments wholly before it."""
        if position <= self.cursor:
            return
        payload = json.dumps({"segment": position.segment, "offset": position.offset}).encode()
        replace_atomically(self.directory / CURSOR_NAME, payload)
        self.cursor = position
        removed = False
        for number in self._segments():
            if number < position.segment:
                self._path(number).unlink()  # a segment this spool wrote (_segments: its naming), wholly acknowledged
                removed = True
        if removed:
            fsync_dir(self.directory)

    def close(self) -> None:
        self._file.close()
