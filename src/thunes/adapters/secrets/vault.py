"""Secrets from HashiCorp Vault's KV version 2 engine, read over its HTTP API.

``GET /v1/<mount>/data/<path>`` with the ``X-Vault-Token`` header answers
``{"data": {"data": {...secrets...}, "metadata": {...}}}`` (Vault docs, "KV secrets engine - version
2 (API)", Read Secret Version). Plain ``urllib`` on purpose: one GET does not justify a client library.

Safety: the token goes in a header, never the URL; plain ``http://`` is refused except to a loopback
address (a token must not cross a network in clear); redirects are refused, because ``urllib`` would
forward the token header to wherever a redirect points. Error messages carry the URL and the HTTP
status, never the token or the body of Vault's answer.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from email.message import Message
from pathlib import Path
from typing import IO, Any, NoReturn

from thunes.adapters.hosts import is_loopback_host
from thunes.adapters.secrets.base import DocumentProvider
from thunes.adapters.secrets.document import secrets_from_mapping
from thunes.adapters.secrets.env import Environment
from thunes.adapters.secrets.errors import (
    SecretNotFoundError,
    SecretsAccessDeniedError,
    SecretsConfigError,
    SecretsUnavailableError,
)
from thunes.adapters.secrets.files import read_private_file
from thunes.adapters.secrets.secret import Secret

__all__ = ["TOKEN_ENV", "VaultProvider"]

TOKEN_ENV = "VAULT_TOKEN"  # noqa: S105 - a variable's name; Vault's own CLI reads it too
_KV2_PATH = re.compile(r"^/v1/[^/]+(?:/[^/]+)*/data/[^/].*$")
_RETRY_LATER = frozenset({429, 500, 502, 503, 504})  # 503: sealed, or a standby that cannot forward


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an error instead of following it with our token."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Message, newurl: str) -> NoReturn:  # fmt: skip
        raise SecretsConfigError(
            f"Vault at {req.full_url} redirected ({code}) elsewhere; point the spec at the active node's address"
        )


class VaultProvider(DocumentProvider):
    """One KV v2 secret (a table of names to text) at ``url``, read with a token.

    The token is ``token`` if given, else read from ``token_file`` (mode 0600), else ``$VAULT_TOKEN``.
    ``ca_file`` trusts a private CA; ``namespace`` sets ``X-Vault-Namespace`` (Vault Enterprise/HCP).
    """

    def __init__(
        self,
        url: str,
        *,
        token: Secret | None = None,
        token_file: Path | None = None,
        ca_file: Path | None = None,
        namespace: str | None = None,
        timeout_s: float = 10.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SecretsConfigError(f"vault: {parts.scheme}://{parts.hostname or ''}{parts.path} is not http(s)")
        if parts.username or parts.password:
            raise SecretsConfigError("vault: put no credentials in the URL; the token comes from a file or VAULT_TOKEN")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise SecretsConfigError(f"vault: plain http to {parts.hostname} would send the token in clear; use https")
        if not _KV2_PATH.fullmatch(parts.path):
            raise SecretsConfigError(f"vault: {parts.path} is not a KV v2 read path (/v1/<mount>/data/<path>)")
        self.url = url
        self._token, self._token_file = token, token_file
        self._environ = Environment(environ)
        self._namespace, self._timeout_s = namespace, timeout_s
        try:
            self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
        except (OSError, ssl.SSLError) as e:
            raise SecretsConfigError(f"vault: cannot load the CA file {ca_file}: {type(e).__name__}") from None

    @property
    def source(self) -> str:
        return f"vault {self.url}"

    def _token_value(self) -> Secret:
        if self._token is not None:
            return self._token
        if self._token_file is not None:
            raw = read_private_file(self._token_file, "Vault token file")
            return Secret(raw.decode("utf-8", errors="replace").strip())
        value = self._environ.get(TOKEN_ENV, "").strip()
        if not value:
            raise SecretsConfigError(f"vault: no token: set {TOKEN_ENV} or add token_file=<path> to the spec")
        return Secret(value)

    def _fetch(self) -> Mapping[str, Secret]:
        headers = {"X-Vault-Token": self._token_value().reveal(), "Accept": "application/json"}
        if self._namespace:
            headers["X-Vault-Namespace"] = self._namespace
        request = urllib.request.Request(self.url, headers=headers, method="GET")  # noqa: S310 - http(s) checked at init
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect(), urllib.request.HTTPSHandler(context=self._context)]
        if is_loopback_host(urllib.parse.urlsplit(self.url).hostname or ""):
            handlers.append(urllib.request.ProxyHandler({}))  # a loopback Vault is never behind the proxy
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=self._timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            e.close()
            self._refused(e.code)
        except urllib.error.URLError as e:
            raise SecretsUnavailableError(f"cannot reach Vault at {self.url}: {e.reason}") from None
        except (TimeoutError, ConnectionError) as e:
            raise SecretsUnavailableError(f"cannot reach Vault at {self.url}: {type(e).__name__}") from None
        return self._secrets(body)

    def _refused(self, status: int) -> NoReturn:
        """Vault's answer by status (Vault docs, "HTTP status codes"); its body is never repeated."""
        if status == 403:
            raise SecretsAccessDeniedError(
                f"Vault refused the token for {self.url} (403): check the token and that its policy may read this path"
            )
        if status == 404:
            raise SecretNotFoundError(f"no secret at {self.url} (404): check the mount, the path and the version")
        if status in _RETRY_LATER:
            raise SecretsUnavailableError(f"Vault at {self.url} answered {status} (sealed, standby or overloaded)")
        raise SecretsConfigError(f"Vault refused the request for {self.url} ({status})")

    def _secrets(self, body: bytes) -> Mapping[str, Secret]:
        try:
            payload: Any = json.loads(body)
        except ValueError:
            raise SecretsConfigError(f"Vault at {self.url} did not answer JSON") from None
        outer = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(outer, dict) or "data" not in outer:
            raise SecretsConfigError(f"Vault at {self.url} did not answer a KV v2 secret (is the mount KV version 1?)")
        data, metadata = outer["data"], outer.get("metadata") or {}
        if data is None or metadata.get("destroyed") or metadata.get("deletion_time"):
            version = metadata.get("version")
            raise SecretNotFoundError(f"the secret at {self.url} is deleted or destroyed (version {version})")
        if not isinstance(data, dict):
            raise SecretsConfigError(f"Vault at {self.url}: the secret's data is not a table")
        return secrets_from_mapping(data, f"vault {self.url}")
