"""Candles the venue has already published, served as ``GET /api/v3/klines`` rows.

Only closed bars and the bar in progress are known: a client can never fetch a candle from the
replay's future. Every Binance interval (``enums.md``: 1s..1M) that is a whole number of the
replay's own candles is aggregated from them, exactly (Decimal sums, integer trade counts), in
UTC buckets as Binance draws them: fixed spans from the Unix epoch (a day at 00:00, 3d every
third day since 1970-01-01), weeks from Monday 00:00, months from the first of the month. A finer
interval than the replay's is refused (the server answers -1120, "Invalid interval.").
"""

from __future__ import annotations

import bisect
import decimal
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from thunes.domain.market import Bar, Timeframe

__all__ = ["KLINE_INTERVALS", "Candle", "CandleHistory", "bucket_ms", "kline_row", "served_intervals"]

NS_PER_MS = 1_000_000
_MINUTE_MS, _DAY_MS = 60_000, 86_400_000
_MONTH = "1M"
# Binance's kline intervals and their fixed length in ms (1M: a calendar month, 28..31 days).
KLINE_INTERVALS: dict[str, int] = {
    "1s": 1000, "1m": _MINUTE_MS, "3m": 3 * _MINUTE_MS, "5m": 5 * _MINUTE_MS, "15m": 15 * _MINUTE_MS,
    "30m": 30 * _MINUTE_MS, "1h": 60 * _MINUTE_MS, "2h": 120 * _MINUTE_MS, "4h": 240 * _MINUTE_MS,
    "6h": 360 * _MINUTE_MS, "8h": 480 * _MINUTE_MS, "12h": 720 * _MINUTE_MS, "1d": _DAY_MS, "3d": 3 * _DAY_MS,
    "1w": 7 * _DAY_MS, _MONTH: 31 * _DAY_MS,
}  # fmt: skip
_WEEK_ORIGIN_MS = 4 * _DAY_MS  # 1970-01-05, the first Monday after the epoch (a Thursday)
_EXACT = decimal.Context(prec=80)  # sums of many 8-decimal volumes and quote volumes stay exact


def bucket_ms(interval: str, t_ms: int) -> tuple[int, int]:
    """Open and close time (ms, close = next open - 1) of the ``interval`` candle holding ``t_ms``."""
    if interval == _MONTH:
        moment = datetime.fromtimestamp(t_ms // 1000, UTC)
        start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
        return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000 - 1
    span = KLINE_INTERVALS[interval]
    origin = _WEEK_ORIGIN_MS if interval == "1w" else 0
    open_ms = t_ms - (t_ms - origin) % span
    return open_ms, open_ms + span - 1


def _derivable(interval: str, base: Timeframe) -> bool:
    """Whether ``interval`` candles are whole numbers of ``base`` candles (so exact from them)."""
    base_ms = base.nanoseconds // NS_PER_MS
    if interval == _MONTH:  # months start at 00:00 UTC: every base dividing a day fits
        return _DAY_MS % base_ms == 0
    span = KLINE_INTERVALS[interval]
    origin = _WEEK_ORIGIN_MS if interval == "1w" else 0
    return span % base_ms == 0 and origin % base_ms == 0


def served_intervals(base: Timeframe) -> tuple[str, ...]:
    """The intervals a replay of ``base`` candles serves, shortest first."""
    return tuple(i for i in KLINE_INTERVALS if _derivable(i, base))


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

    def klines(self, symbol: str, interval: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[Candle]:
        """Candles of ``interval`` opening in ``[start_ms, end_ms]``, oldest first, at most ``limit``: the
        first ones from ``start_ms``, else the last ones. ValueError when not derivable from the replay's."""
        if interval not in KLINE_INTERVALS or not _derivable(interval, self.timeframe):
            raise ValueError(f"interval {interval} is not a whole number of {self.timeframe.value} candles")
        base = self._closed.get(symbol, [])
        forming = self._forming.get(symbol)
        opens = [c.open_ms for c in base]  # sorted: bars close in order
        first = 0 if start_ms is None else bisect.bisect_left(opens, bucket_ms(interval, start_ms)[0])
        last = len(base) if end_ms is None else bisect.bisect_right(opens, bucket_ms(interval, end_ms)[1])
        if start_ms is None:  # the last ``limit`` buckets: enough base candles for them, and one partial bucket
            per_bucket = -(-KLINE_INTERVALS[interval] // (self.timeframe.nanoseconds // NS_PER_MS))
            first = max(0, last - (limit + 1) * per_bucket)
        window = base[first:last]
        if (
            forming is not None
            and last == len(base)
            and (end_ms is None or forming.open_ms <= bucket_ms(interval, end_ms)[1])
        ):
            window = [*window, forming]
        rows = window if interval == self.timeframe.value else _aggregate(window, interval)
        if start_ms is not None:
            rows = [c for c in rows if c.open_ms >= start_ms]
        if end_ms is not None:
            rows = [c for c in rows if c.open_ms <= end_ms]
        return rows[:limit] if start_ms is not None else rows[-limit:]


def _aggregate(candles: list[Candle], interval: str) -> list[Candle]:
    """Fold consecutive base candles into ``interval`` buckets (exact Decimal sums)."""
    out: list[Candle] = []
    with decimal.localcontext(_EXACT):
        for c in candles:
            bucket, close_ms = bucket_ms(interval, c.open_ms)
            if out and out[-1].open_ms == bucket:
                agg = out[-1]
                agg.high, agg.low, agg.close = max(agg.high, c.high), min(agg.low, c.low), c.close
                agg.volume += c.volume
                agg.quote_volume += c.quote_volume
                agg.trades += c.trades
                agg.taker_buy_volume += c.taker_buy_volume
                agg.taker_buy_quote += c.taker_buy_quote
                agg.closed = c.closed and c.close_ms == close_ms
            else:
                out.append(Candle(bucket, close_ms, c.open, c.high, c.low, c.close, c.volume, c.quote_volume,
                                  c.trades, c.taker_buy_volume, c.taker_buy_quote,
                                  c.closed and c.close_ms == close_ms))  # fmt: skip
    return out
