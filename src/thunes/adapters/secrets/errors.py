"""What can go wrong reading secrets, named for what the operator must do.

Every message is built from names, paths, URLs and HTTP statuses only: never from a value, a
token or a server's answer body, so an error can be logged, shown and chained safely.
"""

from __future__ import annotations

__all__ = [
    "InsecureSecretsFileError",
    "SecretNotFoundError",
    "SecretsAccessDeniedError",
    "SecretsConfigError",
    "SecretsError",
    "SecretsUnavailableError",
]


class SecretsError(Exception):
    """The secrets could not be read; the message says where and why (never what)."""


class SecretsConfigError(SecretsError):
    """Fatal until the configuration is fixed: a bad spec, an unreadable or malformed document."""


class InsecureSecretsFileError(SecretsConfigError):
    """A secrets or key file others could read or replace: ``chmod 600`` it, owned by this user."""


class SecretNotFoundError(SecretsError):
    """The store answered, but the named secret (or the whole document) is not there."""


class SecretsAccessDeniedError(SecretsError):
    """The store refused us: the token or credentials are wrong, expired or lack read access."""


class SecretsUnavailableError(SecretsError):
    """The store could not be reached or failed on its side: retry later."""
