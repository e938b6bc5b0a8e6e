"""Deterministic client order ids (SPEC §4): the same intent always yields the same id.

That is what makes submission idempotent: after a crash, a replayed intent produces the id that
is already journaled (and possibly live at the venue), so it is looked up, never placed twice.
Binance accepts ``^[a-zA-Z0-9-_]{1,36}$`` for ``newClientOrderId``.
"""

from __future__ import annotations

import hashlib

from thunes.domain.enums import Side
from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol, valid_by_construction

__all__ = ["client_order_id", "next_round_id"]

_PREFIX = "th"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower-cased
_TRIPLES = [a + b + c for a in _ALPHABET for b in _ALPHABET for c in _ALPHABET]  # 15 bits -> three letters
_SHIFTS = range(135, -1, -15)  # the 10 letter triples of 150 bits, most significant first


def client_order_id(strategy_id: StrategyId, symbol: Symbol, side: Side, intent_key: str) -> ClientOrderId:
    """A 32-character id from the intent: who, what, which side, and the intent's own key.

    ``intent_key`` distinguishes intents of the same strategy, e.g. the open time of the bar whose
    close produced the signal plus an attempt number for deliberate re-entries.
    """
    if not intent_key:
        raise ValueError("intent_key must not be empty")
    return _encode(f"{strategy_id}|{symbol}|{side!s}|{intent_key}")  # a StrEnum: str() is its value


def _encode(text: str) -> ClientOrderId:
    digest = hashlib.sha256(text.encode()).digest()
    # The first 30 letters of the lower-cased base32 of digest[:20] (150 bits of the hash), built from one
    # integer: base64.b32encode is pure Python on 3.11 and cost more than the hash on every order.
    bits = int.from_bytes(digest[:19], "big") >> 2
    # "th" and 30 letters of the base32 alphabet: Binance's format by construction (tests hold it).
    return valid_by_construction(
        ClientOrderId, _PREFIX + "".join([_TRIPLES[(bits >> shift) & 32767] for shift in _SHIFTS])
    )


def next_round_id(previous: ClientOrderId) -> ClientOrderId:
    """The id of the next round of an order whose round ``previous`` is final and never placed (an
    exit given up or refused, tried again): derived from it alone, so a restart that finds the round
    journaled derives the same next id, and each round stays idempotent under its own id."""
    return _encode(f"{previous}|next-round")
