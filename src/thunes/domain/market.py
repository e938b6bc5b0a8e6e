"""Market data events: bars, trades, quotes and depth, with ``Decimal`` prices and ns timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol

__all__ = ["Bar", "BookLevel", "DepthSnapshot", "DepthUpdate", "QuoteTick", "Timeframe", "TradeTick"]

_NS_PER_MINUTE = 60 * 1_000_000_000


class Timeframe(StrEnum):
    """Kline intervals as Binance names them (``enums.md``, Kline/Candlestick chart intervals)."""

    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H8 = "8h"
    H12 = "12h"
    D1 = "1d"

    @property
    def nanoseconds(self) -> int:
        return _MINUTES[self] * _NS_PER_MINUTE

    @property
    def periods_per_year(self) -> float:
        """Candles in 365 days, for annualising (crypto trades every day)."""
        return 365 * 24 * 60 / _MINUTES[self]

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Parse ``"1h"``; raises ``ValueError`` listing the valid intervals."""
        try:
            return cls(text)
        except ValueError:
            valid = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown timeframe {text!r}; expected one of {valid}") from None


_MINUTES = {
    Timeframe.M1: 1,
    Timeframe.M3: 3,
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.M30: 30,
    Timeframe.H1: 60,
    Timeframe.H2: 120,
    Timeframe.H4: 240,
    Timeframe.H6: 360,
    Timeframe.H8: 480,
    Timeframe.H12: 720,
    Timeframe.D1: 1440,
}


@dataclass(frozen=True, slots=True)
class Bar:
    """A closed candle. ``open_time_ns`` is the candle open; it closes one timeframe later."""

    symbol: Symbol
    timeframe: Timeframe
    open_time_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def __post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise ValueError(f"inconsistent bar {self.symbol} @ {self.open_time_ns}: low/high do not bound open/close")
        if self.volume < 0:
            raise ValueError("bar volume must be >= 0")

    @property
    def close_time_ns(self) -> int:
        return self.open_time_ns + self.timeframe.nanoseconds


@dataclass(frozen=True, slots=True)
class TradeTick:
    """One public trade. ``aggressor`` is the taker side (Binance ``m`` true means the seller took)."""

    symbol: Symbol
    trade_id: int
    price: Decimal
    quantity: Decimal
    aggressor: Side
    ts_ns: int


@dataclass(frozen=True, slots=True)
class QuoteTick:
    """Best bid and offer (Binance ``bookTicker``)."""

    symbol: Symbol
    bid_price: Decimal
    bid_quantity: Decimal
    ask_price: Decimal
    ask_quantity: Decimal
    ts_ns: int
    update_id: int = 0


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level; quantity zero in a diff means "remove the level"."""

    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST depth snapshot (``lastUpdateId`` anchors the diff stream)."""

    symbol: Symbol
    last_update_id: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts_ns: int


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """A depth diff covering update ids ``first_update_id..final_update_id`` (Binance ``U``/``u``)."""

    symbol: Symbol
    first_update_id: int
    final_update_id: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts_ns: int
