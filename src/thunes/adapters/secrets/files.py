"""Reading and writing files that hold secrets or keys: private to this user, or refused.

Why so strict: a key file another account can read is a key that account has, and one it can
replace lets it choose our keys. The check runs on the opened descriptor (``fstat``), so the file
that is checked is the file that is read, even if the path is swapped in between.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from thunes.adapters.secrets.errors import InsecureSecretsFileError, SecretsConfigError
from thunes.adapters.storage.durable import create_atomically, replace_atomically

__all__ = ["check_private", "read_private_file", "write_private_file"]

_OTHERS = 0o077  # any permission for the group or the world
_MAX_BYTES = 1 << 20  # a secrets document is small; anything bigger is the wrong file


def check_private(st: os.stat_result, path: Path, what: str) -> None:
    """Refuse unless ``st`` is a regular file owned by this user with no group or world bits."""
    if not stat.S_ISREG(st.st_mode):
        raise SecretsConfigError(f"{path}: the {what} is not a regular file")
    uid = os.geteuid()
    if st.st_uid != uid:
        raise InsecureSecretsFileError(
            f"{path}: the {what} is owned by uid {st.st_uid}, not by this user (uid {uid}); chown it to this user"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & _OTHERS:
        raise InsecureSecretsFileError(
            f"{path}: the {what} has mode {mode:04o}, which lets other users read or change it; run `chmod 600 {path}`"
        )


def read_private_file(path: Path, what: str = "secrets file") -> bytes:
    """The bytes of ``path`` after :func:`check_private`; errors name the path, never the content."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)  # a FIFO must not block the start
    except FileNotFoundError:
        raise SecretsConfigError(f"{path}: the {what} does not exist") from None
    except OSError as e:
        raise SecretsConfigError(f"{path}: cannot open the {what}: {e.strerror}") from None
    try:
        check_private(os.fstat(fd), path, what)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_BYTES:
        raise SecretsConfigError(f"{path}: the {what} is larger than {_MAX_BYTES} bytes; is it the right file?")
    return data


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600, durably; an existing file is kept unless ``overwrite``.

    The file is written under a temporary name in the same directory and renamed into place, so a
    reader never sees it half written and it is never, even briefly, readable by others.
    """
    if not overwrite and path.exists():
        raise SecretsConfigError(f"{path} already exists; pass --force to replace it")
    try:
        (replace_atomically if overwrite else create_atomically)(path, data, 0o600)
    except FileExistsError:  # it appeared meanwhile: never replaced silently
        raise SecretsConfigError(f"{path} already exists; pass --force to replace it") from None
