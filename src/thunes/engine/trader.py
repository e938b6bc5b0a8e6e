"""The engine core: closed bars in, orders out, one path for backtest, paper and live.

bar → strategy signal → sizing (exit-feasible, within the order-notional limit) → risk gate →
idempotent order manager → fills booked in the risk ledger, the position and the fill ledger.
Every step is published on the bus; the mode only chooses the venue port and the clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

import structlog

from thunes.domain.enums import OrderType, Side
from thunes.domain.identifiers import StrategyId, VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.market import Bar
from thunes.domain.messages import ExitRetrying, OrderFilled, OrderRejected
from thunes.domain.orders import Fill, OrderRequest
from thunes.domain.position import Position
from thunes.domain.rules import round_quantity
from thunes.domain.sizing import size_entry
from thunes.domain.venue import OrderReport
from thunes.execution.client_ids import client_order_id, next_round_id
from thunes.execution.order_manager import OrderManager
from thunes.execution.ports import Publisher
from thunes.risk import RiskEngine, RiskIntent
from thunes.strategy.base import Signal
from thunes.strategy.source import Decision, DecisionSource, TargetPosition

__all__ = ["MAX_EXIT_WAIT_BARS", "FillLedger", "Trader", "TraderConfig", "TraderStats"]

MAX_EXIT_WAIT_BARS = 16  # the back-off between an exit's rounds doubles from one bar up to this
_log = structlog.get_logger(__name__)
# Enum members as globals: cheaper to read than the enum's attributes, on every order.
_BUY, _SELL, _MARKET = Side.BUY, Side.SELL, OrderType.MARKET
_HOLD, _ENTER, _EXIT = Signal.HOLD, Signal.ENTER_LONG, Signal.EXIT_LONG


class FillLedger(Protocol):
    """Durable record of fills and order states (``adapters.storage.SqlStore`` implements it)."""

    def record_fill(self, fill: Fill) -> bool: ...

    def record_report(self, report: OrderReport) -> None: ...


@dataclass(frozen=True, slots=True)
class TraderConfig:
    """``quote_per_trade``: the entry budget in quote units, capped by the risk limit."""

    venue: VenueId
    quote_per_trade: Decimal = Decimal(12)
    fee_rate: Decimal = Decimal("0.001")


@dataclass(slots=True)
class TraderStats:
    signals: int = 0
    submitted: int = 0
    filled: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    rejected: Counter[int] = field(default_factory=Counter)
    exit_retries: int = 0  # exit rounds that failed and were scheduled again


class Trader:
    """Runs one decision source on one instrument against one venue; a portfolio runs several, sharing
    the risk engine, the order manager and the ledger."""

    def __init__(
        self,
        strategy: DecisionSource,
        instrument: Instrument,
        risk: RiskEngine,
        orders: OrderManager,
        ledger: FillLedger,
        bus: Publisher,
        config: TraderConfig,
    ) -> None:
        self.strategy, self.instrument, self.risk, self.orders = strategy, instrument, risk, orders
        self.ledger, self.bus, self.config = ledger, bus, config
        self.position = Position(instrument.symbol, instrument.base_asset, instrument.quote_asset)
        self.stats = TraderStats()
        # An exit to send again: one a restart interrupted (resume_exit), or a round that failed.
        self.pending_exit: OrderRequest | None = None
        self.exit_round = 0  # failed rounds of the exit being retried (0: none failing)
        self._exit_wait = 0  # bars still to skip before its next round

    def restore(self, fills: list[Fill]) -> None:
        """Rebuild the position from the durable ledger after a restart and hand it to risk.

        The ledger is the source of truth: a crash between booking a fill and updating risk
        cannot double-count it, because risk adopts the rebuilt position instead of replaying.
        """
        position = Position(self.instrument.symbol, self.instrument.base_asset, self.instrument.quote_asset)
        for fill in fills:
            position = position.apply(fill)
        self.position = position
        last_sell = fills[-1].price if fills and fills[-1].side is Side.SELL else None
        self.risk.sync_position(position, dust_price=last_sell)  # a sell's unsellable remainder stays dust

    def warm_up(self, bar: Bar) -> None:
        """Feed a bar that was already traded before a restart: the strategy learns, nothing is sent."""
        self.strategy.on_bar(bar)

    async def on_bar(self, bar: Bar) -> None:
        """Feed one closed bar; acts on the signal at once (the venue fills at the next price). An
        exit left pending (by a restart, :meth:`resume_exit`, or a failed round) goes first, once its
        back-off has passed."""
        signal = self.strategy.on_bar(bar)
        await self.tend_exit(bar.close)
        await self.act(signal, bar)

    async def tend_exit(self, price: Decimal) -> None:
        """At a closed bar, before its decision: the pending exit's next round once its back-off has
        passed (every mode calls this at every bar while an exit is pending, so they retry alike)."""
        if self.pending_exit is None:
            return
        if self._exit_wait > 0:
            self._exit_wait -= 1
        else:
            await self.retry_exit(price)

    async def act(self, signal: Decision, bar: Bar) -> None:
        """Everything after the decision: sizing, the risk gate, the order, the booking. The fast
        backtest calls it with signals computed for the whole series at once."""
        if signal is _HOLD:
            return
        self.stats.signals += 1
        request = self._order_to(signal, bar) if isinstance(signal, TargetPosition) else self._order_for(signal, bar)
        if request is not None:
            await self._place(request, bar.close)

    def resume_exit(self, request: OrderRequest) -> None:
        """An exit decided and journaled before a restart but never placed (the crash came first):
        :meth:`retry_exit` sends it under its own client order id, which the order manager looks
        up first, so it can never be placed twice."""
        if request.side is not Side.SELL or request.symbol != self.instrument.symbol:
            raise ValueError(f"not an exit of {self.instrument.symbol}: {request.side} {request.symbol}")
        self.pending_exit = request

    async def retry_exit(self, reference_price: Decimal) -> None:
        """Send the pending exit for what is held now; it stays pending while risk denies it (a
        breaker open, HALTED), and is dropped when nothing sellable is left (flat, or dust: reported,
        never retried, SPEC §1). A round that fails schedules the next (:meth:`_exit_failed`)."""
        request, self.pending_exit = self.pending_exit, None
        if request is None:
            return
        quantity = self._sellable(reference_price)
        if quantity is None:
            if self.position.quantity > 0:
                _log.warning("exit_dropped_dust", client_order_id=str(request.client_order_id),
                             held=str(self.position.quantity), rounds_failed=self.exit_round)  # fmt: skip
            self.exit_round = 0
            return
        if not await self._place(replace(request, quantity=quantity), reference_price):
            self.pending_exit = request

    async def _place(self, request: OrderRequest, reference_price: Decimal) -> bool:
        """The risk gate, the order, the booking; False when risk denied it."""
        config = self.config
        # Positional (request, strategy_id, venue, reference_price, instrument, fee_rate): one an order.
        intent = RiskIntent(request, self.strategy.strategy_id, config.venue, reference_price, self.instrument,
                            config.fee_rate)  # fmt: skip
        decision = self.risk.check(intent)
        if decision.reason is not None:  # denied
            self.stats.denied[decision.reason_code or "?"] += 1
            self.bus.publish(decision.denied_event())
            return False
        self.stats.submitted += 1
        outcome = await self.orders.submit(decision.order, self.strategy.strategy_id)
        if isinstance(outcome, OrderRejected):
            self.stats.rejected[outcome.code] += 1
            self.risk.on_order_closed(decision.order.client_order_id)
            if request.side is _SELL:
                self._exit_failed(decision.order, outcome)
        else:
            self.book(outcome)
            if request.side is _SELL:
                self.exit_round = 0
        return True

    def _exit_failed(self, order: OrderRequest, rejected: OrderRejected) -> None:
        """An exit's round ended final and never placed (given up after its sends, or refused): the
        trader decided to exit, so it tries again, the next bar, then after a doubling back-off up to
        :data:`MAX_EXIT_WAIT_BARS`, each round under its own id derived from the last
        (:func:`next_round_id`): the last round is final, so no two rounds can both fill. A BUY
        given up stays given up (entries are never chased)."""
        self.exit_round += 1
        wait = min(2 ** (self.exit_round - 1), MAX_EXIT_WAIT_BARS)
        self._exit_wait = wait - 1
        self.pending_exit = replace(order, client_order_id=next_round_id(order.client_order_id))
        self.stats.exit_retries += 1
        event = ExitRetrying(rejected.ts_ns, self.config.venue, order.client_order_id, order.symbol,
                             self.pending_exit.client_order_id, self.exit_round, wait,
                             f"{rejected.code}: {rejected.message}")  # fmt: skip
        _log.warning("exit_retrying", client_order_id=str(order.client_order_id),
                     next_client_order_id=str(event.next_client_order_id), round=self.exit_round,
                     wait_bars=wait, reason=event.reason)  # fmt: skip
        self.bus.publish(event)

    def _order_for(self, signal: Signal, bar: Bar) -> OrderRequest | None:
        key = f"{bar.open_time_ns}"
        sid: StrategyId = self.strategy.strategy_id
        symbol = self.instrument.symbol
        holding = self._sellable(bar.close)
        if signal is _ENTER and holding is None:
            limits = self.risk.limits
            budget = min(self.config.quote_per_trade, limits.max_order_notional)
            sized = size_entry(self.instrument, budget, bar.close, self.config.fee_rate,
                               exit_buffer=limits.exit_buffer)  # fmt: skip
            if sized.quantity is None:
                self.stats.denied["EXIT_INFEASIBLE"] += 1
                return None
            return OrderRequest(client_order_id(sid, symbol, _BUY, key), symbol, _BUY, _MARKET, sized.quantity)
        if signal is _EXIT and holding is not None:
            return OrderRequest(client_order_id(sid, symbol, _SELL, key), symbol, _SELL, _MARKET, holding)
        return None

    def _order_to(self, target: TargetPosition, bar: Bar) -> OrderRequest | None:
        """The MARKET order that brings the position to ``target`` (rounded down to the lot step; a
        difference below the step or the minimum notional is no order). The same risk gate follows."""
        symbol, sid = self.instrument.symbol, self.strategy.strategy_id
        delta = target.quantity - self.position.quantity
        side = Side.BUY if delta > 0 else Side.SELL
        if side is Side.SELL:
            delta = min(-delta, self.risk.held(symbol))
        quantity = round_quantity(self.instrument, abs(delta), OrderType.MARKET)
        if quantity <= 0 or quantity * bar.close < self.instrument.min_notional_for(OrderType.MARKET):
            return None
        cid = client_order_id(sid, symbol, side, f"{bar.open_time_ns}")
        return OrderRequest(cid, symbol, side, OrderType.MARKET, quantity=quantity)

    def _sellable(self, price: Decimal) -> Decimal | None:
        """The quantity a MARKET SELL can offer, or None when what is held is dust (SPEC §1)."""
        # The risk ledger forgets dust it cannot sell; never offer more than it believes is held.
        held = min(self.position.quantity, self.risk.held(self.instrument.symbol))
        if held <= 0:  # flat (every entry asks): rounding it down to the step leaves it <= 0
            return None
        qty = round_quantity(self.instrument, held, _MARKET)
        if qty <= 0 or qty * price < self.instrument.min_notional_for(_MARKET):
            return None
        return qty

    def book(self, report: OrderReport) -> None:
        """Record an order's fills once each: ledger, risk, position, bus."""
        self.ledger.record_report(report)
        terminal = report.status.is_terminal
        for fill in report.fills:
            if not self.ledger.record_fill(fill):
                continue  # already booked (a replayed report after a restart)
            self.stats.filled += 1
            complete = terminal and fill is report.fills[-1]
            self.risk.on_fill(fill, order_complete=complete)
            self.position = self.position.apply(fill)
            if self.bus.wants(OrderFilled):
                self.bus.publish(OrderFilled(fill.ts_ns, self.config.venue, fill.client_order_id, fill, complete))
        if terminal:
            self.risk.on_order_closed(report.client_order_id)
