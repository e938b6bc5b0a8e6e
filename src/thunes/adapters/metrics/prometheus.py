"""Prometheus metrics of a trading session (SPEC §5), prefix ``thunes_``.

What the engine does arrives as bus events (orders placed, rejected by the venue, denied by risk,
and the latency of each order's answer): the engine never calls metrics (STYLE habit 8). State
that has no event of its own (kill-switch, trading state, breakers, daily loss used, position
slots, streams, the account's valuation per symbol and in total, the last reconciliation) is read
by :meth:`TradingMetrics.refresh`, which the session calls after every bar and on a timer.

Each instance owns its registry, so two sessions (or two tests) in one process never share a
counter. Latency is measured in wall time with an injected monotonic clock: the market clock of an
accelerated replay says nothing about how long the venue took to answer.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from thunes.domain.identifiers import VenueId
from thunes.domain.messages import (
    DenialReason,
    ExitRetrying,
    OrderAccepted,
    OrderDenied,
    OrderRejected,
    OrderSubmitted,
)
from thunes.engine.portfolio import Valuation
from thunes.risk import BreakerState, RiskEngine
from thunes.risk.state import TradingState

__all__ = [
    "BREAKER_STATE_CODES",
    "LATENCY_BUCKETS",
    "TRADING_STATE_CODES",
    "StreamCounters",
    "Subscriber",
    "TradingMetrics",
    "denial_code",
]

M = TypeVar("M")

TRADING_STATE_CODES: Mapping[TradingState, int] = {
    TradingState.ACTIVE: 0,
    TradingState.REDUCING: 1,
    TradingState.HALTED: 2,
}
# Ordered by severity, so ``> 0`` means "not closed": an open breaker that times out turns
# HALF_OPEN until a probe decides, and the alert must keep counting through that.
BREAKER_STATE_CODES: Mapping[BreakerState, int] = {
    BreakerState.CLOSED: 0,
    BreakerState.HALF_OPEN: 1,
    BreakerState.OPEN: 2,
}
# Dense around the 0.5 s alert threshold (SPEC §5: p95 > 500 ms).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)


class Subscriber(Protocol):
    """The subscribing half of the engine's bus (``thunes.engine.bus.InMemoryBus`` satisfies it)."""

    def subscribe(self, message_type: type[M], handler: Callable[[M], None]) -> None: ...


class StreamCounters(Protocol):
    """What metrics read of a stream subscription (``binance.feed.StreamStats`` satisfies it)."""

    @property
    def messages(self) -> int: ...

    @property
    def reconnects(self) -> int: ...

    @property
    def connected(self) -> bool: ...


def _codes(codes: Mapping[TradingState, int] | Mapping[BreakerState, int]) -> str:
    return ", ".join(f"{value} = {state.value}" for state, value in codes.items())


def denial_code(event: OrderDenied) -> str:
    """The SPEC §2 reason code of a denial: ``KILL_SWITCH``..., or ``FILTERS_<NAME>`` for a filter."""
    if event.reason is DenialReason.FILTERS and event.detail.startswith("FILTERS_"):
        return event.detail.split(":", 1)[0]
    return event.reason.value


class _StreamSeen:
    """The last counters seen of one stream and when (monotonic) its message count last moved."""

    __slots__ = ("changed_at", "messages", "reconnects")

    def __init__(self, messages: int, reconnects: int, now: float) -> None:
        self.messages, self.reconnects, self.changed_at = messages, reconnects, now


class TradingMetrics:
    """The SPEC §5 metric set on a registry of its own, with process and platform metrics.

    ``monotonic`` (seconds) times each order from its first send to the venue's answer;
    ``remember`` bounds how many client order ids are kept to count an order once and to time it.
    """

    def __init__(
        self, *, monotonic: Callable[[], float] = time.monotonic, remember: int = 10_000, process_metrics: bool = True
    ) -> None:
        self.registry = CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._monotonic, self._remember = monotonic, remember
        self._lock = threading.Lock()
        self._placed: OrderedDict[str, None] = OrderedDict()  # client order ids already counted
        self._sent_at: OrderedDict[str, float] = OrderedDict()  # first send of orders awaiting an answer
        self._streams: dict[str, _StreamSeen] = {}
        r = self.registry
        self.kill_switch_active = Gauge(
            "thunes_kill_switch_active", "1 while the kill-switch is on (entries refused, exits allowed), else 0.",
            registry=r,
        )  # fmt: skip
        self.trading_state = Gauge(
            "thunes_trading_state",
            f"What the risk gate lets through: {_codes(TRADING_STATE_CODES)} "
            "(REDUCING: exits and cancels only, the kill-switch state; HALTED: cancels only).",
            registry=r,
        )
        self.circuit_breaker_state = Gauge(
            "thunes_circuit_breaker_state",
            f"Circuit breaker of each venue: {_codes(BREAKER_STATE_CODES)} (> 0: orders held back).",
            ["venue"],
            registry=r,
        )
        self.daily_pnl_used = Gauge(
            "thunes_daily_pnl_used",
            "Fraction of the daily realised-loss limit used in the current UTC day "
            "(0 = no loss, 1 = limit reached: kill-switch).",
            registry=r,
        )
        self.open_positions = Gauge(
            "thunes_open_positions",
            "Position slots in use: open positions plus entry orders still working (what max_open_positions caps).",
            registry=r,
        )
        self.max_open_positions = Gauge(
            "thunes_max_open_positions", "The max_open_positions risk limit: new entries stop at this many.", registry=r
        )
        self.orders_placed = Counter(
            "thunes_orders_placed",
            "Orders sent to the venue, each client order id once (a resend after a lost answer is not counted again).",
            ["venue", "type", "side"],
            registry=r,
        )
        self.orders_rejected = Counter(
            "thunes_orders_rejected",
            "Orders the venue refused, by venue error code (e.g. -1013 filter failure, -2010 refused; "
            "-9001: given up after every send was verified absent). Risk denials: thunes_orders_denied_total.",
            ["venue", "code"],
            registry=r,
        )
        self.exit_retries = Counter(
            "thunes_exit_retries",
            "Exit rounds (SELLs of a held position) that failed never placed (given up after their sends, or "
            "refused) and were scheduled again under a new client order id; rising: an exit keeps failing.",
            ["venue", "symbol"],
            registry=r,
        )
        self.orders_denied = Counter(
            "thunes_orders_denied",
            "Orders the risk gate refused before the venue, by SPEC reason code (KILL_SWITCH, DAILY_LOSS, "
            "FILTERS_<name>, ...).",
            ["venue", "reason"],
            registry=r,
        )
        self.order_latency = Histogram(
            "thunes_order_latency_seconds",
            "Wall seconds from an order's first send to the venue's answer (accepted or rejected), "
            "lookups after a lost answer included.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ws_connected = Gauge(
            "thunes_ws_connected", "1 while the WebSocket stream is subscribed and delivering, else 0.", ["stream"],
            registry=r,
        )  # fmt: skip
        self.ws_gap = Gauge(
            "thunes_ws_gap_seconds",
            "Wall seconds since the stream last delivered a message (sampled at each refresh; grows while it is "
            "silent or down).",
            ["stream"],
            registry=r,
        )
        self.ws_reconnects = Counter(
            "thunes_ws_reconnects", "WebSocket reconnections of the stream (errors, staleness, planned renewals).",
            ["stream"], registry=r,
        )  # fmt: skip
        self.reconciliation_mismatches = Gauge(
            "thunes_reconciliation_mismatches",
            "Differences the latest ledger/venue reconciliation found (balances, orphan and missing orders); "
            "0 = in agreement.",
            registry=r,
        )
        self.equity = _unknown_yet(
            "thunes_equity",
            "Account equity in the quote asset (USDT): thunes_cash plus each position marked at its symbol's last "
            "close; NaN until every holding has a price.",
            r,
        )
        self.cash = _unknown_yet(
            "thunes_cash",
            "The account's quote balance (free + locked, USDT): the venue's read at the start, moved by every fill "
            "since; NaN until read. Equity = cash + the sum of thunes_exposure.",
            r,
        )
        self.position = Gauge(
            "thunes_position", "Quantity held of each traded symbol, in its base asset.", ["symbol"], registry=r
        )
        self.exposure = Gauge(
            "thunes_exposure",
            "Each symbol's position valued at its last close, in the quote asset (0 before its first close).",
            ["symbol"],
            registry=r,
        )
        self.unrealized_pnl = Gauge(
            "thunes_unrealized_pnl",
            "Each symbol's position at its last close less its fee-inclusive cost, in the quote asset.",
            ["symbol"],
            registry=r,
        )

    # --- events ----------------------------------------------------------------------------------
    def attach(self, bus: Subscriber) -> None:
        """Subscribe to the order events this metric set counts."""
        bus.subscribe(OrderSubmitted, self.on_submitted)
        bus.subscribe(OrderAccepted, self.on_accepted)
        bus.subscribe(OrderRejected, self.on_rejected)
        bus.subscribe(OrderDenied, self.on_denied)
        bus.subscribe(ExitRetrying, self.on_exit_retrying)

    def on_submitted(self, event: OrderSubmitted) -> None:
        cid, now = str(event.client_order_id), self._monotonic()
        with self._lock:
            first = cid not in self._placed
            _remember(self._placed, cid, None, self._remember)
            if cid not in self._sent_at:
                _remember(self._sent_at, cid, now, self._remember)
        if first:
            request = event.request
            self.orders_placed.labels(str(event.venue), request.order_type.value, request.side.value).inc()

    def on_accepted(self, event: OrderAccepted) -> None:
        self._answered(str(event.client_order_id))

    def on_rejected(self, event: OrderRejected) -> None:
        self.orders_rejected.labels(str(event.venue), str(event.code)).inc()
        self._answered(str(event.client_order_id))

    def on_exit_retrying(self, event: ExitRetrying) -> None:
        self.exit_retries.labels(str(event.venue), str(event.symbol)).inc()

    def on_denied(self, event: OrderDenied) -> None:
        self.orders_denied.labels(str(event.venue), denial_code(event)).inc()

    def _answered(self, cid: str) -> None:
        """Time an answer to an order sent in this session (an order adopted at start-up has no send)."""
        now = self._monotonic()
        with self._lock:
            sent = self._sent_at.pop(cid, None)
        if sent is not None:
            self.order_latency.observe(max(0.0, now - sent))

    # --- state -----------------------------------------------------------------------------------
    def refresh(
        self,
        risk: RiskEngine,
        *,
        venues: Iterable[VenueId] = (),
        streams: Mapping[str, StreamCounters] | None = None,
        valuation: Valuation | None = None,
        reconciliation_mismatches: int | None = None,
    ) -> None:
        """Set the gauges from the risk engine, the streams' counters and the session's figures.

        ``valuation``: the account (cash, each symbol at its last close); its equity only once every
        holding has a price. ``daily_pnl_used`` divides by the loss limit in force for that equity (the
        smaller of the absolute and the equity-fraction limits), so the figure errs towards alerting early.
        """
        equity = None if valuation is None or not valuation.priced else valuation.equity
        if valuation is not None:
            self._value(valuation)
        limits = risk.limits
        self.kill_switch_active.set(1 if risk.kill_switch.active else 0)
        self.trading_state.set(TRADING_STATE_CODES[risk.trading_state])
        for venue in venues:
            self.circuit_breaker_state.labels(str(venue)).set(BREAKER_STATE_CODES[risk.breaker(venue).state])
        loss, cap = max(Decimal(0), -risk.realized_pnl_today), limits.daily_loss_cap(equity)
        self.daily_pnl_used.set(float(loss / cap) if cap > 0 else 1.0)
        self.open_positions.set(len(risk.open_symbols()))
        self.max_open_positions.set(limits.max_open_positions)
        for name, stats in (streams or {}).items():
            self._refresh_stream(name, stats)
        if equity is not None:
            self.equity.set(float(equity))
        if reconciliation_mismatches is not None:
            self.reconciliation_mismatches.set(reconciliation_mismatches)

    def _value(self, valuation: Valuation) -> None:
        self.cash.set(float(valuation.cash))
        for line in valuation.lines:
            symbol = str(line.symbol)
            self.position.labels(symbol).set(float(line.quantity))
            self.exposure.labels(symbol).set(float(line.exposure))
            self.unrealized_pnl.labels(symbol).set(float(line.unrealized_pnl))

    def _refresh_stream(self, name: str, stats: StreamCounters) -> None:
        now = self._monotonic()
        messages, reconnects = stats.messages, stats.reconnects
        seen = self._streams.get(name)
        if seen is None:
            seen = self._streams[name] = _StreamSeen(messages, 0, now)
        # A smaller count means a new subscription under the same name: its counters start over.
        new_reconnects = reconnects - seen.reconnects if reconnects >= seen.reconnects else reconnects
        self.ws_reconnects.labels(name).inc(new_reconnects)
        if messages != seen.messages:
            seen.changed_at = now
        seen.messages, seen.reconnects = messages, reconnects
        self.ws_connected.labels(name).set(1 if stats.connected else 0)
        self.ws_gap.labels(name).set(max(0.0, now - seen.changed_at))


def _unknown_yet(name: str, documentation: str, registry: CollectorRegistry) -> Gauge:
    """A gauge that reads NaN until the session sets it (0 would be a value: an empty account)."""
    gauge = Gauge(name, documentation, registry=registry)
    gauge.set(math.nan)
    return gauge


def _remember(ids: OrderedDict[str, M], key: str, value: M, limit: int) -> None:
    ids[key] = value
    ids.move_to_end(key)
    while len(ids) > limit:
        ids.popitem(last=False)
