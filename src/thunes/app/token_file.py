"""Bearer tokens for the local HTTP APIs (the control API, the venue's admin endpoints).

One pattern for both: a token from an environment variable when the operator set one (never an
option: it would show in ``ps``), else a new random one written to a file only its owner can read
(0600), which the CLI reads to reach the API. The file is written atomically (temp file, fsync,
rename) so a reader never sees half a token.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from thunes.adapters.storage.durable import replace_atomically

__all__ = ["MIN_TOKEN_CHARS", "env_token", "new_token", "read_token_file", "write_token_file"]

MIN_TOKEN_CHARS = 16


def env_token(environ: Mapping[str, str], variable: str) -> str | None:
    """The token set in ``variable`` (stripped), None when unset; ValueError when too short to guess-proof."""
    given = environ.get(variable, "").strip()
    if not given:
        return None
    if len(given) < MIN_TOKEN_CHARS:
        raise ValueError(f"{variable} must be at least {MIN_TOKEN_CHARS} characters")
    return given


def new_token() -> str:
    """A fresh random token (256 bits)."""
    return secrets.token_urlsafe(32)


def write_token_file(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` with mode 0600, atomically (over an older file: its mode is not kept)."""
    replace_atomically(path, token.encode("utf-8"), mode=0o600)


def read_token_file(path: Path) -> str:
    """The token in ``path``; OSError when unreadable, ValueError when it holds no usable token."""
    token = path.read_text(encoding="utf-8").strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"{path} holds no token")
    return token
