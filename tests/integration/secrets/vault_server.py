"""A small HashiCorp Vault stand-in: the KV version 2 *read* API over real HTTP on a free port.

No Vault server can be installed here, so this implements what the provider relies on, as Vault's
docs describe it ("KV secrets engine - version 2 (API)", Read Secret Version; "HTTP status codes"):

- ``GET /v1/<mount>/data/<path>[?version=N]`` with ``X-Vault-Token``;
- a missing or wrong token is 403 ``{"errors": ["permission denied"]}``, checked before the path;
- an unknown path is 404 ``{"errors": []}``; a deleted version is 404 with its metadata;
- success is ``{"request_id", "lease_id", "renewable", "lease_duration", "data": {"data": {...},
  "metadata": {"created_time", "custom_metadata", "deletion_time", "destroyed", "version"}},
  "wrap_info", "warnings", "auth", "mount_type": "kv"}``;
- a sealed Vault answers 503 ``{"errors": ["Vault is sealed"]}``; a standby may redirect (307).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CREATED = "2026-11-30T10:00:00.000000Z"


@dataclass
class VaultState:
    token: str
    mount: str = "secret"
    versions: dict[str, list[dict[str, str] | None]] = field(default_factory=dict)  # None: deleted
    sealed: bool = False
    redirect_to: str | None = None
    seen_tokens: list[str | None] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    state: VaultState  # set on the subclass built per server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the test output must not fill with access lines (they would carry no token anyway)."""

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        state = self.state
        state.seen_tokens.append(self.headers.get("X-Vault-Token"))
        if state.sealed:
            return self._answer(503, {"errors": ["Vault is sealed"]})
        if state.redirect_to is not None:
            return self._answer(307, {}, {"Location": state.redirect_to + self.path})
        if self.headers.get("X-Vault-Token") != state.token:
            return self._answer(403, {"errors": ["permission denied"]})
        url = urlsplit(self.path)
        prefix = f"/v1/{state.mount}/data/"
        versions = state.versions.get(url.path.removeprefix(prefix)) if url.path.startswith(prefix) else None
        if not versions:
            return self._answer(404, {"errors": []})
        wanted = int(parse_qs(url.query).get("version", [len(versions)])[0])
        if not 1 <= wanted <= len(versions):
            return self._answer(404, {"errors": []})
        data = versions[wanted - 1]
        metadata = {"created_time": CREATED, "custom_metadata": None, "deletion_time": "" if data is not None
                    else "2026-11-30T11:00:00.000000Z", "destroyed": False, "version": wanted}  # fmt: skip
        body = {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": 0,
                "data": {"data": data, "metadata": metadata}, "wrap_info": None, "warnings": None, "auth": None,
                "mount_type": "kv"}  # fmt: skip
        return self._answer(200 if data is not None else 404, body)


class VaultServer:
    """Serve ``VaultState`` on 127.0.0.1 from a background thread; ``url(path)`` is a KV v2 read URL."""

    def __init__(self, token: str, mount: str = "secret") -> None:
        self.state = VaultState(token, mount)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="vault", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def put(self, path: str, data: dict[str, str]) -> int:
        """Write a new version of ``path``; its number."""
        self.state.versions.setdefault(path, []).append(dict(data))
        return len(self.state.versions[path])

    def delete_latest(self, path: str) -> None:
        self.state.versions[path][-1] = None

    def url(self, path: str) -> str:
        return f"{self.base_url}/v1/{self.state.mount}/data/{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
