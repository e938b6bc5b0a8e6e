"""Engine messages as JetStream messages: a subject ``thunes.<venue>.<symbol>.<kind>``, a message id
for de-duplication and a JSON payload.

The id is ``<run>-<n>``: ``run`` is new for every publisher (a process start), ``n`` counts its
messages, so two runs never share an id while a re-send of the same spooled message (after an outage
or a crash) carries the same id and JetStream drops it as a duplicate. The symbol of an event that
does not name one (``OrderAccepted``, ``OrderCanceled``) is its order's, remembered from the order's
earlier messages; an account-wide message (a daily summary) goes on symbol ``_``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

__all__ = ["ACCOUNT_WIDE", "SUBJECT_PREFIX", "Encoder", "Envelope", "plain", "subject_token"]

SUBJECT_PREFIX = "thunes"
ACCOUNT_WIDE = "_"  # the symbol token of a message about the whole account
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # NATS tokens may not hold '.', '*', '>' or whitespace
_REMEMBERED = 100_000  # client order ids whose symbol is kept (the oldest half is forgotten beyond)


class Envelope(NamedTuple):
    """One message ready for JetStream."""

    msg_id: str
    subject: str
    payload: bytes


def subject_token(text: str) -> str:
    """``text`` as one subject token: characters NATS reserves become ``_``; empty is ``_``."""
    return _UNSAFE.sub("_", text) or ACCOUNT_WIDE


def _default(value: Any) -> Any:
    """What orjson does not write itself (it does dataclasses, enums, dicts, lists and numbers):
    Decimal as its exact string, other mappings and sets as objects and lists; anything else by ``str``."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def plain(value: Any) -> Any:
    """``value`` as the JSON data the bus publishes (a round trip through the encoder)."""
    return orjson.loads(_dumps(value))


def _symbol_of(message: object) -> str | None:
    symbol = getattr(message, "symbol", None)
    if symbol is None:
        for part in ("request", "fill", "order"):
            symbol = getattr(getattr(message, part, None), "symbol", None)
            if symbol is not None:
                break
    return None if symbol is None else str(symbol)


class Encoder:
    """Turns messages into :class:`Envelope`s, numbering them in the order it is called (callers
    serialise calls: the publisher does, under its lock)."""

    def __init__(self, venue: str, run: str | None = None, prefix: str = SUBJECT_PREFIX) -> None:
        self.venue = subject_token(venue)
        self.prefix = prefix
        self.run = run or uuid.uuid4().hex[:16]
        self.count = 0
        self._symbols: dict[str, str] = {}  # client order id -> symbol token

    def encode(self, message: object) -> Envelope:
        """The next envelope: ``message``'s subject, a new id, and its JSON."""
        self.count += 1
        msg_id = f"{self.run}-{self.count}"
        kind = type(message).__name__
        venue = getattr(message, "venue", None)
        venue_token = self.venue if venue is None else subject_token(str(venue))
        symbol = self._symbol(message)
        body = {"id": msg_id, "kind": kind, "venue": venue_token, "symbol": symbol, "message": message}
        payload = _dumps(body)
        return Envelope(msg_id, f"{self.prefix}.{venue_token}.{symbol}.{subject_token(kind)}", payload)

    def _symbol(self, message: object) -> str:
        named = _symbol_of(message)
        order = getattr(message, "client_order_id", None)
        if named is not None:
            token = subject_token(named)
            if order is not None:
                if len(self._symbols) >= _REMEMBERED:
                    for old in list(self._symbols)[: _REMEMBERED // 2]:
                        del self._symbols[old]
                self._symbols[str(order)] = token
            return token
        if order is not None:
            return self._symbols.get(str(order), ACCOUNT_WIDE)
        return ACCOUNT_WIDE
