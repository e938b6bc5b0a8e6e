"""Secrets providers (SPEC §7): environment, a 0600 file, a Fernet-encrypted file, HashiCorp Vault
KV v2 and AWS Secrets Manager, behind one small port, handing out values that never show themselves."""

from thunes.adapters.secrets.base import DocumentProvider, SecretsProvider
from thunes.adapters.secrets.errors import (
    InsecureSecretsFileError,
    SecretNotFoundError,
    SecretsAccessDeniedError,
    SecretsConfigError,
    SecretsError,
    SecretsUnavailableError,
)
from thunes.adapters.secrets.factory import SCHEMES, open_provider
from thunes.adapters.secrets.secret import HIDDEN, Secret

__all__ = [
    "HIDDEN",
    "SCHEMES",
    "DocumentProvider",
    "InsecureSecretsFileError",
    "Secret",
    "SecretNotFoundError",
    "SecretsAccessDeniedError",
    "SecretsConfigError",
    "SecretsError",
    "SecretsProvider",
    "SecretsUnavailableError",
    "open_provider",
]
