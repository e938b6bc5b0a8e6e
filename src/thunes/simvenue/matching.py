"""What happens to an accepted order: executions, locks, resting, ending, and the reports they emit.

Functions over one market, one account and one order, shared by the venue's placement, market-data
and cancel paths. Amounts are exact ``Decimal``; every change to an order or a balance is reported
to the account's outbox in the order Binance's user data stream would push it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_UP, Decimal

from thunes.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from thunes.domain.fees import commission
from thunes.simvenue.market import Level, MarketState
from thunes.simvenue.models import Account, AccountUpdate, ExecutionReport, SimOrder, SimTrade

__all__ = ["Listeners", "emit", "emit_balances", "execute", "fill", "finish", "settle"]

# Enum members as module constants: on Python 3.11 ``Side.BUY`` costs ~70 ns more than a global read,
# and the order path reads a dozen of them per order.
_MARKET, _FOK, _BUY = OrderType.MARKET, TimeInForce.FOK, Side.BUY
_EXPIRED, _CANCELED = OrderStatus.EXPIRED, OrderStatus.CANCELED

Listeners = Sequence[Callable[[str], None]]
ZERO = Decimal(0)
_NEW, _PARTIAL, _FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
_ENDS_NOW = (TimeInForce.IOC, TimeInForce.FOK)


def emit(acct: Account, report: ExecutionReport, listeners: Listeners) -> None:
    """Queue an ``executionReport`` for the account and tell the listeners it has news."""
    if not acct.streams:
        return
    acct.outbox.append(report)
    for listener in listeners:
        listener(report.order.account)


def emit_balances(acct: Account, now_ms: int, assets: tuple[str, ...], listeners: Listeners) -> None:
    """Queue an ``outboundAccountPosition`` with the current balances of ``assets``."""
    if not acct.streams:
        return
    balances = acct.balances
    if len(assets) == 1:
        asset = assets[0]
        balance = balances[asset]
        rows: tuple[tuple[str, Decimal, Decimal], ...] = ((asset, balance.free, balance.locked),)
    else:
        rows = tuple([(a, balances[a].free, balances[a].locked) for a in assets])
    acct.outbox.append(AccountUpdate(now_ms, rows))
    for listener in listeners:
        listener(acct.name)


def settle(acct: Account, order: SimOrder) -> None:
    """Drop a finished order from the open set."""
    status = order.status
    if status is not _NEW and status is not _PARTIAL and acct.open.pop(order.order_id, None) is not None:
        acct.open_per_symbol[order.symbol] -= 1


def execute(
    m: MarketState, acct: Account, order: SimOrder, levels: list[Level], now_ms: int, listeners: Listeners
) -> SimOrder | None:
    """Take ``levels`` now, then rest, expire or finish the order by its type and time in force.

    Returns the snapshot of the last report when that report ended the order (nothing changes a
    finished order, so the caller can answer with it instead of copying the order once more), the
    order itself when it ended on a fill with no report (an account without a user stream), else None.
    """
    inst = m.instrument
    last = None
    if order.order_type is _MARKET and order.orig_qty == 0:  # quote-quantity order
        order.orig_qty = sum((q for _, q in levels), ZERO)
    if order.time_in_force is _FOK and sum((q for _, q in levels), ZERO) < order.orig_qty:
        levels = []
    if levels:
        m.consume(order.side, levels)
        last = fill(m, acct, order, levels, False, now_ms, listeners)
    if order.status is not _NEW and order.status is not _PARTIAL:
        return last
    if order.order_type is _MARKET or order.time_in_force in _ENDS_NOW:
        return finish(m, acct, order, _EXPIRED, now_ms, listeners)
    assert order.price is not None
    if order.side is _BUY:
        lock, asset = order.price * (order.orig_qty - order.executed_qty), inst.quote_asset
    else:
        lock, asset = order.orig_qty - order.executed_qty, inst.base_asset
    balance = acct.balances[asset]
    balance.free -= lock
    balance.locked += lock
    order.locked = lock
    m.rest(order)
    emit_balances(acct, now_ms, (asset,), listeners)
    return None


def fill(
    m: MarketState,
    acct: Account,
    order: SimOrder,
    levels: list[Level],
    is_maker: bool,
    now_ms: int,
    listeners: Listeners,
) -> SimOrder:
    """Apply executions to the order, the account's balances and its trade list; the last report's snapshot,
    or the order itself on an account without a user stream (no report: whoever hands it out copies it)."""
    inst = m.instrument
    base_asset, quote_asset = inst.base_asset, inst.quote_asset
    base, quote = acct.balances[base_asset], acct.balances[quote_asset]
    buy = order.side is _BUY
    rate, base_fee, quote_fee = m.fee_rate, m.base_fee_quantum, m.quote_fee_quantum
    snapshot = order
    for price, qty in levels:
        notional = price * qty
        if buy:
            # domain.fees.commission, with the quantum computed once per market (see MarketState)
            fee = (qty * rate).quantize(base_fee, ROUND_UP) if rate >= 0 else commission(qty, rate)
            fee_asset = base_asset
            if order.locked:  # resting BUY: release what was locked at the limit price
                release = order.price * qty if order.price is not None else notional
                quote.locked -= release
                order.locked -= release
                quote.free += release - notional
            else:
                quote.free -= notional
            base.free += qty - fee
        else:
            fee = (notional * rate).quantize(quote_fee, ROUND_UP) if rate >= 0 else commission(notional, rate)
            fee_asset = quote_asset
            if order.locked:
                base.locked -= qty
                order.locked -= qty
            else:
                base.free -= qty
            quote.free += notional - fee
        trade = SimTrade(m.next_trade_id, order.order_id, order.symbol, order.side, price, qty, fee, fee_asset,
                         is_maker, now_ms)  # fmt: skip
        m.next_trade_id += 1
        order.executed_qty += qty
        order.cumulative_quote += notional
        order.fills.append(trade)
        acct.trades.append(trade)
        order.status = _FILLED if order.executed_qty >= order.orig_qty else _PARTIAL
        order.update_time_ms = now_ms
        if acct.streams:
            snapshot = order.snapshot()
            emit(acct, ExecutionReport(now_ms, snapshot, "TRADE", trade), listeners)
    if acct.streams:
        rows = ((base_asset, base.free, base.locked), (quote_asset, quote.free, quote.locked))
        acct.outbox.append(AccountUpdate(now_ms, rows))  # emit_balances(acct, now_ms, (base, quote)), inlined
        for listener in listeners:
            listener(acct.name)
    return snapshot


def finish(
    m: MarketState, acct: Account, order: SimOrder, status: OrderStatus, now_ms: int, listeners: Listeners
) -> SimOrder:
    """End an open order (CANCELED or EXPIRED), unlocking what it still holds; the report's snapshot."""
    if order.locked:
        asset = m.instrument.quote_asset if order.side is _BUY else m.instrument.base_asset
        balance = acct.balances[asset]
        balance.locked -= order.locked
        balance.free += order.locked
        order.locked = ZERO
        emit_balances(acct, now_ms, (asset,), listeners)
    m.unrest(order)
    order.status = status
    order.update_time_ms = now_ms
    settle(acct, order)
    kind = "CANCELED" if status is _CANCELED else "EXPIRED"
    snapshot = order.snapshot()
    emit(acct, ExecutionReport(now_ms, snapshot, kind), listeners)
    return snapshot
