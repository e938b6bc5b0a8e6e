"""The audit trail's head: how many records the chain holds and the last one's hash, rewritten
atomically after every durable append (``audit-head.json``), so a cut-off tail or a deleted file
is detectable: the chain alone cannot tell that records once came after its last line.

``count`` numbers records since genesis, pruned ones included (the anchor carries the count it
pruned through), so a legitimate retention prune never contradicts the head. ``database`` names the
writer's database copy (relative to the audit directory), so ``verify`` knows to require it.
A head lagging behind the files (a crash before its rename reached the disk) is harmless: ``verify``
tolerates records after the head; one ahead of them means records were lost.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thunes.adapters.storage.durable import fsync_dir

__all__ = ["HEAD_NAME", "Head", "HeadError", "read_head", "write_json_atomically"]

HEAD_NAME = "audit-head.json"


class HeadError(ValueError):
    """The head file is there but unreadable."""


@dataclass(frozen=True, slots=True)
class Head:
    """``count`` records since genesis, the last one hashing to ``last_hash``; ``database``, where the
    copy is (relative to the audit directory; None: no copy kept)."""

    count: int
    last_hash: str
    database: str | None = None


def read_head(directory: Path) -> Head | None:
    """The stored head, or None when there is none; :class:`HeadError` when it is unreadable."""
    path = directory / HEAD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        database = data.get("database")
        head = Head(int(data["count"]), str(data["last_hash"]), None if database is None else str(database))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HeadError(f"{path}: unreadable head ({e})") from e
    if head.count < 0:
        raise HeadError(f"{path}: negative record count {head.count}")
    return head


def write_json_atomically(directory: Path, name: str, data: dict[str, Any], *, sync_dir: bool = True) -> None:
    """``directory/name`` replaced whole by ``data`` (temp file, fsync, rename, fsync of the directory
    unless ``sync_dir`` is False: then a crash may bring the old content back, never a torn one)."""
    stem = name.rsplit("-", maxsplit=1)[-1].split(".", maxsplit=1)[0]
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(data, sort_keys=True).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(directory)
