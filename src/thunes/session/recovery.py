"""Recovery after a restart (SPEC §4): what a crash left in doubt is settled against the venue, and
the session's safety state made to agree with it, before the session trades again.

After :func:`recover_portfolio` (every trader of the account; :func:`recover_session` for one): no
journaled order is in doubt; every venue fill is booked by the trader of its symbol, in the risk
state's day too (the fills it missed are caught up from the ledger); each symbol's position (trader
and risk) is the fill ledger's; no reservation is held without an order working at the venue; and
an exit a trader decided but never placed has been sent again under its own client order id, or,
when its last round is final (given up after its sends, or refused), under the next round's id
(:func:`next_round_id`); or it waits, pending, for the next bar when risk denies it or no price is
known.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal

import structlog

from thunes.domain.enums import Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.market import Timeframe
from thunes.domain.venue import OrderReport
from thunes.engine.portfolio import Portfolio
from thunes.engine.trader import Trader
from thunes.execution.client_ids import next_round_id
from thunes.execution.order_manager import OrderManager
from thunes.execution.ports import JournalState
from thunes.session.jobs import patiently
from thunes.session.ports import SessionStore, SessionVenue

__all__ = [
    "adopt_unbooked",
    "last_close",
    "recover_portfolio",
    "recover_session",
    "settle_in_doubt",
    "settle_reservations",
]

_log = structlog.get_logger(__name__)
# An exit journaled in these states never reached the venue: NOT_PLACED (more sends allowed, same
# id) or REJECTED (given up after its sends, or refused: final).
_NEVER_PLACED = (JournalState.NOT_PLACED, JournalState.REJECTED)


async def recover_session(
    trader: Trader,
    orders: OrderManager,
    store: SessionStore,
    reference_price: Callable[[], Awaitable[Decimal | None]],
) -> None:
    """:func:`recover_portfolio` for a one-pair session."""

    async def price(_: Symbol) -> Decimal | None:
        return await reference_price()

    await recover_portfolio(Portfolio([trader]), orders, store, price)


async def recover_portfolio(
    portfolio: Portfolio,
    orders: OrderManager,
    store: SessionStore,
    reference_price: Callable[[Symbol], Awaitable[Decimal | None]],
) -> None:
    """Settle, book, free, resume: see the module. ``reference_price(symbol)``: the latest closed
    candle's close (:func:`last_close`), asked only when an exit is pending and something is held."""
    found = await _in_doubt(orders, store)
    _check_traded(portfolio, [r.symbol for r in found])
    # Fills the ledger booked but the risk state missed (a crash between the two, an older copy of
    # risk.json): the day's loss is the ledger's, booked before its positions are adopted.
    missed = portfolio.risk.catch_up(store.booked_fills())
    if missed:
        _log.warning("risk_caught_up", fills=len(missed), trade_ids=[f.trade_id for f in missed])
    # Each position from the ledger, then every order a crash left unbooked, oldest first, booked on
    # top of it (a SELL booked before its BUY was restored would sell nothing held).
    for trader in portfolio:
        trader.restore(store.fills(str(trader.instrument.symbol)))
    for report in found:
        portfolio.trader(report.symbol).book(report)
    await adopt_unbooked(portfolio, orders, store)
    settle_reservations(portfolio, store)
    for trader in portfolio:
        await _resume_exit(trader, store, reference_price)


async def _resume_exit(
    trader: Trader, store: SessionStore, reference_price: Callable[[Symbol], Awaitable[Decimal | None]]
) -> None:
    """The trader's last decision was an exit the venue never got: send it again (what it was to sell is held)."""
    newest = store.newest_intent(trader.instrument.symbol)
    if newest is None or newest.request.side is not Side.SELL or newest.state not in _NEVER_PLACED:
        return
    request = newest.request
    if newest.state is JournalState.REJECTED:  # that round is final: the next one, under its own id
        request = replace(request, client_order_id=next_round_id(request.client_order_id))
    trader.resume_exit(request)
    _log.info("exit_resumed", client_order_id=str(request.client_order_id), state=newest.state.value)
    if trader.position.quantity > 0:
        price = await reference_price(trader.instrument.symbol)
        if price is not None:
            await trader.retry_exit(price)


def _check_traded(portfolio: Portfolio, symbols: list[Symbol]) -> None:
    """An order in doubt of a symbol the portfolio no longer trades has no trader to book it: refuse
    to start (fail closed) rather than leave its fills out of the ledger."""
    foreign = sorted({str(s) for s in symbols} - {str(s) for s in portfolio.symbols})
    if foreign:
        raise ValueError(f"the ledger holds orders in doubt on {', '.join(foreign)}, which this portfolio does not "
                         f"trade ({', '.join(portfolio.symbols)}): add the pair back to settle them")  # fmt: skip


async def settle_in_doubt(traders: Trader | Portfolio, orders: OrderManager, store: SessionStore) -> None:
    """A graceful stop (SIGTERM, the session's duration) may cut an order at any venue call: every
    order it left in doubt is looked up and booked (by its symbol's trader), or journaled as never
    placed, before the session ends; then reservations without a working order are freed. What the
    venue cannot answer in time stays in doubt in the journal, for the next start's :func:`recover_session`."""
    portfolio = _portfolio(traders)
    found = await _in_doubt(orders, store)
    _check_traded(portfolio, [r.symbol for r in found])
    for report in found:
        portfolio.trader(report.symbol).book(report)
    settle_reservations(portfolio, store)


def _portfolio(traders: Trader | Portfolio) -> Portfolio:
    return traders if isinstance(traders, Portfolio) else Portfolio([traders])


async def _in_doubt(orders: OrderManager, store: SessionStore) -> list[OrderReport]:
    """The venue's reports of the orders the ledger lacks, oldest first: those journaled INTENT or
    UNKNOWN (sent, the answer lost or cut off), and those answered but never booked (the journal is
    marked before the ledger books, in another transaction). Looking one up journals it as adopted
    or as never placed."""
    unbooked = store.unbooked()
    found = list(await orders.recover())
    for entry in unbooked:
        report = await orders.refresh(entry.request.symbol, entry.request.client_order_id)
        if report is not None:
            found.append(report)
    return sorted(found, key=lambda r: r.ts_ns)


ADOPT_WINDOW_NS = 7 * 86_400_000_000_000  # the journal's recent past that is checked (Binance keeps far more)


async def adopt_unbooked(traders: Trader | Portfolio, orders: OrderManager, store: SessionStore) -> list[OrderReport]:
    """The safety net for ledgers written before the order manager waited out the venue's
    recvWindow: an order journaled NOT_PLACED or REJECTED in the recent window that the venue has
    after all (filled, its fill never booked) is adopted and booked, with an audit record of the fill
    and a warning, before balances are compared: otherwise reconciliation sees only a balance
    difference and switches to REDUCING. The reports booked, oldest first."""
    since = orders.now_ns() - ADOPT_WINDOW_NS
    portfolio = _portfolio(traders)
    found: list[OrderReport] = []
    for entry in store.never_placed_unbooked(since):
        report = await orders.adopt_if_placed(entry.request.symbol, entry.request.client_order_id)
        if report is not None:
            found.append(report)
    _check_traded(portfolio, [r.symbol for r in found])
    for report in sorted(found, key=lambda r: r.ts_ns):
        _log.warning("unbooked_order_adopted", client_order_id=str(report.client_order_id),
                     status=report.status.value, filled=str(report.filled_quantity))  # fmt: skip
        portfolio.trader(report.symbol).book(report)
    return found


def settle_reservations(traders: Trader | Portfolio, store: SessionStore) -> tuple[ClientOrderId, ...]:
    """Free every risk reservation whose order is neither open in the ledger nor in doubt in the
    journal (after a restart, or a stop that cut an order short); the ids freed."""
    working = {ClientOrderId(row["client_order_id"]) for row in store.orders(open_only=True)}
    working.update(entry.request.client_order_id for entry in store.unresolved())  # still in doubt: kept
    freed = traders.risk.settle_reservations(working)  # one risk engine for the whole account
    if freed:
        _log.warning("reservations_released", client_order_ids=[str(c) for c in freed])
    return freed


async def last_close(client: SessionVenue, symbol: Symbol, timeframe: Timeframe) -> Decimal | None:
    """The close of the latest closed candle on the market's clock (None: none closed yet): the
    reference price of a resumed exit. Retries through a fault burst (:func:`patiently`)."""
    forming_ms = await patiently(lambda: client.forming_open_ms(symbol, timeframe))
    start_ms = forming_ms - timeframe.nanoseconds // 1_000_000
    bars = await patiently(lambda: client.klines(symbol, timeframe, start_ms, forming_ms - 1))
    return bars[-1].close if bars else None
