"""One input line to an :class:`RLAction`, or to the REJECTED :class:`Decision` that says why not.

Never raises on input: a stream of actions (``thunes shadow`` reading stdin) must answer every line,
in order, and keep going, whatever a line holds (truncated JSON, a megabyte of garbage, NaN, a field
THUNES does not know, a symbol it does not trade). Reason codes:

- ``LINE_TOO_LONG``: more than ``max_bytes`` (checked before any parsing);
- ``INVALID_JSON``: not one JSON object;
- ``UNKNOWN_FIELD``, ``NOT_FINITE`` (NaN, infinities), ``NON_POSITIVE_QUANTITY``, ``INVALID_FIELD``
  (anything else the schema refuses: a wrong type, a missing field, a LIMIT without a price);
- ``UNKNOWN_SYMBOL``: valid, but not a symbol this adapter trades.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from thunes.rl.schemas import Decision, DecisionStatus, Gate, Mode, RLAction, action_id_of

__all__ = ["line_id", "parse_action", "rejected_line"]

_BY_ERROR = {"extra_forbidden": "UNKNOWN_FIELD", "finite_number": "NOT_FINITE", "json_invalid": "INVALID_JSON",
             "model_type": "INVALID_JSON", "model_attributes_type": "INVALID_JSON"}  # fmt: skip
_DETAIL_CHARS = 300


def line_id(raw: bytes) -> str:
    """The id of a line that is no action: SHA-256 (32 hex) of its bytes, so a replayed bad line has one id."""
    return hashlib.sha256(raw).hexdigest()[:32]


def rejected_line(raw: bytes, reason: str, detail: str, *, mode: Mode, param_hash: str, now_ns: int,
                  line_no: int | None = None) -> Decision:  # fmt: skip
    """The REJECTED decision of a line that is not a valid action."""
    return Decision(action_id=line_id(raw), status=DecisionStatus.REJECTED, gate=Gate.PARSE, reason=reason,
                    detail=detail[:_DETAIL_CHARS], mode=mode, param_hash=param_hash, line=line_no,
                    ts_ns=now_ns)  # fmt: skip


def _reason(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind in _BY_ERROR:
        return _BY_ERROR[kind]
    if kind.startswith("greater_than") and tuple(error.get("loc", ()))[:1] == ("qty_value",):
        return "NON_POSITIVE_QUANTITY"
    return "INVALID_FIELD"


def parse_action(line: str | bytes, *, symbols: Collection[str], mode: Mode, param_hash: str, now_ns: int,
                 line_no: int | None = None, max_bytes: int = 65_536) -> RLAction | Decision:  # fmt: skip
    """``line`` as an action of one of ``symbols``, or the REJECTED decision (gate PARSE) saying why."""
    raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
    stamp: dict[str, Any] = {"mode": mode, "param_hash": param_hash, "now_ns": now_ns, "line_no": line_no}
    if len(raw) > max_bytes:
        return rejected_line(raw, "LINE_TOO_LONG", f"{len(raw)} bytes > {max_bytes}", **stamp)
    try:
        action = RLAction.model_validate_json(raw)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_input=False)
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "line"
        return rejected_line(raw, _reason(first), f"{where}: {first.get('msg', str(e))}", **stamp)
    except (ValueError, UnicodeError) as e:  # pydantic reports bad JSON as a ValidationError; belt and braces
        return rejected_line(raw, "INVALID_JSON", str(e), **stamp)
    if action.symbol not in symbols:
        decision = rejected_line(raw, "UNKNOWN_SYMBOL", f"{action.symbol} is not traded here", **stamp)
        return decision.model_copy(update={"action_id": action_id_of(action), "policy_id": action.policy_id,
                                           "model_version": action.model_version, "symbol": action.symbol,
                                           "side": action.side})  # fmt: skip
    return action
