"""Deterministic client order ids (SPEC §4): the same intent always yields the same id.

That is what makes submission idempotent: after a crash, a replayed intent produces the id that
is already journaled (and possibly live at the venue), so it is looked up, never placed twice.
Binance accepts ``^[a-zA-Z0-9-_]{1,36}$`` for ``newClientOrderId``.
"""

from __future__ import annotations

import base64
import hashlib

from thunes.domain.enums import Side
from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol

__all__ = ["client_order_id"]

_PREFIX = "th"


def client_order_id(strategy_id: StrategyId, symbol: Symbol, side: Side, intent_key: str) -> ClientOrderId:
    """A 32-character id from the intent: who, what, which side, and the intent's own key.

    ``intent_key`` distinguishes intents of the same strategy, e.g. the open time of the bar whose
    close produced the signal plus an attempt number for deliberate re-entries.
    """
    if not intent_key:
        raise ValueError("intent_key must not be empty")
    digest = hashlib.sha256(f"{strategy_id}|{symbol}|{side.value}|{intent_key}".encode()).digest()
    text = base64.b32encode(digest[:20]).decode().lower()  # the first 30 of its 32 letters: 150 bits of the hash
    return ClientOrderId(f"{_PREFIX}{text[:30]}")
