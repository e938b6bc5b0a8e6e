"""Durability helpers shared by every file store (risk state, audit trail, market data)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["create_atomically", "fsync_dir", "replace_atomically", "write_atomically"]


def fsync_dir(directory: Path) -> None:
    """Make a file's creation, rename or removal in ``directory`` durable (POSIX); a no-op where
    directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Make ``data`` the content of ``path``: see :func:`write_atomically`."""
    write_atomically(path, lambda handle: handle.write(data), mode)


def create_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Make ``path`` a new file holding ``data`` (see :func:`write_atomically`); FileExistsError, and
    nothing written, when it exists already or appears meanwhile: a file is never replaced."""
    write_atomically(path, lambda handle: handle.write(data), mode, replace=False)


def write_atomically(
    path: Path, write: Callable[[BinaryIO], object], mode: int | None = None, *, replace: bool = True
) -> None:
    """Make what ``write`` writes the content of ``path``: a hidden temp file beside it (created with
    ``mode`` whatever the umask, when given: a secret is never readable by others, not even briefly),
    fsynced, renamed over it (``replace=False``: linked to it, which fails on an existing file), the
    directory fsynced. A crash leaves the old content or the new, never a torn file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # FileExistsError when the path exists: never replace a file silently
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
