"""The audit record (SPEC §5): one immutable fact, its canonical JSON, and its place in a hash chain.

Every record's ``hash`` is the SHA-256 of its canonical body, which includes ``prev_hash``: the
hash of the record before it. Editing, deleting or reordering a record therefore breaks the chain
at that point, which ``verify`` reports. The canonical body is JSON with sorted keys, no spaces,
UTF-8, and no floats anywhere: money is a ``Decimal`` written as its exact string, because a float
could round a price and two runtimes could print the same float differently (and hash it apart).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any

from thunes.domain.enums import Side

__all__ = [
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "AuditContext",
    "AuditEvent",
    "AuditRecord",
    "AuditRecordError",
    "canonical_json",
    "compute_hash",
    "record_from_json",
    "seal",
    "seal_json",
]

SCHEMA_VERSION = 1
GENESIS_HASH = "0" * 64  # the prev_hash of the very first record of a trail
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_encode_str = json.encoder.encode_basestring  # what the encoder below writes a string with (ensure_ascii=False)


class AuditRecordError(ValueError):
    """A record (or a stored line) that does not follow the schema."""


class AuditEvent(StrEnum):
    """What happened. The first twelve are SPEC §5's; the rest give every bus event a record type."""

    TRADE_APPROVED = "TRADE_APPROVED"
    TRADE_REJECTED = "TRADE_REJECTED"
    ORDER_SUBMITTED = "ORDER_SUBMITTED"
    ORDER_FILLED = "ORDER_FILLED"
    ORDER_CANCELED = "ORDER_CANCELED"
    POSITION_OPENED = "POSITION_OPENED"
    POSITION_CLOSED = "POSITION_CLOSED"
    KILL_SWITCH_ACTIVATED = "KILL_SWITCH_ACTIVATED"
    KILL_SWITCH_DEACTIVATED = "KILL_SWITCH_DEACTIVATED"
    PARAMETER_UPDATED = "PARAMETER_UPDATED"
    RECONCILIATION_MISMATCH = "RECONCILIATION_MISMATCH"
    RL_DECISION = "RL_DECISION"
    ORDER_ACCEPTED = "ORDER_ACCEPTED"
    ORDER_REJECTED = "ORDER_REJECTED"  # by the venue; a risk denial is TRADE_REJECTED
    ORDER_EXPIRED = "ORDER_EXPIRED"
    ORDER_AMENDED = "ORDER_AMENDED"
    TRADING_HALTED = "TRADING_HALTED"
    TRADING_RESUMED = "TRADING_RESUMED"
    EXIT_RETRYING = "EXIT_RETRYING"  # an exit's round failed, never placed: tried again under a new id


def _jsonable(value: Any, path: str) -> Any:
    """``value`` as frozen JSON data: Decimals and dates as strings, mappings read-only, no floats."""
    kind = type(value)
    if kind is str or kind is int or value is None or kind is bool:  # most values: as they are (not subclasses)
        return value
    if kind is dict or isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                if not isinstance(key, str):
                    raise AuditRecordError(f"{path}: key {key!r} must be a string")
                key = str(key)  # noqa: PLW2901 - plain text, as every key is stored
            kind = type(item)  # a plain value is kept as it is, without a call (most of a record's values)
            plain = kind is str or kind is int or item is None or kind is bool
            out[key] = item if plain else _jsonable(item, f"{path}.{key}")
        return MappingProxyType(out)
    if isinstance(value, (list, tuple)):
        return tuple(item if _plain(item) else _jsonable(item, f"{path}[{i}]") for i, item in enumerate(value))
    return _scalar(value, path)


def _plain(value: Any) -> bool:
    """A value kept as it is: text, an integer, a truth value or None (not a subclass of one)."""
    kind = type(value)
    return kind is str or kind is int or value is None or kind is bool


def _scalar(value: Any, path: str) -> Any:
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        raise AuditRecordError(f"{path}: float {value!r} is not allowed in an audit record; use Decimal or str")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # exact and positional: 0.00000001, never 1E-8
    if isinstance(value, str):
        return str(value)  # plain text: drops str subclasses (Symbol, ClientOrderId)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise AuditRecordError(f"{path}: {type(value).__name__} is not JSON data")


def _thaw(value: Any) -> Any:
    """JSON encoder hook: frozen mappings back to dicts (tuples already encode as arrays)."""
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_thaw,
                              allow_nan=False)  # fmt: skip


def canonical_json(data: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: the exact text that is hashed and stored."""
    return _CANONICAL.encode(data)  # one encoder for all (json.dumps would build one per call)


def _new_event_id() -> str:
    """A random (version 4) UUID in its canonical text, as ``str(uuid.uuid4())`` gives, built from 16
    random bytes directly (the UUID object is not needed: every record pays for this)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _check_uuid(event_id: Any) -> None:
    if type(event_id) is str and _CANONICAL_UUID.match(event_id):  # the common form, cheaply; any other:
        return
    try:
        uuid.UUID(event_id)
    except (ValueError, TypeError, AttributeError) as e:
        raise AuditRecordError(f"event_id {event_id!r} is not a UUID") from e


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One audited fact. ``ts_ns`` is Unix time in ns (UTC) from the engine clock, never the wall.

    ``prev_hash`` and ``hash`` stay empty until the log seals the record into its chain
    (:func:`seal`); ``risk_snapshot`` and ``metadata`` are frozen JSON data (see module doc).
    """

    event: AuditEvent
    ts_ns: int
    strategy_id: str
    param_hash: str
    app_version: str
    git_sha: str
    symbol: str | None = None
    side: Side | None = None
    reason: str | None = None
    client_order_id: str | None = None
    model_version: str | None = None
    risk_snapshot: Mapping[str, Any] = field(default_factory=dict, hash=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    event_id: str = field(default_factory=_new_event_id)
    schema_version: int = SCHEMA_VERSION
    prev_hash: str = ""
    hash: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.ts_ns, bool) or not isinstance(self.ts_ns, int) or self.ts_ns < 0:
            raise AuditRecordError(f"ts_ns must be a non-negative int (Unix ns), got {self.ts_ns!r}")
        _check_uuid(self.event_id)
        for name in ("prev_hash", "hash"):
            value = getattr(self, name)
            if value and not _HEX64.fullmatch(value):
                raise AuditRecordError(f"{name} must be 64 lower-case hex digits, got {value!r}")
        set_ = object.__setattr__
        if type(self.event) is not AuditEvent:
            set_(self, "event", AuditEvent(self.event))
        side = self.side
        if side is not None and type(side) is not Side:
            set_(self, "side", Side(side))
        for name in ("strategy_id", "param_hash", "app_version", "git_sha"):
            value = getattr(self, name)
            if type(value) is not str:
                set_(self, name, str(value))
        for name in ("symbol", "reason", "client_order_id", "model_version"):
            value = getattr(self, name)
            if value is not None and type(value) is not str:
                set_(self, name, str(value))
        set_(self, "risk_snapshot", _jsonable(self.risk_snapshot, "risk_snapshot"))
        set_(self, "metadata", _jsonable(self.metadata, "metadata"))

    @property
    def sealed(self) -> bool:
        return bool(self.hash)

    def body(self) -> dict[str, Any]:
        """Every field but ``hash``: what the hash covers (``prev_hash`` included)."""
        out = {name: getattr(self, name) for name in _BODY}
        out["event"] = self.event.value
        out["side"] = None if self.side is None else self.side.value
        return out

    def to_json(self) -> str:
        """The stored line (without its newline): the canonical body plus ``hash``."""
        return canonical_json({**self.body(), "hash": self.hash})


def compute_hash(record: AuditRecord) -> str:
    """SHA-256 (hex) of the record's canonical body."""
    return hashlib.sha256(canonical_json(record.body()).encode("utf-8")).hexdigest()


def seal(record: AuditRecord, prev_hash: str) -> AuditRecord:
    """The record chained after ``prev_hash``, with its own hash.

    ``record`` was checked and frozen when it was built; its copy is not checked again (``replace`` would
    re-run ``__post_init__``, twice, for every record of every log): only ``prev_hash`` is new."""
    return seal_json(record, prev_hash)[0]


def seal_json(record: AuditRecord, prev_hash: str) -> tuple[AuditRecord, str]:
    """:func:`seal`, and the sealed record's stored line (``to_json``), from one encoding of the body.

    The line is the body's canonical text with ``"hash":...`` spliced in at its sorted place (after the
    string fields that sort before it); the splice is checked, and a body it does not fit (never
    expected) is encoded again whole."""
    if prev_hash and not _HEX64.fullmatch(prev_hash):
        raise AuditRecordError(f"prev_hash must be 64 lower-case hex digits, got {prev_hash!r}")
    chained = object.__new__(AuditRecord)
    set_ = object.__setattr__
    for name in _BODY:
        set_(chained, name, getattr(record, name))
    set_(chained, "prev_hash", prev_hash)
    body = chained.body()
    text = canonical_json(body)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    set_(chained, "hash", digest)
    before = [body[key] for key in _BEFORE_HASH]
    if all(value is None or type(value) is str for value in before):
        cut = 1 + sum(len(key) + 4 for key in _BEFORE_HASH)
        cut += sum(4 if value is None else len(_encode_str(value)) for value in before)
        if text[cut - 1] == "," and text.startswith(_AFTER_HASH, cut):
            return chained, f'{text[:cut]}"hash":"{digest}",{text[cut:]}'
    return chained, chained.to_json()


_FIELDS = frozenset(f.name for f in fields(AuditRecord))
_BODY = tuple(f.name for f in fields(AuditRecord) if f.name != "hash")  # in field order, as the hash expects
_BEFORE_HASH = tuple(sorted(name for name in _BODY if name < "hash"))  # text fields: app_version .. git_sha
_AFTER_HASH = '"' + min(name for name in _BODY if name > "hash") + '":'
_REQUIRED = frozenset({"event", "ts_ns", "strategy_id", "param_hash", "app_version", "git_sha", "event_id",
                       "schema_version", "prev_hash", "hash"})  # fmt: skip


def record_from_json(line: str | bytes) -> AuditRecord:
    """Parse one stored line; :class:`AuditRecordError` when it is not a schema-valid record.

    The stored ``hash`` is kept as is: whether it matches the body is ``verify``'s question.
    """
    try:
        data = json.loads(line, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as e:
        raise AuditRecordError(f"not JSON: {e}") from e
    if not isinstance(data, dict):
        raise AuditRecordError("not a JSON object")
    missing, unknown = _REQUIRED - data.keys(), data.keys() - _FIELDS
    if missing or unknown:
        raise AuditRecordError(f"missing fields {sorted(missing)}, unknown fields {sorted(unknown)}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise AuditRecordError(f"schema_version {data['schema_version']!r}; this code reads {SCHEMA_VERSION}")
    try:
        return AuditRecord(**data)
    except (TypeError, ValueError) as e:
        raise AuditRecordError(str(e)) from e


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is acting: filled into every record a process writes (strategy, parameters, build)."""

    strategy_id: str
    param_hash: str
    app_version: str
    git_sha: str
    model_version: str | None = None

    def record(self, event: AuditEvent, ts_ns: int, **fields_: Any) -> AuditRecord:
        """An unsealed record of ``event`` at ``ts_ns`` carrying this context."""
        return AuditRecord(event=event, ts_ns=ts_ns, strategy_id=self.strategy_id, param_hash=self.param_hash,
                           app_version=self.app_version, git_sha=self.git_sha, model_version=self.model_version,
                           **fields_)  # fmt: skip
