"""Candles the venue has already published, served as ``GET /api/v3/klines`` rows.

Only closed bars and the bar in progress are known: a client can never fetch a candle from the
replay's future. Larger intervals are aggregated from the replay's own timeframe.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.market import Bar, Timeframe

__all__ = ["Candle", "CandleHistory", "kline_row"]

NS_PER_MS = 1_000_000


@dataclass(slots=True)
class Candle:
    open_ms: int
    close_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_volume: Decimal
    taker_buy_quote: Decimal
    closed: bool


def kline_row(c: Candle) -> list[int | str]:
    """The 12-field array Binance returns (rest-api.md, Kline/Candlestick data)."""
    return [
        c.open_ms, str(c.open), str(c.high), str(c.low), str(c.close), str(c.volume), c.close_ms,
        str(c.quote_volume), c.trades, str(c.taker_buy_volume), str(c.taker_buy_quote), "0",
    ]  # fmt: skip


class CandleHistory:
    """Closed bars per symbol at the replay timeframe, plus the bar being formed by trades."""

    def __init__(self, timeframe: Timeframe) -> None:
        self.timeframe = timeframe
        self._closed: dict[str, list[Candle]] = defaultdict(list)
        self._forming: dict[str, Candle] = {}

    def on_trade(self, symbol: str, ts_ns: int, price: Decimal, qty: Decimal, buyer_is_maker: bool) -> Candle:
        """Fold a trade into the forming candle (started at the timeframe boundary) and return it."""
        span = self.timeframe.nanoseconds
        open_ns = ts_ns - ts_ns % span
        candle = self._forming.get(symbol)
        if candle is None or candle.open_ms != open_ns // NS_PER_MS:
            candle = Candle(open_ns // NS_PER_MS, (open_ns + span) // NS_PER_MS - 1, price, price, price, price,
                            Decimal(0), Decimal(0), 0, Decimal(0), Decimal(0), closed=False)  # fmt: skip
            self._forming[symbol] = candle
        candle.high = max(candle.high, price)
        candle.low = min(candle.low, price)
        candle.close = price
        candle.volume += qty
        candle.quote_volume += price * qty
        candle.trades += 1
        if not buyer_is_maker:
            candle.taker_buy_volume += qty
            candle.taker_buy_quote += price * qty
        return candle

    def on_bar_closed(self, symbol: str, bar: Bar) -> Candle:
        """Record the recorded bar as closed (its true OHLCV wins over the synthesised trades)."""
        forming = self._forming.pop(symbol, None)
        open_ms = bar.open_time_ns // NS_PER_MS
        candle = Candle(open_ms, bar.close_time_ns // NS_PER_MS - 1, bar.open, bar.high, bar.low, bar.close,
                        bar.volume, forming.quote_volume if forming else Decimal(0),
                        forming.trades if forming else 0, forming.taker_buy_volume if forming else Decimal(0),
                        forming.taker_buy_quote if forming else Decimal(0), closed=True)  # fmt: skip
        self._closed[symbol].append(candle)
        return candle

    def klines(
        self, symbol: str, interval: Timeframe, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[Candle]:
        """Candles of ``interval`` (a multiple of the replay timeframe), oldest first, at most ``limit``."""
        if interval.nanoseconds % self.timeframe.nanoseconds:
            raise ValueError(f"interval {interval.value} is not a multiple of the replay timeframe")
        base = list(self._closed.get(symbol, []))
        if symbol in self._forming:
            base.append(self._forming[symbol])
        rows = base if interval is self.timeframe else _aggregate(base, interval.nanoseconds // NS_PER_MS)
        if start_ms is not None:
            rows = [c for c in rows if c.open_ms >= start_ms]
        if end_ms is not None:
            rows = [c for c in rows if c.open_ms <= end_ms]
        return rows[:limit] if start_ms is not None else rows[-limit:]


def _aggregate(candles: list[Candle], span_ms: int) -> list[Candle]:
    out: list[Candle] = []
    for c in candles:
        bucket = c.open_ms - c.open_ms % span_ms
        if out and out[-1].open_ms == bucket:
            agg = out[-1]
            agg.high, agg.low, agg.close = max(agg.high, c.high), min(agg.low, c.low), c.close
            agg.volume += c.volume
            agg.quote_volume += c.quote_volume
            agg.trades += c.trades
            agg.taker_buy_volume += c.taker_buy_volume
            agg.taker_buy_quote += c.taker_buy_quote
            agg.closed = c.closed and c.close_ms == bucket + span_ms - 1
        else:
            out.append(Candle(bucket, bucket + span_ms - 1, c.open, c.high, c.low, c.close, c.volume,
                              c.quote_volume, c.trades, c.taker_buy_volume, c.taker_buy_quote,
                              c.closed and c.close_ms == bucket + span_ms - 1))  # fmt: skip
    return out
