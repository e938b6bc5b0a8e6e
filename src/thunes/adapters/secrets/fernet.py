"""Secrets in a Fernet-encrypted file (``thunes secrets encrypt``), the key kept apart from it.

Why Fernet: authenticated encryption (AES-128-CBC + HMAC-SHA256) from ``cryptography``, whose
tokens cannot be altered unnoticed; the file can sit in a backup or a config repository, and only
a holder of the key (``$THUNES_SECRETS_KEY`` or a 0600 key file) reads it. Several keys separated
by commas or new lines are tried in turn, newest first, so a key can be rotated without downtime.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from thunes.adapters.secrets.base import DocumentProvider
from thunes.adapters.secrets.document import dump_document, parse_document
from thunes.adapters.secrets.env import Environment
from thunes.adapters.secrets.errors import SecretsConfigError
from thunes.adapters.secrets.files import read_private_file
from thunes.adapters.secrets.secret import Secret

__all__ = [
    "KEY_ENV",
    "FernetFileProvider",
    "decrypt_document",
    "encrypt_document",
    "generate_key",
    "load_key",
]

KEY_ENV = "THUNES_SECRETS_KEY"
_SEPARATORS = re.compile(r"[,\s]+")


def generate_key() -> Secret:
    """A new random Fernet key (32 bytes, URL-safe base64)."""
    return Secret(Fernet.generate_key().decode("ascii"))


def load_key(key_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Secret:
    """The key from ``key_file`` (checked like a secrets file) if given, else ``$THUNES_SECRETS_KEY``."""
    if key_file is not None:
        raw = read_private_file(key_file, "key file")
        try:
            return Secret(raw.decode("ascii").strip())
        except UnicodeDecodeError:
            raise SecretsConfigError(f"{key_file}: the key file is not a Fernet key (ASCII text)") from None
    value = Environment(environ).get(KEY_ENV, "").strip()
    if not value:
        raise SecretsConfigError(f"no Fernet key: set {KEY_ENV} or pass a key file (thunes secrets keygen)")
    return Secret(value)


def _cipher(key: Secret) -> MultiFernet:
    keys = [k for k in _SEPARATORS.split(key.reveal()) if k]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError):  # binascii and length errors; their text could echo the key
        raise SecretsConfigError("the Fernet key is malformed: expected 32 url-safe base64-encoded bytes") from None


def encrypt_document(secrets: Mapping[str, Secret], key: Secret) -> bytes:
    """The document as one Fernet token (ASCII), encrypted with the first (newest) key."""
    return _cipher(key).encrypt(dump_document(secrets))


def decrypt_document(token: bytes, key: Secret, source: str) -> dict[str, Secret]:
    """The document inside ``token``; a wrong key and a damaged file are one error (Fernet cannot tell)."""
    try:
        plain = _cipher(key).decrypt(token.strip())
    except InvalidToken:
        raise SecretsConfigError(f"{source}: cannot decrypt: wrong key, or the file was altered or damaged") from None
    return parse_document(plain, source)


class FernetFileProvider(DocumentProvider):
    """``path``: a file written by ``thunes secrets encrypt``; key from ``key_file`` or ``$THUNES_SECRETS_KEY``."""

    def __init__(self, path: Path, key_file: Path | None = None, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.path, self.key_file, self._environ = path, key_file, Environment(environ)

    @property
    def source(self) -> str:
        return f"encrypted file {self.path}"

    def _fetch(self) -> Mapping[str, Secret]:
        key = load_key(self.key_file, self._environ)
        try:
            token = self.path.read_bytes()
        except FileNotFoundError:
            raise SecretsConfigError(f"{self.path}: the encrypted secrets file does not exist") from None
        except OSError as e:
            raise SecretsConfigError(f"{self.path}: cannot read the encrypted secrets file: {e.strerror}") from None
        return decrypt_document(token, key, str(self.path))
