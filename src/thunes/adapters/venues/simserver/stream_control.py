"""Requests a client sends on a market stream connection, checked the way Binance checks them.

web-socket-streams.md, "Live Subscribing/Unsubscribing" and "Error Messages": a request is a JSON
object with ``method``, ``params`` and ``id`` (a 64-bit integer, an alphanumeric string of at
most 36 characters, or null). Anything else is answered with an error object
``{"error": {"code": 2 | 3, "msg": ...}, "id": ...}`` and the connection stays open; code 3 is
unparseable JSON, code 2 any other invalid request. A connection listens to at most 1024
streams ("WebSocket Limits"): a SUBSCRIBE that would exceed it is refused whole.

WebSocket API signatures (``/ws-api/v3``) are checked here too, with REST's own rules for
``timestamp`` and ``recvWindow`` (at most 60000, -1131), so a signed subscribe is replayable
for no longer than a REST request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from thunes.adapters.venues.simserver.auth import check_timestamp, lookup_key
from thunes.adapters.venues.simserver.rest_params import Params
from thunes.adapters.venues.simserver.state import ApiKey, ServerState
from thunes.simvenue.errors import VenueError

__all__ = ["MAX_STREAMS", "STREAM", "Control", "Invalid", "parse_control", "verify_ws_signature"]

MAX_STREAMS = 1024
STREAM = re.compile(
    r"^[a-z0-9]+@(trade|aggTrade|bookTicker|ticker|miniTicker|depth(5|10|20)?(@100ms|@1000ms)?|kline_\w+)$"
)
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_TEXT_ID = re.compile(r"^[A-Za-z0-9]{1,36}$")
_INT64 = 2**63
_BAD_ID = "Invalid request: request ID must be an unsigned integer"  # Binance's text, whatever the id's type


@dataclass(frozen=True, slots=True)
class Control:
    """A well-formed request: its method, parameters and id."""

    method: str
    params: list[Any]
    request_id: int | str | None


class Invalid(Exception):  # noqa: N818 - Binance's word for these answers
    """A request answered with an error object; the connection stays open."""

    def __init__(self, code: int, msg: str, request_id: int | str | None = None) -> None:
        super().__init__(msg)
        self.reply: dict[str, Any] = {"error": {"code": code, "msg": msg}, "id": request_id}


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, str) and _TEXT_ID.fullmatch(value) is not None


def _load(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Invalid(3, f"Invalid JSON: expected value at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError):  # bad UTF-8, numbers past the digit limit, absurd nesting
        raise Invalid(3, "Invalid JSON: expected value at line 1 column 1") from None


def parse_control(text: str | bytes, streams: frozenset[str] | set[str]) -> Control:
    """The request in ``text``; :class:`Invalid` with Binance's error object when it is not one.

    ``streams`` are the connection's current streams, for the 1024-stream limit.
    """
    message = _load(text)
    if not isinstance(message, dict):
        raise Invalid(2, "Invalid request: expected a JSON object with method, params and id")
    request_id = message.get("id")
    if "id" not in message or not _valid_id(request_id):
        raise Invalid(2, _BAD_ID)
    if "method" not in message:
        raise Invalid(2, "Invalid request: missing field `method`", request_id)
    method = message["method"]
    if method not in METHODS:
        raise Invalid(2, f"Invalid request: unknown variant {json.dumps(method)[:64]}, expected one of "
                      "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                      request_id)  # fmt: skip
    if set(message) - {"method", "params", "id"}:
        raise Invalid(2, "Invalid request: too many parameters", request_id)
    params = message.get("params", [])
    if not isinstance(params, list):
        raise Invalid(2, "Invalid request: params must be an array", request_id)
    return Control(method, _checked(method, params, streams, request_id), request_id)


def _checked(method: str, params: list[Any], streams: frozenset[str] | set[str], rid: int | str | None) -> list[Any]:
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        bad = [p for p in params if not isinstance(p, str) or not STREAM.match(p)]
        if bad:
            raise Invalid(2, f"Invalid request: invalid stream name {json.dumps(bad[0])[:64]}", rid)
        if method == "SUBSCRIBE" and len(set(streams) | set(params)) > MAX_STREAMS:
            raise Invalid(2, f"Invalid request: a connection can listen to at most {MAX_STREAMS} streams", rid)
    elif method == "LIST_SUBSCRIPTIONS" and params:
        raise Invalid(2, "Invalid request: too many parameters", rid)
    elif method in ("SET_PROPERTY", "GET_PROPERTY"):
        expected = 2 if method == "SET_PROPERTY" else 1
        if len(params) != expected or not isinstance(params[0], str):
            raise Invalid(2, "Invalid request: property name must be a string", rid)
        if params[0] != "combined":
            raise Invalid(0, "Unknown property", rid)
        if method == "SET_PROPERTY" and not isinstance(params[1], bool):
            raise Invalid(1, "Invalid value type: expected Boolean", rid)
    return params


def _as_param(value: object) -> str:
    """A JSON value as the text Binance signs and parses (``true``, ``5000``, ``"abc"`` -> ``abc``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def verify_ws_signature(state: ServerState, params: dict[str, Any]) -> ApiKey:
    """The key of a signed WebSocket API request (HMAC over the params sorted by name,
    web-socket-api.md), its ``timestamp`` and ``recvWindow`` checked as REST checks them.

    Raises :class:`VenueError` with the REST code (-2014/-2015, -1022, -1100, -1102, -1131, -1021).
    """
    api_key = params.get("apiKey")
    key = lookup_key(state, api_key if isinstance(api_key, str) else None)
    payload = "&".join(f"{k}={_as_param(params[k])}" for k in sorted(params) if k != "signature")
    expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    signature = params.get("signature")
    if not isinstance(signature, str) or not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise VenueError(-1022, "Signature for this request is not valid.")
    timing: dict[str, str] = {k: _as_param(params[k]) for k in ("timestamp", "recvWindow") if k in params}
    if "timestamp" not in timing:
        raise VenueError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    check_timestamp(Params(urlencode(timing)), state.wall_ns())
    return key
