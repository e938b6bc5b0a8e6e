"""An in-memory fill ledger for backtests: the same contract as the SQL ledger (``FillLedger``),
without the disk, so a backtest books fills exactly as a paper session does."""

from __future__ import annotations

from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport

__all__ = ["InMemoryLedger"]


class InMemoryLedger:
    """Orders as last reported (in first-seen order) and fills booked once each by trade id."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderReport] = {}
        self._fills: list[Fill] = []
        self._seen: set[tuple[str, str]] = set()

    def record_report(self, report: OrderReport) -> None:
        self.orders[str(report.client_order_id)] = report

    def record_fill(self, fill: Fill) -> bool:
        key = (str(fill.symbol), str(fill.trade_id))
        if key in self._seen:
            return False
        self._seen.add(key)
        self._fills.append(fill)
        return True

    def fills(self, symbol: str | None = None) -> list[Fill]:
        return [f for f in self._fills if symbol is None or f.symbol == symbol]
