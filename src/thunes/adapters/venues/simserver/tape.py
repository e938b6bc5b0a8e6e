"""The public trade tape: the trades the replay published, kept for ``/trades``, ``/historicalTrades``
and ``/aggTrades``.

It holds exactly what the ``<symbol>@trade`` stream sent (same ids, prices, quantities and times),
so REST and streams never disagree. Each replayed trade is its own aggregate (the replay has one
taker per trade), with the trade's id as aggregate id, as the ``@aggTrade`` stream shows it.
Ids and times only increase within a symbol; lookups bisect. The tape keeps the newest
``capacity`` trades per symbol (older ones drop in blocks of an eighth of it), like a venue's finite
history: its memory stops growing, as it must in a trading process that embeds the venue for weeks
(at the old 100,000, trimmed only at twice that, a 10,000-candle soak grew 11 MB, 190 bytes a trade).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["PublicTrade", "TradeTape"]

DEFAULT_CAPACITY = 10_000  # ten times the most that one call of any trade endpoint returns (1000)


@dataclass(frozen=True, slots=True)
class PublicTrade:
    trade_id: int
    time_ms: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool


class TradeTape:
    """The newest trades of every symbol, oldest first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._slack = max(1, capacity // 8)  # held past the capacity before a trim: amortised O(1), bounded
        self._trades: dict[str, list[PublicTrade]] = {}

    def record(self, symbol: str, trade: PublicTrade) -> None:
        """Append a published trade; past the capacity and its slack, the oldest go (amortised O(1))."""
        rows = self._trades.setdefault(symbol, [])
        if rows and (trade.trade_id <= rows[-1].trade_id or trade.time_ms < rows[-1].time_ms):
            return  # a replayed duplicate or an out-of-order id: the tape stays sorted
        rows.append(trade)
        if len(rows) > self._capacity + self._slack:
            del rows[: len(rows) - self._capacity]

    def held(self) -> int:
        """Trades in memory, every symbol together (each at most ``capacity`` and an eighth)."""
        return sum(len(rows) for rows in self._trades.values())

    def _rows(self, symbol: str) -> list[PublicTrade]:
        rows = self._trades.get(symbol, [])
        return rows[-self._capacity :] if len(rows) > self._capacity else rows

    def recent(self, symbol: str, limit: int) -> list[PublicTrade]:
        """The newest ``limit`` trades, oldest first."""
        return self._rows(symbol)[-limit:]

    def from_id(self, symbol: str, first_id: int, limit: int) -> list[PublicTrade]:
        """Up to ``limit`` trades with ids from ``first_id`` on (inclusive)."""
        rows = self._rows(symbol)
        start = bisect_left(rows, first_id, key=lambda t: t.trade_id)
        return rows[start : start + limit]

    def between(self, symbol: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[PublicTrade]:
        """Trades with ``start_ms <= time <= end_ms`` (bounds inclusive, either optional): the oldest
        ``limit`` when a start is given (Binance's aggTrades), else the newest ``limit``."""
        rows = self._rows(symbol)
        lo = 0 if start_ms is None else bisect_left(rows, start_ms, key=lambda t: t.time_ms)
        hi = len(rows) if end_ms is None else bisect_right(rows, end_ms, key=lambda t: t.time_ms)
        if start_ms is not None:
            return rows[lo : min(hi, lo + limit)]
        return rows[max(lo, hi - limit) : hi]
