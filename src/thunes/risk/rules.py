"""Pre-trade rules: one rule per small class, each judging a frozen view of the engine's state.

The shape follows zipline's ``finance/controls.py`` and freqtrade's protections: a rule reads a
:class:`CheckContext` and either lets the order pass (``None``) or returns a :class:`Denial`. Rules
hold no state and take no lock; the engine builds the context under its lock, so a rule always sees
one consistent state. Exits (a SELL of a held position) only meet the order rules: SPEC §2 says a
reducing SELL is always allowed, whatever the loss, cool-down or position count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Protocol

from thunes.domain.enums import Side
from thunes.domain.fastfilters import FastFilters
from thunes.domain.identifiers import Symbol
from thunes.domain.messages import DenialReason
from thunes.domain.orders import OrderRequest
from thunes.domain.rules import MarketContext, Violation, normalize_order, round_order
from thunes.domain.sizing import is_exit_feasible
from thunes.risk.decision import RiskIntent
from thunes.risk.description import RuleSpec
from thunes.risk.limits import RiskLimits
from thunes.risk.state import TradingState

__all__ = [
    "CheckContext",
    "CoolDownRule",
    "DailyLossRule",
    "DeclaredRule",
    "Denial",
    "ExitFeasibilityRule",
    "HeldQuantityRule",
    "MaxOpenPositionsRule",
    "MaxOrderNotionalRule",
    "OnePositionPerSymbolRule",
    "PreTradeRule",
    "TradingStateRule",
    "apply_exchange_filters",
    "default_entry_rules",
    "default_order_rules",
    "order_notional",
]

ZERO = Decimal(0)
ONE = Decimal(1)
# Enum members as globals: cheaper to read than the enums' attributes, on every check.
_SELL, _HALTED, _REDUCING = Side.SELL, TradingState.HALTED, TradingState.REDUCING
NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a rule refuses the order."""

    reason: DenialReason
    detail: str


@dataclass(frozen=True, slots=True)
class CheckContext:
    """One consistent view of the engine for one check, built under the engine lock.

    ``open_symbols`` holds every symbol with an open position *or* a working entry reservation:
    that union is what the position limits count, so an order in flight is never forgotten.
    ``held_quantity`` is the ledger's base quantity of ``order.symbol``.
    """

    intent: RiskIntent
    order: OrderRequest
    now_ns: int
    limits: RiskLimits
    equity: Decimal | None
    trading_state: TradingState
    realized_pnl_today: Decimal
    cool_down_until_ns: int | None
    open_symbols: frozenset[Symbol]
    held_quantity: Decimal

    @property
    def symbol(self) -> Symbol:
        return self.order.symbol

    @property
    def reduces_exposure(self) -> bool:
        """A SELL no larger than what the ledger holds (quote-sized SELLs estimated at the reference)."""
        if self.order.side is not _SELL or self.held_quantity <= 0:
            return False
        quantity = estimated_quantity(self.order, self.intent.reference_price)
        return quantity is None or quantity <= self.held_quantity


class PreTradeRule(Protocol):
    """A pre-trade rule: ``None`` lets the order pass. ``describe`` says which rule it is (see
    :mod:`~thunes.risk.description`)."""

    def evaluate(self, ctx: CheckContext) -> Denial | None: ...

    def describe(self) -> RuleSpec: ...


class DeclaredRule:
    """A rule with an id and a version, and no parameter of its own (it reads the limits)."""

    rule_id: ClassVar[str]
    version: ClassVar[int] = 1

    def describe(self) -> RuleSpec:
        return RuleSpec(self.rule_id, self.version)


def order_price(order: OrderRequest, reference_price: Decimal | None) -> Decimal | None:
    """The limit price, else the reference price (MARKET)."""
    return order.price if order.price is not None else reference_price


def estimated_quantity(order: OrderRequest, reference_price: Decimal | None) -> Decimal | None:
    """Base quantity, estimated at the reference price for quote-sized MARKET orders."""
    if order.quantity is not None:
        return order.quantity
    assert order.quote_quantity is not None  # OrderRequest holds exactly one of the two
    return None if not reference_price else order.quote_quantity / reference_price


def order_notional(order: OrderRequest, reference_price: Decimal | None) -> Decimal | None:
    """Quote value of the order; ``None`` for a MARKET order without a reference price."""
    if order.quote_quantity is not None:
        return order.quote_quantity
    price = order_price(order, reference_price)
    assert order.quantity is not None
    return None if price is None else price * order.quantity


class TradingStateRule(DeclaredRule):
    """HALTED lets nothing through; REDUCING (kill-switch) only exposure-reducing SELLs."""

    rule_id = "trading_state"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        state = ctx.trading_state
        if state is _HALTED:
            return Denial(DenialReason.TRADING_HALTED, "trading is halted: cancels only")
        if state is _REDUCING and not ctx.reduces_exposure:
            return Denial(DenialReason.KILL_SWITCH, "kill-switch on: only SELLs of a held position are allowed")
        return None


class HeldQuantityRule(DeclaredRule):
    """Spot is long-only: a SELL must not exceed what the ledger holds."""

    rule_id = "held_quantity"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        if ctx.order.side is _SELL and not ctx.reduces_exposure:
            quantity = estimated_quantity(ctx.order, ctx.intent.reference_price)
            return Denial(
                DenialReason.INSUFFICIENT_BALANCE,
                f"SELL {quantity} {ctx.symbol} but the ledger holds {ctx.held_quantity}",
            )
        return None


class DailyLossRule(DeclaredRule):
    """No entry once the UTC day's realised loss has reached the limit."""

    rule_id = "daily_loss"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        cap = ctx.limits.daily_loss_cap(ctx.equity)
        if -ctx.realized_pnl_today >= cap:
            return Denial(DenialReason.DAILY_LOSS, f"realised PnL today {ctx.realized_pnl_today}, limit -{cap}")
        return None


class CoolDownRule(DeclaredRule):
    """No entry while the cool-down that followed a losing close runs."""

    rule_id = "cool_down"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        until = ctx.cool_down_until_ns
        if until is not None and ctx.now_ns < until:
            left_s = (until - ctx.now_ns) / NS_PER_SECOND
            return Denial(DenialReason.COOL_DOWN, f"cool-down after a losing close: {left_s:.0f} s left")
        return None


class OnePositionPerSymbolRule(DeclaredRule):
    """One position per symbol: a held or reserved symbol takes no second entry."""

    rule_id = "one_position_per_symbol"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        if ctx.limits.one_position_per_symbol and ctx.symbol in ctx.open_symbols:
            return Denial(DenialReason.DUPLICATE_POSITION, f"{ctx.symbol} already has a position or a working entry")
        return None


class MaxOpenPositionsRule(DeclaredRule):
    """At most ``max_open_positions`` symbols held or reserved; adding to one already counted is free."""

    rule_id = "max_open_positions"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        limit = ctx.limits.max_open_positions
        if ctx.symbol not in ctx.open_symbols and len(ctx.open_symbols) >= limit:
            return Denial(DenialReason.POSITION_LIMIT, f"{len(ctx.open_symbols)} of {limit} position slots in use")
        return None


class MaxOrderNotionalRule(DeclaredRule):
    """An entry's notional must be known and within the cap (absolute or share of equity)."""

    rule_id = "max_order_notional"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        notional = order_notional(ctx.order, ctx.intent.reference_price)
        if notional is None:
            return Denial(DenialReason.ORDER_NOTIONAL, "MARKET order without a reference price cannot be priced")
        cap = ctx.limits.order_notional_cap(ctx.equity)
        if notional > cap:
            return Denial(DenialReason.ORDER_NOTIONAL, f"notional {notional} > limit {cap}")
        return None


class ExitFeasibilityRule(DeclaredRule):
    """An entry must leave a position that can be sold after fees and rounding (SPEC §1).

    Judged at the entry price less ``exit_buffer``: a position sellable only at today's price
    becomes dust on the first dip. Needs the instrument; without one the rule abstains.
    """

    rule_id = "exit_feasibility"

    def evaluate(self, ctx: CheckContext) -> Denial | None:
        instrument = ctx.intent.instrument
        price = order_price(ctx.order, ctx.intent.reference_price)
        quantity = estimated_quantity(ctx.order, ctx.intent.reference_price)
        if instrument is None or price is None or quantity is None:
            return None
        exit_price = price * (ONE - ctx.limits.exit_buffer)
        fee_rate, fee_in_base = ctx.intent.fee_rate, ctx.intent.fee_in_base
        if not is_exit_feasible(instrument, quantity, exit_price, fee_rate, fee_in_base=fee_in_base):
            return Denial(
                DenialReason.EXIT_INFEASIBLE,
                f"{quantity} {ctx.symbol} could not be sold at {exit_price} after a {fee_rate} fee (dust)",
            )
        return None


def apply_exchange_filters(ctx: CheckContext, fast: FastFilters | None = None) -> tuple[OrderRequest, Denial | None]:
    """Normalise the order to the instrument's tick and step and check every filter (-1013 guard).

    Without an instrument the order passes unchanged. The detail starts with ``FILTERS_<NAME>``.
    ``fast``: the instrument's :class:`FastFilters`, whose yes is the full check's (it answers only
    "passes" or "ask the full check"), so an order that passes costs no ``check_order``.
    """
    intent = ctx.intent
    instrument = intent.instrument
    if instrument is None:
        return ctx.order, None
    if fast is not None:
        rounded = round_order(instrument, ctx.order)
        if not isinstance(rounded, Violation):
            try:
                passes = fast.accepts(rounded.side, rounded.order_type, rounded.quantity, rounded.price,
                                      rounded.quote_quantity, intent.reference_price, intent.open_orders)  # fmt: skip
            except ArithmeticError:  # a value Decimal cannot compare: the full check says what it breaks
                passes = False
            if passes:
                return rounded, None
    market = MarketContext(intent.reference_price, intent.open_orders, ctx.held_quantity)
    result = normalize_order(instrument, ctx.order, market)
    if result.ok:
        return result.order, None
    detail = "; ".join(f"{v.reason_code}: {v.message}" for v in result.violations)
    return ctx.order, Denial(DenialReason.FILTERS, detail)


def default_order_rules() -> Sequence[PreTradeRule]:
    """Rules every order meets, exits included."""
    return (TradingStateRule(), HeldQuantityRule())


def default_entry_rules() -> Sequence[PreTradeRule]:
    """Rules only entries (BUYs) meet, cheapest first."""
    return (
        DailyLossRule(),
        CoolDownRule(),
        OnePositionPerSymbolRule(),
        MaxOpenPositionsRule(),
        MaxOrderNotionalRule(),
        ExitFeasibilityRule(),
    )
