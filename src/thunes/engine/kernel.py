"""The engine's one assembly: risk, execution and the portfolio's traders, built from a clock, a venue
port and stores. Paper, live, the event backtest and the fast path's fallback all call it and differ
only in what they hand it (an in-process venue or a client of a venue server, Binance's testnet or
Binance; in-memory or durable stores; a simulated or a real clock), so no mode can assemble the
engine differently from another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.identifiers import VenueId
from thunes.domain.instrument import Instrument
from thunes.engine.bus import InMemoryBus
from thunes.engine.portfolio import Portfolio
from thunes.engine.trader import FillLedger, Trader, TraderConfig
from thunes.execution.order_manager import OrderManager
from thunes.execution.ports import OrderJournal, VenuePort
from thunes.risk import CircuitBreaker, FailureKind, PreTradeRule, RiskEngine, RiskLimits, RiskStateStore
from thunes.strategy.source import DecisionSource

__all__ = ["Kernel", "KernelSpec", "build_kernel"]


@dataclass(frozen=True, slots=True)
class KernelSpec:
    """What every mode configures the same way: the venue's id, the risk limits, the fee rate sizing
    assumes, and the order manager's patience (``settle_window_s``: how long an unanswered order may
    still arrive at the venue, 0 in-process). ``order_rules``/``entry_rules``: the risk gate's rules
    (None: ``risk.default_order_rules``/``default_entry_rules``, what every mode trades with)."""

    venue: VenueId
    limits: RiskLimits
    fee_rate: Decimal
    settle_window_s: float = 0.0
    breaker_counts_calls: bool = False  # a remote venue: every call's outcome feeds its circuit breaker
    order_rules: tuple[PreTradeRule, ...] | None = None
    entry_rules: tuple[PreTradeRule, ...] | None = None


@dataclass(frozen=True, slots=True)
class Kernel:
    """The assembled engine: the bus everything publishes on, the shared risk engine and order manager,
    and the portfolio of traders."""

    bus: InMemoryBus
    risk: RiskEngine
    orders: OrderManager
    portfolio: Portfolio


def build_kernel(
    spec: KernelSpec,
    clock_ns: Callable[[], int],
    venue: VenuePort,
    pairs: Sequence[tuple[DecisionSource, Instrument]],
    *,
    risk_store: RiskStateStore,
    journal: OrderJournal,
    ledger: FillLedger,
) -> Kernel:
    """The engine for ``pairs`` (one decision source per instrument, in portfolio order) on one account."""
    bus = InMemoryBus()
    risk = RiskEngine(spec.limits, clock_ns, risk_store, order_rules=spec.order_rules, entry_rules=spec.entry_rules)
    on_call = _breaker_feed(risk.breaker(spec.venue)) if spec.breaker_counts_calls else None
    orders = OrderManager(venue, journal, bus, clock_ns, spec.venue, on_call=on_call,
                          settle_window_s=spec.settle_window_s)  # fmt: skip
    config = TraderConfig(spec.venue, fee_rate=spec.fee_rate)
    traders = [Trader(source, instrument, risk, orders, ledger, bus, config) for source, instrument in pairs]
    return Kernel(bus, risk, orders, Portfolio(traders))


def _breaker_feed(breaker: CircuitBreaker) -> Callable[[bool], None]:
    """An order manager's call outcomes to the venue's breaker: a retryable failure is server-side (SPEC §2)."""

    def record(ok: bool) -> None:
        if ok:
            breaker.record_success()
        else:
            breaker.record_failure(FailureKind.SERVER_ERROR)

    return record
