"""Secrets from environment variables: ``binance_api_key`` is ``$THUNES_BINANCE_API_KEY``.

Why the environment stays a first-class source: it is what systemd's ``EnvironmentFile=`` (a
root-only file) and container runtimes hand a process, and it needs no extra dependency.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from thunes.adapters.secrets.errors import SecretNotFoundError
from thunes.adapters.secrets.secret import Secret

__all__ = ["DEFAULT_PREFIX", "EnvProvider", "Environment"]

DEFAULT_PREFIX = "THUNES_"


class Environment(Mapping[str, str]):
    """A read-only view of ``os.environ`` (or a given mapping) whose ``repr`` lists nothing.

    Why: a provider keeps the environment it reads keys and tokens from, and ``vars(provider)``
    or a debugger's view of it must not print the whole environment, secrets included.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data: Mapping[str, str] = os.environ if data is None else data

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<environment: {len(self._data)} variables>"


class EnvProvider:
    """Reads ``prefix + NAME.upper()`` from ``environ`` (``os.environ`` unless given) at each call."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self._environ = Environment(environ)

    @property
    def source(self) -> str:
        return f"environment variables {self.prefix}*"

    def variable(self, name: str) -> str:
        """The environment variable that holds ``name``."""
        return self.prefix + name.upper().replace("-", "_").replace(".", "_")

    def get(self, name: str) -> Secret:
        value = self._environ.get(self.variable(name), "")
        if not value:
            raise SecretNotFoundError(f"secret {name!r} not found: set the environment variable {self.variable(name)}")
        return Secret(value)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(k.removeprefix(self.prefix).lower() for k in self._environ if k.startswith(self.prefix)))

    def __repr__(self) -> str:
        return f"EnvProvider(prefix={self.prefix!r})"
