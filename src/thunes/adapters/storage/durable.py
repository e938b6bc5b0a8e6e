"""Durability helpers shared by every file store (risk state, audit trail, market data)."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

__all__ = ["fsync_dir", "replace_atomically"]


def fsync_dir(directory: Path) -> None:
    """Make a file's creation, rename or removal in ``directory`` durable (POSIX); a no-op where
    directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_atomically(path: Path, data: bytes) -> None:
    """Make ``data`` the content of ``path``: a hidden temp file beside it, fsynced, renamed over it,
    the directory fsynced. A crash leaves the old content or the new, never a torn file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
