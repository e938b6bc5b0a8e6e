"""Request security exactly as Binance spot applies it (rest-api.md, "Request Security").

* ``X-MBX-APIKEY`` names the key: missing or malformed is -2014, unknown is -2015 (HTTP 401).
* SIGNED requests carry ``signature`` = hex HMAC-SHA256, keyed with the secret, of the *total
  params*: the raw query string concatenated without separator to the raw form body, with the
  ``signature`` parameter itself removed. Hex case does not matter (HMAC signatures are not
  case-sensitive). A mismatch is -1022.
* ``timestamp`` (ms, or µs) must not be 1000 ms or more ahead of the server's wall clock and not
  older than ``recvWindow`` (default 5000 ms, at most 60000): -1021 otherwise. The wall clock, not
  the replay clock that ``serverTime`` reports: clients sign with their own real time (state.py).
* A key may lack permissions: trading endpoints need ``can_trade``, reads need ``can_read`` (-2015).

Secrets never leave this module: every error message is a fixed Binance text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from enum import Enum
from urllib.parse import unquote_plus

from thunes.adapters.venues.simserver.rest_params import Params
from thunes.adapters.venues.simserver.state import ApiKey, ServerState
from thunes.simvenue import errors as err
from thunes.simvenue.errors import VenueError

__all__ = [
    "DEFAULT_RECV_WINDOW_MS",
    "MAX_RECV_WINDOW_MS",
    "SIGNED_PARAMS",
    "Security",
    "authenticate",
    "check_timestamp",
    "lookup_key",
    "signature_payload",
]

DEFAULT_RECV_WINDOW_MS = Decimal(5000)
MAX_RECV_WINDOW_MS = Decimal(60000)
AHEAD_TOLERANCE_MS = Decimal(1000)
SIGNED_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})
_KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{1,128}$")
_NS_PER_MS = Decimal(1_000_000)
_MICROSECONDS = 10**14  # a timestamp this large is in µs (ms timestamps stay below until year 5138)


class Security(Enum):
    """Security types of rest-api.md: what an endpoint requires of the caller."""

    NONE = "NONE"
    USER_STREAM = "USER_STREAM"  # API key only, no signature
    TRADE = "TRADE"
    USER_DATA = "USER_DATA"

    @property
    def keyed(self) -> bool:
        return self is not Security.NONE

    @property
    def signed(self) -> bool:
        return self in (Security.TRADE, Security.USER_DATA)


def _bad_key_format() -> VenueError:
    return VenueError(-2014, "API-key format invalid.", 401)


def _rejected_key() -> VenueError:
    return VenueError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def lookup_key(state: ServerState, header: str | None) -> ApiKey:
    """The key named by ``X-MBX-APIKEY``: -2014 when absent or malformed, -2015 when unknown."""
    if header is None or not _KEY_FORMAT.fullmatch(header):
        raise _bad_key_format()
    key = state.api_keys.get(header)
    if key is None:
        raise _rejected_key()
    return key


def _without_signature(raw: str) -> str:
    return "&".join(part for part in raw.split("&") if unquote_plus(part.partition("=")[0]) != "signature")


def signature_payload(raw_query: str, raw_body: str) -> str:
    """What the client signed: the query string then the body, verbatim, minus ``signature``."""
    return _without_signature(raw_query) + _without_signature(raw_body)


def _check_signature(key: ApiKey, params: Params, raw_query: str, raw_body: str) -> None:
    sent = params.require("signature").lower()
    payload = signature_payload(raw_query, raw_body).encode()
    expected = hmac.new(key.secret.encode(), payload, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise VenueError(-1022, "Signature for this request is not valid.")


def check_timestamp(params: Params, wall_ns: int) -> None:
    """``timestamp`` and ``recvWindow`` against the wall clock: -1100/-1102 malformed, -1131, -1021."""
    timestamp = params.long("timestamp", required=True)
    assert timestamp is not None
    sent_ms = Decimal(timestamp) / 1000 if timestamp >= _MICROSECONDS else Decimal(timestamp)
    window = params.decimal("recvWindow", places=3)
    if window is None:
        window = DEFAULT_RECV_WINDOW_MS
    if window > MAX_RECV_WINDOW_MS:
        raise VenueError(-1131, "recvWindow must be less than 60000")
    server_ms = Decimal(wall_ns) / _NS_PER_MS
    if sent_ms >= server_ms + AHEAD_TOLERANCE_MS:
        raise VenueError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - sent_ms > window:
        raise VenueError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _check_permission(key: ApiKey, security: Security) -> None:
    if security is Security.TRADE and not key.can_trade:
        raise _rejected_key()
    if security is Security.USER_DATA and not key.can_read:
        raise _rejected_key()


def authenticate(
    state: ServerState,
    security: Security,
    api_key_header: str | None,
    params: Params,
    raw_query: str,
    raw_body: str,
) -> ApiKey | None:
    """Check a request against ``security``; the caller's key (None for public endpoints)."""
    if not security.keyed:
        return None
    key = lookup_key(state, api_key_header)
    if security.signed:
        if "timestamp" not in params:
            raise err.mandatory("timestamp")
        if "signature" not in params:
            raise err.mandatory("signature")
        _check_signature(key, params, raw_query, raw_body)
        check_timestamp(params, state.wall_ns())
    _check_permission(key, security)
    return key
