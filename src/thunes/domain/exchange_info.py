"""Parse a Binance ``GET /api/v3/exchangeInfo`` payload (already decoded JSON) into instruments.

Pure: the caller reads the file or the HTTP response. Every problem raises
:class:`ExchangeInfoError` naming the JSON path, e.g. ``symbols[3].filters[1].tickSize``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from thunes.domain.enums import OrderType
from thunes.domain.identifiers import IdentifierError, Symbol
from thunes.domain.instrument import (
    Instrument,
    LotSizeFilter,
    MaxNumOrdersFilter,
    MaxPositionFilter,
    MinNotionalFilter,
    NotionalFilter,
    PercentPriceBySideFilter,
    PercentPriceFilter,
    PriceFilter,
)

__all__ = ["ExchangeInfo", "ExchangeInfoError", "RateLimit", "parse_exchange_info", "parse_symbol"]


class ExchangeInfoError(ValueError):
    """exchangeInfo that cannot be trusted: the message names the offending JSON path."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One entry of ``rateLimits``: e.g. REQUEST_WEIGHT 6000 per 1 MINUTE."""

    rate_limit_type: str
    interval: str
    interval_num: int
    limit: int


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    """Instruments by symbol plus the venue-wide rate limits."""

    instruments: Mapping[Symbol, Instrument]
    rate_limits: tuple[RateLimit, ...]
    server_time_ms: int | None

    def trading(self) -> list[Instrument]:
        """Instruments whose status is TRADING."""
        return [i for i in self.instruments.values() if i.is_trading]

    def get(self, symbol: str) -> Instrument:
        """The instrument for ``symbol``; ``KeyError`` with a readable message when unknown."""
        try:
            return self.instruments[Symbol(symbol)]
        except (KeyError, IdentifierError):
            raise KeyError(f"unknown symbol {symbol!r}") from None


class _Reader:
    """Typed accessors over a JSON object that report the full path on failure."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ExchangeInfoError(f"{path or '<root>'}: expected an object, got {type(data).__name__}")
        self._data: Mapping[str, Any] = data
        self._path = path

    def _at(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def raw(self, key: str) -> Any:
        if key not in self._data:
            raise ExchangeInfoError(f"{self._at(key)}: missing")
        return self._data[key]

    def has(self, key: str) -> bool:
        return key in self._data

    def decimal(self, key: str, default: Decimal | None = None) -> Decimal:
        if default is not None and key not in self._data:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ExchangeInfoError(f"{self._at(key)}: expected a decimal string, got {value!r}")
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            raise ExchangeInfoError(f"{self._at(key)}: not a decimal: {value!r}") from None
        if not result.is_finite() or result < 0:
            raise ExchangeInfoError(f"{self._at(key)}: must be a finite number >= 0, got {value!r}")
        return result

    def integer(self, key: str, default: int | None = None) -> int:
        if default is not None and key not in self._data:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExchangeInfoError(f"{self._at(key)}: expected an integer, got {value!r}")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        if default is not None and key not in self._data:
            return default
        value = self.raw(key)
        if not isinstance(value, bool):
            raise ExchangeInfoError(f"{self._at(key)}: expected true or false, got {value!r}")
        return value

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value:
            raise ExchangeInfoError(f"{self._at(key)}: expected a non-empty string, got {value!r}")
        return value

    def array(self, key: str) -> Sequence[Any]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise ExchangeInfoError(f"{self._at(key)}: expected an array, got {type(value).__name__}")
        return value


def _lot(r: _Reader) -> LotSizeFilter:
    return LotSizeFilter(r.decimal("minQty"), r.decimal("maxQty"), r.decimal("stepSize"))


def _apply_filter(r: _Reader, kind: str, fields: dict[str, Any]) -> bool:
    """Store the parsed filter in ``fields``; False for a filter type this model does not enforce."""
    if kind == "PRICE_FILTER":
        fields["price_filter"] = PriceFilter(r.decimal("minPrice"), r.decimal("maxPrice"), r.decimal("tickSize"))
    elif kind == "LOT_SIZE":
        fields["lot_size"] = _lot(r)
    elif kind == "MARKET_LOT_SIZE":
        fields["market_lot_size"] = _lot(r)
    elif kind == "MIN_NOTIONAL":
        fields["min_notional"] = MinNotionalFilter(
            r.decimal("minNotional"), r.boolean("applyToMarket", True), r.integer("avgPriceMins", 5)
        )
    elif kind == "NOTIONAL":
        fields["notional"] = NotionalFilter(
            r.decimal("minNotional"),
            r.boolean("applyMinToMarket"),
            r.decimal("maxNotional"),
            r.boolean("applyMaxToMarket"),
            r.integer("avgPriceMins"),
        )
    elif kind == "PERCENT_PRICE":
        fields["percent_price"] = PercentPriceFilter(
            r.decimal("multiplierUp"), r.decimal("multiplierDown"), r.integer("avgPriceMins")
        )
    elif kind == "PERCENT_PRICE_BY_SIDE":
        fields["percent_price_by_side"] = PercentPriceBySideFilter(
            r.decimal("bidMultiplierUp"),
            r.decimal("bidMultiplierDown"),
            r.decimal("askMultiplierUp"),
            r.decimal("askMultiplierDown"),
            r.integer("avgPriceMins"),
        )
    elif kind == "MAX_NUM_ORDERS":
        fields["max_num_orders"] = MaxNumOrdersFilter(r.integer("maxNumOrders"))
    elif kind == "MAX_POSITION":
        fields["max_position"] = MaxPositionFilter(r.decimal("maxPosition"))
    else:
        return False
    return True


def _order_types(r: _Reader) -> frozenset[OrderType]:
    known = {t.value for t in OrderType}
    return frozenset(OrderType(t) for t in r.array("orderTypes") if t in known)


def parse_symbol(data: object, path: str = "symbol") -> Instrument:
    """One element of ``symbols``; PRICE_FILTER and LOT_SIZE are mandatory."""
    r = _Reader(data, path)
    name = r.text("symbol")
    try:
        symbol = Symbol(name)
    except IdentifierError as e:
        raise ExchangeInfoError(f"{path}.symbol: {e}") from None
    fields: dict[str, Any] = {}
    unknown: list[str] = []
    for i, raw_filter in enumerate(r.array("filters")):
        fr = _Reader(raw_filter, f"{path}.filters[{i}]")
        kind = fr.text("filterType")
        if not _apply_filter(fr, kind, fields):
            unknown.append(kind)
    for required in ("price_filter", "lot_size"):
        if required not in fields:
            raise ExchangeInfoError(f"{path} ({name}): no {required.upper()} filter")
    return Instrument(
        symbol=symbol,
        base_asset=r.text("baseAsset"),
        quote_asset=r.text("quoteAsset"),
        status=r.text("status"),
        base_precision=r.integer("baseAssetPrecision", 8),
        quote_precision=r.integer("quoteAssetPrecision", r.integer("quotePrecision", 8)),
        order_types=_order_types(r),
        quote_order_qty_market_allowed=r.boolean("quoteOrderQtyMarketAllowed", False),
        unknown_filters=tuple(unknown),
        **fields,
    )


def parse_exchange_info(data: object) -> ExchangeInfo:
    """The whole payload; raises :class:`ExchangeInfoError` on the first malformed element."""
    r = _Reader(data, "")
    instruments: dict[Symbol, Instrument] = {}
    for i, raw_symbol in enumerate(r.array("symbols")):
        instrument = parse_symbol(raw_symbol, f"symbols[{i}]")
        instruments[instrument.symbol] = instrument
    limits: list[RateLimit] = []
    if r.has("rateLimits"):
        for i, raw_limit in enumerate(r.array("rateLimits")):
            lr = _Reader(raw_limit, f"rateLimits[{i}]")
            limits.append(
                RateLimit(lr.text("rateLimitType"), lr.text("interval"), lr.integer("intervalNum"), lr.integer("limit"))
            )
    server_time = r.integer("serverTime") if r.has("serverTime") else None
    return ExchangeInfo(instruments, tuple(limits), server_time)
