"""The session's account valued in the quote currency after every close time: cash (the venue's
balance read at the start, moved by each fill since: no REST call per candle) and each symbol's
position at its last close. The value goes to :attr:`PaperStatus.account`, which the live view, the
control API and the metrics read, and to ``portfolio.json``, which ``thunes portfolio`` reads once
the session is gone. Split from :mod:`thunes.session.paper`, which calls it at those moments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from thunes.control.portfolio_view import PortfolioFile
from thunes.control.status import PaperStatus
from thunes.domain.messages import OrderFilled
from thunes.engine.bus import Bus
from thunes.engine.portfolio import CashBook, Portfolio

__all__ = ["CASH_AT_STOP", "CASH_MOVED", "AccountValuer"]

CASH_MOVED = "the venue's quote balance read at the session's start, moved by every fill since"
CASH_AT_STOP = "the venue's quote balance read at the session's stop"


class AccountValuer:
    """Keeps :attr:`PaperStatus.account` and ``portfolio.json`` current for one session's ``portfolio``."""

    def __init__(self, portfolio: Portfolio, status: PaperStatus, market_ns: Callable[[], int], data_dir: Path,
                 bus: Bus, *, wall_ns: Callable[[], int] = time.time_ns, every_s: float = 5.0) -> None:  # fmt: skip
        """Counts every fill ``bus`` carries from now on: create it before recovery books anything (those
        fills are in the balance :meth:`start` is given, read after them, and are not counted twice)."""
        self.portfolio, self.status, self.market_ns, self.wall_ns = portfolio, status, market_ns, wall_ns
        self.cash = CashBook(status.quote_asset)
        self.file = PortfolioFile(data_dir, every_s)
        bus.subscribe(OrderFilled, self.cash.on_fill)

    def start(self, quote_balance: Decimal, fills: int) -> None:
        """The venue's ``quote_balance`` read now, with ``fills`` booked in the ledger by then."""
        self.cash.start(quote_balance, fills)
        self._value(quote_balance, fills, CASH_MOVED)
        self.file.write(self.status, force=True)

    def after_close_time(self) -> None:
        """Value the account after a close time's candles (the file: every few wall seconds)."""
        if self.cash.balance is not None:
            self._value(self.cash.balance, self.cash.fills, CASH_MOVED)
            self.file.write(self.status)

    def at_stop(self, quote_balance: Decimal, fills: int) -> None:
        """The last valuation, on the venue's balance read at the stop and the ledger's ``fills``."""
        self._value(quote_balance, fills, CASH_AT_STOP)
        self.file.write(self.status, force=True)

    def _value(self, cash: Decimal, fills: int, source: str) -> None:
        self.status.value(self.portfolio, cash, fills=fills, market_ns=self.market_ns(), wall_ns=self.wall_ns(),
                          cash_source=source)  # fmt: skip
