"""The ``SecretsProvider`` port and the base of the providers that read one whole document.

A provider is built from a spec (see :mod:`.factory`), names where its secrets live in
``source`` (never a credential), and hands out :class:`Secret` values by name.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from thunes.adapters.secrets.errors import SecretNotFoundError
from thunes.adapters.secrets.secret import Secret

__all__ = ["DocumentProvider", "SecretsProvider"]


@runtime_checkable
class SecretsProvider(Protocol):
    """Where secrets come from: the environment, a file, an encrypted file, Vault, AWS."""

    @property
    def source(self) -> str:
        """Where the secrets live (``vault https://host/v1/secret/data/thunes``): safe to log."""
        ...

    def get(self, name: str) -> Secret:
        """The secret called ``name``; :class:`SecretNotFoundError` when there is none."""
        ...

    def names(self) -> tuple[str, ...]:
        """The names this provider holds, sorted (never the values)."""
        ...


class DocumentProvider(ABC):
    """A provider that reads its whole document once, on first use, and keeps it.

    Why once: Vault and AWS are network calls with their own quotas, and a session needs the keys
    at start only; a key rotated later is picked up by a restart.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._document: dict[str, Secret] | None = None

    @property
    @abstractmethod
    def source(self) -> str: ...

    @abstractmethod
    def _fetch(self) -> Mapping[str, Secret]:
        """Read the document; raise only :class:`~thunes.adapters.secrets.errors.SecretsError`."""

    def _loaded(self) -> dict[str, Secret]:
        with self._lock:
            if self._document is None:
                self._document = dict(self._fetch())
            return self._document

    def get(self, name: str) -> Secret:
        document = self._loaded()
        if name not in document:
            raise SecretNotFoundError(f"{self.source} has no secret named {name!r}")
        return document[name]

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._loaded()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"
