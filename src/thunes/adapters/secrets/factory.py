"""A provider from a one-line spec, the form a config file, a flag or ``$THUNES_SECRETS`` holds:

- ``env:`` (``$THUNES_<NAME>``) or ``env:PREFIX_``
- ``file:/etc/thunes/secrets.toml`` (JSON or TOML, mode 0600, owned by this user)
- ``fernet:/etc/thunes/secrets.enc`` (key in ``$THUNES_SECRETS_KEY``) or ``...?key_file=/path``
- ``vault:https://vault:8200/v1/secret/data/thunes`` (token in ``$VAULT_TOKEN``), options
  ``token_file``, ``ca_file``, ``namespace``, ``timeout``; other query parameters (``version``) go to Vault
- ``aws:thunes/binance?region=eu-west-1``, options ``endpoint_url``, ``version_stage``, ``timeout``

``boto3`` is imported only when an ``aws:`` spec is opened (the ``secrets`` extra installs it).
A spec never holds a credential: errors quote option names, never their values.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from thunes.adapters.secrets.base import SecretsProvider
from thunes.adapters.secrets.env import DEFAULT_PREFIX, EnvProvider
from thunes.adapters.secrets.errors import SecretsConfigError
from thunes.adapters.secrets.fernet import FernetFileProvider
from thunes.adapters.secrets.file import FileProvider
from thunes.adapters.secrets.vault import VaultProvider

__all__ = ["SCHEMES", "open_provider"]

_Options = dict[str, str]


def _split(rest: str, allowed: frozenset[str], kind: str) -> tuple[str, _Options]:
    """``target?a=1&b=2`` into the target and its options; unknown options refused by name."""
    target, _, query = rest.partition("?")
    options: _Options = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise _unknown(key, allowed, kind)
        options[key] = value
    return target, options


def _unknown(key: str, allowed: Iterable[str], kind: str) -> SecretsConfigError:
    hint = "; credentials never go in a spec" if "token" in key or "secret" in key or key == "key" else ""
    return SecretsConfigError(f"{kind}: unknown option {key!r} (allowed: {', '.join(sorted(allowed))}){hint}")


def _timeout(options: _Options, kind: str) -> float:
    try:
        timeout = float(options.get("timeout", "10"))
    except ValueError:
        raise SecretsConfigError(f"{kind}: timeout must be a number of seconds") from None
    if not 0 < timeout <= 120:
        raise SecretsConfigError(f"{kind}: timeout must be in (0, 120] seconds")
    return timeout


def _path(target: str, kind: str) -> Path:
    if not target:
        raise SecretsConfigError(f"{kind}: the spec needs a path: {kind}:/path/to/file")
    return Path(target).expanduser()


def _env(rest: str, environ: Mapping[str, str] | None) -> SecretsProvider:
    return EnvProvider(rest or DEFAULT_PREFIX, environ)


def _file(rest: str, environ: Mapping[str, str] | None) -> SecretsProvider:
    target, _ = _split(rest, frozenset(), "file")
    return FileProvider(_path(target, "file"))


def _fernet(rest: str, environ: Mapping[str, str] | None) -> SecretsProvider:
    target, options = _split(rest, frozenset({"key_file"}), "fernet")
    key_file = Path(options["key_file"]).expanduser() if options.get("key_file") else None
    return FernetFileProvider(_path(target, "fernet"), key_file, environ)


def _vault(rest: str, environ: Mapping[str, str] | None) -> SecretsProvider:
    parts = urllib.parse.urlsplit(rest)
    ours = {"token_file", "ca_file", "namespace", "timeout"}
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    for key, _ in query:
        if key not in ours | {"version"}:
            raise _unknown(key, ours | {"version"}, "vault")
    options = {k: v for k, v in query if k in ours}
    kept = [(k, v) for k, v in query if k not in ours]  # Vault's own parameters (version) stay in the URL
    url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept)))
    token_file = Path(options["token_file"]).expanduser() if options.get("token_file") else None
    ca_file = Path(options["ca_file"]).expanduser() if options.get("ca_file") else None
    return VaultProvider(url, token_file=token_file, ca_file=ca_file, namespace=options.get("namespace") or None,
                         timeout_s=_timeout(options, "vault"), environ=environ)  # fmt: skip


def _aws(rest: str, environ: Mapping[str, str] | None) -> SecretsProvider:
    try:  # boto3 is an optional extra: only a user of this scheme needs it installed
        from thunes.adapters.secrets.aws import AwsSecretsProvider
    except ModuleNotFoundError as e:
        raise SecretsConfigError(f"aws: needs {e.name}: pip install 'thunes[secrets]'") from None
    target, options = _split(rest, frozenset({"region", "endpoint_url", "version_stage", "timeout"}), "aws")
    return AwsSecretsProvider(urllib.parse.unquote(target), region=options.get("region") or None,
                              endpoint_url=options.get("endpoint_url") or None,
                              version_stage=options.get("version_stage") or "AWSCURRENT",
                              timeout_s=_timeout(options, "aws"))  # fmt: skip


SCHEMES: Mapping[str, Callable[[str, Mapping[str, str] | None], SecretsProvider]] = {
    "env": _env,
    "file": _file,
    "fernet": _fernet,
    "vault": _vault,
    "aws": _aws,
}


def open_provider(spec: str, environ: Mapping[str, str] | None = None) -> SecretsProvider:
    """The provider ``spec`` names; ``environ`` replaces ``os.environ`` for keys and tokens (tests)."""
    scheme, colon, rest = spec.strip().partition(":")
    if not colon or scheme not in SCHEMES:
        raise SecretsConfigError(f"a secrets spec starts with one of {', '.join(f'{s}:' for s in SCHEMES)}")
    return SCHEMES[scheme](rest, environ)
