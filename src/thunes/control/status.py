"""What a session shows its operator: the live status, and the events the operator surface (alerts,
control API) reacts to. Owned here so the session imports the operator surface, never the reverse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from thunes.adapters.storage.control_file import ControlAction

__all__ = ["ControlApplied", "DailySummary", "PaperStatus"]


@dataclass(slots=True)
class PaperStatus:
    """What the live view and the final summary show."""

    bars: int = 0
    last_close: Decimal | None = None
    position: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    submitted: int = 0
    filled: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    rejected: Counter[int] = field(default_factory=Counter)
    kill_switch: bool = False
    equity_start: Decimal = Decimal(0)
    equity_end: Decimal = Decimal(0)
    venue_trades: int = 0
    ledger_fills: int = 0
    last_bar_ns: int | None = None
    missed_candles: int = 0  # holes in the closed-candle sequence the trader saw (should stay 0)
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
