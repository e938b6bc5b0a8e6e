"""Typed identifiers: distinct ``str`` subtypes so a symbol is never passed where an order id belongs.

Each validates on construction, so a malformed id fails where it is made, not at the venue.
"""

from __future__ import annotations

import re
from typing import ClassVar, TypeVar

__all__ = [
    "ClientOrderId",
    "IdentifierError",
    "StrategyId",
    "Symbol",
    "VenueId",
    "VenueOrderId",
    "valid_by_construction",
]

IdT = TypeVar("IdT", bound="_Identifier")


class IdentifierError(ValueError):
    """An identifier that does not match its format."""


class _Identifier(str):
    """Base for validated string identifiers."""

    pattern: ClassVar[re.Pattern[str]] = re.compile(r"^.+$")
    kind: ClassVar[str] = "identifier"

    __slots__ = ()

    def __new__(cls, value: str) -> _Identifier:
        if not isinstance(value, str) or not cls.pattern.fullmatch(value):
            raise IdentifierError(f"invalid {cls.kind} {value!r}: must match {cls.pattern.pattern}")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class VenueId(_Identifier):
    """A venue name, lower-case: ``binance``, ``binance-testnet``, ``sim``."""

    pattern = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
    kind = "venue id"
    __slots__ = ()


class Symbol(_Identifier):
    """An exchange symbol in Binance form, upper-case without separator: ``BTCUSDT``."""

    pattern = re.compile(r"^[A-Z0-9]{2,20}$")
    kind = "symbol"
    __slots__ = ()


class ClientOrderId(_Identifier):
    """``newClientOrderId`` as Binance accepts it: ``^[a-zA-Z0-9-_]{1,36}$`` (rest-api.md)."""

    pattern = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
    kind = "client order id"
    __slots__ = ()


class VenueOrderId(_Identifier):
    """The venue's own order id (Binance ``orderId``, a decimal integer as text)."""

    pattern = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
    kind = "venue order id"
    __slots__ = ()


class StrategyId(_Identifier):
    """A strategy instance name, e.g. ``sma-20-50``."""

    pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    kind = "strategy id"
    __slots__ = ()


def valid_by_construction(kind: type[IdT], value: str) -> IdT:
    """``kind(value)`` without the format check, for text that cannot break the format: built from the
    format's own alphabet (a hashed client order id), or a venue's integer order id. Every order makes
    a few; the check is most of what making one costs. Callers' tests hold their text to the format."""
    return str.__new__(kind, value)
