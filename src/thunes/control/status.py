"""What a session shows its operator: the live status, and the events the operator surface (alerts,
control API) reacts to. Owned here so the session imports the operator surface, never the reverse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from thunes.adapters.storage.control_file import ControlAction
from thunes.domain.identifiers import Symbol
from thunes.engine.portfolio import Portfolio, Valuation

__all__ = ["AccountView", "ControlApplied", "DailySummary", "PaperStatus", "SymbolStatus"]

ZERO = Decimal(0)


@dataclass(slots=True)
class SymbolStatus:
    """One symbol of the session's portfolio: what its trader did, and (at the end) what the venue
    and the ledger hold of it. A session trading one pair has one row."""

    symbol: str
    base_asset: str = ""
    tick_size: Decimal | None = None  # prices are shown at it
    step_size: Decimal | None = None  # quantities at the lot step
    bars: int = 0
    last_close: Decimal | None = None
    last_bar_ns: int | None = None
    last_close_ns: int | None = None  # the close time of the last candle traded: when ``last_close`` was made
    missed_candles: int = 0  # holes in this symbol's closed-candle sequence (should stay 0)
    position: Decimal = ZERO
    average_price: Decimal | None = None
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO  # the position marked at the last close
    fees: Decimal = ZERO
    submitted: int = 0
    filled: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    rejected: Counter[int] = field(default_factory=Counter)
    venue_trades: int = 0  # counted at the end of the session
    ledger_fills: int = 0
    venue_balance: Decimal | None = None  # the base asset at the venue (free + locked), at the end

    @property
    def exposure(self) -> Decimal:
        """The position valued at the last close, in the quote currency (0 before any close)."""
        return self.position * (self.last_close or ZERO)


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account as the session valued it at one moment (after a close time's candles, at the start and
    at the stop). One immutable value, replaced whole: the control API, the metrics and the portfolio
    file read it from other threads and never see half of one close time and half of the next."""

    valuation: Valuation  # cash, and each symbol at its last close
    market_ns: int  # the session's clock when valued
    wall_ns: int  # the wall's
    fills: int  # the ledger's fills the cash includes (a later fill moves the cash by its own amount)
    cash_source: str  # where the cash comes from (the venue's balance at the stop, or moved by fills since a read)


@dataclass(slots=True)
class PaperStatus:
    """What the live view and the final summary show: the account's totals, and one row per symbol
    (:attr:`symbols`, in portfolio order). The single-symbol fields (``position``, ``last_close``, the
    sizes) are the first pair's, the only one of a one-pair session; counters are summed over the rows."""

    bars: int = 0
    last_close: Decimal | None = None
    position: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    submitted: int = 0
    filled: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    rejected: Counter[int] = field(default_factory=Counter)
    kill_switch: bool = False
    equity_start: Decimal = ZERO  # quote balance plus every base balance at its last close, across assets
    equity_end: Decimal = ZERO
    venue_trades: int = 0
    ledger_fills: int = 0
    last_bar_ns: int | None = None  # the newest candle traded, of any symbol
    missed_candles: int = 0  # holes in the closed-candle sequences the trader saw (should stay 0)
    reconciliations: int = 0
    mismatches: int = 0
    last_mismatches: int = 0  # found by the latest reconciliation (0: ledger and venue agree)
    daily_summaries: int = 0
    control_requests: int = 0
    metrics_url: str | None = None  # the Prometheus endpoint, when the session serves one
    control_url: str | None = None  # the control API, when the session serves one
    tick_size: Decimal | None = None  # the instrument's: prices are shown at it
    step_size: Decimal | None = None  # quantities are shown at the lot step
    quote_precision: int | None = None  # PnL, fees and equity: the quote asset's precision
    quote_asset: str = ""
    cash_end: Decimal | None = None  # the quote balance at the venue (free + locked), at the end
    symbols: dict[str, SymbolStatus] = field(default_factory=dict)
    account: AccountView | None = None  # the latest valuation (None until the session read its cash)

    def row(self, symbol: str) -> SymbolStatus:
        """``symbol``'s row, added (after the others) on first use."""
        found = self.symbols.get(symbol)
        if found is None:
            found = self.symbols[symbol] = SymbolStatus(symbol)
        return found

    @property
    def trades_match(self) -> bool:
        """Every symbol's venue trades equal its ledger fills (read at the end of the session)."""
        return all(r.venue_trades == r.ledger_fills for r in self.symbols.values())

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((r.unrealized_pnl for r in self.symbols.values()), ZERO)

    @property
    def exposure(self) -> Decimal:
        return sum((r.exposure for r in self.symbols.values()), ZERO)

    def value(self, portfolio: Portfolio, cash: Decimal, *, fills: int, market_ns: int, wall_ns: int,
              cash_source: str) -> AccountView:  # fmt: skip
        """Value the account: ``cash`` and each symbol's position at its row's last close; kept as
        :attr:`account` and returned."""
        rows = [self.symbols.get(str(symbol)) for symbol in portfolio.symbols]
        prices = {Symbol(r.symbol): r.last_close for r in rows if r is not None and r.last_close is not None}
        times = {Symbol(r.symbol): r.last_close_ns for r in rows if r is not None and r.last_close_ns is not None}
        self.account = AccountView(portfolio.valuation(cash, prices, times), market_ns, wall_ns, fills, cash_source)
        return self.account

    def total(self) -> None:
        """The account's fields from the rows: counters and money summed, the newest candle, and the
        first pair's close, position and sizes (the single-symbol view)."""
        rows = list(self.symbols.values())
        if not rows:
            return
        self.bars = sum(r.bars for r in rows)
        self.missed_candles = sum(r.missed_candles for r in rows)
        self.realized_pnl = sum((r.realized_pnl for r in rows), ZERO)
        self.fees = sum((r.fees for r in rows), ZERO)
        self.submitted = sum(r.submitted for r in rows)
        self.filled = sum(r.filled for r in rows)
        self.venue_trades = sum(r.venue_trades for r in rows)
        self.ledger_fills = sum(r.ledger_fills for r in rows)
        self.denied = sum((r.denied for r in rows), Counter())
        self.rejected = sum((r.rejected for r in rows), Counter())
        times = [r.last_bar_ns for r in rows if r.last_bar_ns is not None]
        self.last_bar_ns = max(times) if times else None
        first = rows[0]
        self.last_close, self.position = first.last_close, first.position
        self.tick_size, self.step_size = first.tick_size, first.step_size


@dataclass(frozen=True, slots=True)
class ControlApplied:
    """Published on the session's bus after the trader applied an operator request (alerting
    checks the risk state right then: two requests between two timer checks are two changes)."""

    seq: int
    action: ControlAction
    by: str


@dataclass(frozen=True, slots=True)
class DailySummary:
    """Published on the session's bus at 23:00 UTC (market clock): alerting subscribes to it."""

    ts_ns: int
    figures: Mapping[str, object]  # read-only: the line written to daily_summaries.jsonl
