"""The simulated venue as a ``VenuePort``, in-process: backtests and tests trade the same core the
server exposes, without a socket. Errors map like the ccxt adapter's: venue errors are rejections."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from thunes.domain.enums import Liquidity, OrderType, TimeInForce
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import ClientOrderId, Symbol, VenueOrderId, valid_by_construction
from thunes.domain.orders import Fill, OrderRequest
from thunes.domain.venue import OrderReport, RejectedByVenueError
from thunes.simvenue.core import SimVenue
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import SimOrder, SimTrade
from thunes.simvenue.validation import OrderParams

__all__ = ["InProcessVenue", "report_of"]

NS_PER_MS = 1_000_000


def _in_sync() -> None:
    """The venue's market is always current (fed as it happens)."""


_UNKNOWN_ORDER = (-2013, -2011)
_MAKER, _TAKER, _LIMIT = Liquidity.MAKER, Liquidity.TAKER, OrderType.LIMIT


def _fill(order: SimOrder, trade: SimTrade, cid: ClientOrderId | None = None, symbol: Symbol | None = None) -> Fill:
    """``trade`` as a domain ``Fill``; ``cid`` and ``symbol``: the order's, when already validated."""
    return Fill(cid or ClientOrderId(order.client_order_id), str(trade.trade_id), symbol or Symbol(trade.symbol),
                trade.side, trade.price, trade.quantity, trade.commission, trade.commission_asset,
                _MAKER if trade.is_maker else _TAKER, trade.time_ms * NS_PER_MS)  # fmt: skip


def report_of(order: SimOrder, cid: ClientOrderId | None = None, symbol: Symbol | None = None) -> OrderReport:
    """A venue order as the domain's ``OrderReport``: its ids validated once, for the fills too, or
    not at all when the caller passes them already validated (the request's, on submit)."""
    if cid is None or cid != order.client_order_id:
        cid = ClientOrderId(order.client_order_id)
    if symbol is None or symbol != order.symbol:
        symbol = Symbol(order.symbol)
    venue_id = valid_by_construction(VenueOrderId, str(order.order_id))  # a positive integer: digits only
    trades = order.fills
    if len(trades) == 1:  # a MARKET order's usual single execution: no comprehension (and its frame)
        fills: tuple[Fill, ...] = (_fill(order, trades[0], cid, symbol),)
    else:
        fills = tuple([_fill(order, t, cid, symbol) for t in trades])
    return OrderReport(
        cid, venue_id, symbol, order.side, order.order_type, order.status, order.orig_qty,
        order.executed_qty, order.cumulative_quote, order.price, order.update_time_ms * NS_PER_MS, fills,
    )  # fmt: skip


def _units(value: Decimal, unit: Decimal) -> int | None:
    """``value`` as a whole number of ``unit`` (ticks, lots), or None when it is not one, exactly."""
    try:
        whole, rest = divmod(value, unit)  # exact, or InvalidOperation when the quotient passes the precision
    except ArithmeticError:
        return None
    return int(whole) if not rest and whole.is_finite() else None


class InProcessVenue:
    """One account of a ``SimVenue``; implements ``thunes.execution.ports.VenuePort``."""

    def __init__(
        self, venue: SimVenue, account: str, info: ExchangeInfo, *, sync: Callable[[], None] | None = None
    ) -> None:
        """``sync`` runs before every call that reads or changes the venue: a backtest that replays its
        market lazily brings it up to date there, and only when an order really reaches the venue."""
        self._venue, self._account, self._info = venue, account, info
        self._sync = sync if sync is not None else _in_sync
        # (tick size, step size) of each symbol the venue takes in integers (see ``place_order_ticks``)
        self._grids: dict[str, tuple[Decimal, Decimal]] = {}
        for symbol in venue.symbols:
            m = venue.market(symbol)
            if m.filters.tick_api:
                self._grids[symbol] = (m.instrument.price_filter.tick_size, m.instrument.lot_size.step_size)

    async def exchange_info(self) -> ExchangeInfo:
        return self._info

    async def submit(self, request: OrderRequest) -> OrderReport:
        self._sync()
        tif = request.time_in_force
        if tif is None and request.order_type is _LIMIT:
            tif = TimeInForce.GTC  # Binance requires it for LIMIT; GTC is what a resting order means
        symbol, qty, price = str(request.symbol), request.quantity, request.price
        grid = self._grids.get(symbol)
        lots = ticks = None
        if grid is not None and qty is not None:
            lots = _units(qty, grid[1])
            ticks = None if price is None else _units(price, grid[0])
        try:
            if lots is not None and (price is None or ticks is not None):
                # On the grid: the venue's integer entry, with the request's own digits (same checks, same
                # errors, same order and fills as the Decimal entry; it hands over whatever it does not
                # accept outright).
                order = self._venue.place_order_ticks(
                    self._account, symbol, request.side, request.order_type, lots, ticks, tif,
                    str(request.client_order_id), quantity=qty, price=price, live=True,
                )  # fmt: skip
            else:
                params = OrderParams(symbol, request.side, request.order_type, qty, request.quote_quantity, price,
                                     tif, str(request.client_order_id))  # fmt: skip
                order = self._venue.place_order(self._account, params)
        except VenueError as e:
            raise RejectedByVenueError(e.msg, e.code) from e
        return report_of(order, request.client_order_id, request.symbol)

    async def lookup(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderReport | None:
        self._sync()
        try:
            return report_of(self._venue.get_order(self._account, str(symbol), client_id=str(client_order_id)))
        except VenueError as e:
            if e.code in _UNKNOWN_ORDER:
                return None
            raise RejectedByVenueError(e.msg, e.code) from e

    async def cancel(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderReport:
        self._sync()
        try:
            return report_of(self._venue.cancel_order(self._account, str(symbol), client_id=str(client_order_id)))
        except VenueError as e:
            raise RejectedByVenueError(e.msg, e.code) from e

    async def amend(self, symbol: Symbol, client_order_id: ClientOrderId, new_qty: Decimal) -> OrderReport:
        self._sync()
        try:
            order = self._venue.amend_order(self._account, str(symbol), new_qty, client_id=str(client_order_id))
        except VenueError as e:
            raise RejectedByVenueError(e.msg, e.code) from e
        return report_of(order)

    async def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        self._sync()
        return [report_of(o) for o in self._venue.open_orders(self._account, None if symbol is None else str(symbol))]

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        self._sync()
        return {a: (b.free, b.locked) for a, b in self._venue.balances(self._account).items()}

    async def my_trades(self, symbol: Symbol, since_ms: int) -> list[Fill]:
        self._sync()
        orders = {o.order_id: o for o in self._venue.all_orders(self._account, str(symbol))}
        return [
            _fill(orders[t.order_id], t)
            for t in self._venue.my_trades(self._account, str(symbol))
            if t.time_ms >= since_ms
        ]
