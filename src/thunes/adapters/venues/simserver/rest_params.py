"""Request parameters parsed strictly, rejected with Binance's own codes and messages (errors.md, 11xx).

Binance reads parameters from the query string and, for POST/PUT/DELETE, from an
``application/x-www-form-urlencoded`` body; a name sent in both is taken from the query string
(rest-api.md, "General Information on Endpoints"). A name repeated within one of them is -1101,
a name the endpoint does not read is -1104, a malformed value is -1100 and a missing one -1102.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import parse_qsl

from thunes.simvenue import errors as err
from thunes.simvenue.errors import VenueError

__all__ = ["DECIMAL_RANGE", "SYMBOL_RANGE", "Params", "invalid"]

DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
LONG_RANGE = r"^[0-9]{1,20}$"
SYMBOL_RANGE = r"^[A-Z0-9-_.]{1,20}$"
_SYMBOLS_RANGE = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
_DECIMAL = re.compile(DECIMAL_RANGE)
_LONG = re.compile(LONG_RANGE)
_SYMBOL = re.compile(SYMBOL_RANGE)


def invalid(name: str) -> VenueError:
    """-1130: a well-formed value this endpoint does not accept."""
    return VenueError(-1130, f"Data sent for parameter '{name}' is not valid.")


def _pairs(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name in out:
            raise VenueError(-1101, "Duplicate values for a parameter detected.")
        out[name] = value
    return out


class Params:
    """The parameters of one request; every getter validates the value it returns."""

    def __init__(self, query: str = "", body: str = "") -> None:
        self._values = {**_pairs(body), **_pairs(query)}  # query string wins on a clash

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def only(self, accepted: Iterable[str]) -> None:
        """-1104 when a parameter is sent that the endpoint never reads."""
        sent = len(self._values)
        read = len(self.names & frozenset(accepted))
        if read < sent:
            raise VenueError(
                -1104, f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'."
            )

    def text(self, name: str, *, required: bool = False) -> str | None:
        """The raw value; empty counts as missing for a mandatory parameter (-1102), else -1105."""
        value = self._values.get(name)
        if value is None or value == "":
            if required:
                raise err.mandatory(name)
            if value == "":
                raise VenueError(-1105, f"Parameter '{name}' was empty.")
            return None
        return value

    def require(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def symbol(self, known: Iterable[str], name: str = "symbol") -> str:
        """A mandatory symbol: -1100 outside Binance's character range, -1121 when not listed."""
        value = self.require(name)
        return _check_symbol(value, name, known)

    def optional_symbol(self, known: Iterable[str]) -> str | None:
        return None if "symbol" not in self._values else self.symbol(known)

    def symbols(self, known: Iterable[str], name: str = "symbols") -> list[str] | None:
        """A JSON array of symbols (``["BTCUSDT","ETHUSDT"]``); -1100 when malformed, -1121 when unknown."""
        value = self.text(name)
        if value is None:
            return None
        compact = value.replace(" ", "")
        if not re.fullmatch(_SYMBOLS_RANGE, compact):
            raise err.illegal_chars(name, _SYMBOLS_RANGE)
        listed: list[str] = json.loads(compact)
        if len(set(listed)) != len(listed):
            raise VenueError(-1151, "Symbol is present multiple times in the list.")
        names = set(known)
        if any(s not in names for s in listed):
            raise err.bad_symbol()
        return listed

    def decimal(self, name: str, *, places: int | None = None, required: bool = False) -> Decimal | None:
        """A plain decimal string; -1111 with more significant decimals than ``places``."""
        value = self.text(name, required=required)
        if value is None:
            return None
        if not _DECIMAL.fullmatch(value):
            raise err.illegal_chars(name, DECIMAL_RANGE)
        number = Decimal(value)
        if places is not None and "." in value and len(value.split(".")[1].rstrip("0")) > places:
            raise err.bad_precision(name)
        return number

    def long(self, name: str, *, required: bool = False) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not _LONG.fullmatch(value):
            raise err.illegal_chars(name, LONG_RANGE)
        return int(value)

    def limit(self, default: int, maximum: int) -> int:
        """``limit``: at least 1 (-1130), at most ``maximum`` (larger values are capped, as ``/depth`` does)."""
        value = self.long("limit")
        if value is None:
            return default
        if value < 1:
            raise invalid("limit")
        return min(value, maximum)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise err.illegal_chars(name, "true, false")
        return value.lower() == "true"

    def choice(self, name: str, allowed: Iterable[str], error: VenueError, *, required: bool = False) -> str | None:
        """An enum value; ``error`` (e.g. -1117 Invalid side.) when it is not one of ``allowed``."""
        value = self.text(name, required=required)
        if value is None:
            return None
        if value not in frozenset(allowed):
            raise error
        return value


def _check_symbol(value: str, name: str, known: Iterable[str]) -> str:
    if not _SYMBOL.fullmatch(value):
        raise err.illegal_chars(name, SYMBOL_RANGE)
    if value not in frozenset(known):
        raise err.bad_symbol()
    return value
