"""Secrets from a plain JSON or TOML file that only this user can read (mode 0600 or stricter).

Why plain files at all: systemd's ``LoadCredential=`` and most secret managers' agents deliver
secrets as files; the permission check turns a careless ``cp`` into a refusal, not a leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from thunes.adapters.secrets.base import DocumentProvider
from thunes.adapters.secrets.document import parse_document
from thunes.adapters.secrets.files import read_private_file
from thunes.adapters.secrets.secret import Secret

__all__ = ["FileProvider"]


class FileProvider(DocumentProvider):
    """``path``: a flat JSON object or TOML table of names to text, owned by this user, mode 0600."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    @property
    def source(self) -> str:
        return f"file {self.path}"

    def _fetch(self) -> Mapping[str, Secret]:
        return parse_document(read_private_file(self.path), str(self.path))
