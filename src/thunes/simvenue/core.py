"""``SimVenue``: the in-process matching core behind backtests, the RL environment and the server.

It keeps accounts (free and locked balances), validates orders exactly as Binance spot does
(same checks, same error codes and messages), matches them against replayed market liquidity and
reports executions. Prices and quantities are ``Decimal`` at its boundary; time comes from an
injected clock (ns), so a replay is deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from thunes.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from thunes.domain.identifiers import Symbol
from thunes.domain.instrument import Instrument
from thunes.simvenue import errors as err
from thunes.simvenue.market import DepthBook, MarketState, PricingSpec
from thunes.simvenue.matching import emit, emit_balances, execute, fill, finish, settle
from thunes.simvenue.models import (
    Account,
    Accounts,
    AccountUpdate,
    Balance,
    ExecutionReport,
    SimOrder,
    SimTrade,
    ids_of_client_id,
    remember_client_id,
)
from thunes.simvenue.persistence import FORMAT_VERSION, dump_accounts, load_accounts
from thunes.simvenue.slippage import Slippage, SlippageModel
from thunes.simvenue.validation import (
    CLIENT_ID,
    OrderParams,
    check_balance,
    check_duplicate,
    check_filters,
    check_params,
    plain_shape,
)

__all__ = ["OrderParams", "SimVenue"]

# Enum members as module constants: on Python 3.11 ``Side.BUY`` costs ~70 ns more than a global read,
# and the order path reads a dozen of them per order.
_MARKET, _LIMIT_MAKER, _BUY = OrderType.MARKET, OrderType.LIMIT_MAKER, Side.BUY
_NEW, _CANCELED, _FILLED = OrderStatus.NEW, OrderStatus.CANCELED, OrderStatus.FILLED

ZERO = Decimal(0)
NS_PER_MS = 1_000_000


class SimVenue:
    """A Binance-compatible spot matching core over replayed market data."""

    def __init__(
        self,
        instruments: Mapping[Symbol, Instrument] | Mapping[str, Instrument],
        clock_ns: Callable[[], int],
        *,
        fee_rate: Decimal = Decimal("0.001"),
        fee_overrides: Mapping[str, Decimal] | None = None,
        slippage: Slippage | None = None,
        avg_price_mins: int | None = None,
        seed: int = 0,
        user_stream: bool = True,
    ) -> None:
        """``user_stream=False``: no account's reports are queued for :meth:`drain` (an in-process user
        that reads orders and balances directly; the queue would otherwise grow with every order).
        ``avg_price_mins``: the ``avgPrice`` window of every symbol (None: each symbol's ``avgPriceMins``,
        as Binance computes it; another window is a what-if on how fast the average follows the market)."""
        if avg_price_mins is not None and avg_price_mins < 0:
            raise ValueError(f"avg_price_mins must be >= 0, got {avg_price_mins}")
        overrides = fee_overrides or {}
        model = slippage or SlippageModel()
        self._markets = {str(s): MarketState(i, overrides.get(str(s), fee_rate), model, avg_price_mins)
                         for s, i in instruments.items()}  # fmt: skip
        self._clock_ns = clock_ns
        self._rng = random.Random(seed)  # noqa: S311 - reproducible ids, not security
        self._accounts = Accounts(streams=user_stream)
        self._orders: dict[int, SimOrder] = {}
        self._sequence = 0
        self._next_order_id = 1
        self._listeners: list[Callable[[str], None]] = []

    # --- accounts ---------------------------------------------------------------------------------
    def deposit(self, account: str, asset: str, amount: Decimal) -> None:
        """Credit ``amount`` of ``asset`` (negative withdraws, never below zero free)."""
        balance = self._accounts[account].balances[asset]
        if balance.free + amount < 0:
            raise err.new_order_rejected(err.INSUFFICIENT_BALANCE)
        balance.free += amount

    def balances(self, account: str) -> dict[str, Balance]:
        """Copies of every non-empty balance of ``account``."""
        return {a: Balance(b.free, b.locked) for a, b in self._accounts[account].balances.items() if b.total}

    def export_state(self) -> dict[str, Any]:
        """Accounts, orders, trades and id counters as JSON-ready data (see ``persistence``)."""
        return {**self.export_counters(), "accounts": dump_accounts(self._accounts)}

    def export_counters(self) -> dict[str, Any]:
        """The id counters of :meth:`export_state` alone (the next order, sequence and trade ids)."""
        return {
            "version": FORMAT_VERSION,
            "next_order_id": self._next_order_id,
            "sequence": self._sequence,
            "next_trade_ids": {s: m.next_trade_id for s, m in self._markets.items()},
        }

    def import_state(self, data: dict[str, Any]) -> None:
        """Replace all accounts with ``data`` from :meth:`export_state`; open orders rest again."""
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported venue state version {data.get('version')!r}")
        self._accounts = load_accounts(data["accounts"], streams=self._accounts.streams)
        self._orders = {i: o for a in self._accounts.values() for i, o in a.orders.items()}
        self._next_order_id, self._sequence = int(data["next_order_id"]), int(data["sequence"])
        for symbol, market in self._markets.items():
            market.next_trade_id = int(data["next_trade_ids"].get(symbol, market.next_trade_id))
            market.clear_resting()
        for order in self._orders.values():
            if order.is_open and order.order_type is not _MARKET:
                self._markets[order.symbol].rest(order)

    def accounts_view(self) -> Mapping[str, Account]:
        """The live accounts, for a journal that persists them as they change: read, never modify."""
        return self._accounts

    def reseed(self, seed: int) -> None:
        """Seed the generator of venue-made client order ids afresh: a venue restored from its journal
        must not issue again the ids its former run issued from the same seed."""
        self._rng.seed(seed)

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(account)`` whenever that account has new reports to :meth:`drain`."""
        self._listeners.append(callback)

    def drain(self, account: str) -> list[ExecutionReport | AccountUpdate]:
        """Reports emitted for ``account`` since the last call (the user data stream's feed; always
        empty on a venue made with ``user_stream=False``)."""
        box = self._accounts[account].outbox
        out, box[:] = list(box), []
        return out

    # --- market data in ---------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketState:
        try:
            return self._markets[symbol]
        except KeyError:
            raise err.bad_symbol() from None

    def pricing(self, symbol: str) -> PricingSpec:
        """How this venue prices a taker on ``symbol`` (fee, slippage model, ``avgPrice`` window, book)."""
        return self.market(symbol).pricing()

    @property
    def symbols(self) -> list[str]:
        return list(self._markets)

    def attach_book(self, symbol: str, book: DepthBook) -> None:
        """Use an L2 book (kept up to date by the replay) for this symbol's taker liquidity."""
        self.market(symbol).book = book

    def on_quote(self, symbol: str, bid: Decimal, bid_qty: Decimal, ask: Decimal, ask_qty: Decimal) -> None:
        m = self._markets[symbol]
        m.bid, m.bid_qty, m.ask, m.ask_qty = bid, bid_qty, ask, ask_qty

    def on_bar_context(self, symbol: str, volume: Decimal, range_fraction: float) -> None:
        """The bar in progress: its volume and (high - low) / close drive bar slippage."""
        m = self._markets[symbol]
        m.bar_volume, m.bar_range = volume, range_fraction

    def on_trade(self, symbol: str, price: Decimal, qty: Decimal) -> None:
        """A public trade: updates the last/average price and fills resting orders it goes through."""
        m = self._markets[symbol]
        now_ms = self._clock_ns() // NS_PER_MS
        m.record_trade(price, qty, now_ms)
        if (m.buy_top is not None or m.sell_top is not None) and m.may_cross(price):
            self._fill_crossed(m, m.ticks(price), qty, now_ms)

    def on_path(
        self, symbol: str, points: tuple[tuple[int, Decimal], ...], trade_qty: Decimal, shown: Decimal, spread: Decimal
    ) -> None:
        """A bar's replay in one call: at each ``(ts_ns, price)``, a quote ``spread`` around ``price`` showing
        ``shown`` on both sides, then (when ``trade_qty > 0``) a trade of ``trade_qty`` at ``price``.

        The same as :meth:`on_quote` and :meth:`on_trade` event by event with the clock at each ``ts_ns``
        (never before the venue's own clock), without a call per event: a backtest's hot loop.
        """
        m = self._markets[symbol]
        floor_ms = self._clock_ns() // NS_PER_MS
        for ts, price in points:
            m.bid, m.bid_qty, m.ask, m.ask_qty = price - spread, shown, price + spread, shown
            if trade_qty > 0:
                now_ms = max(ts // NS_PER_MS, floor_ms)
                m.record_trade(price, trade_qty, now_ms)
                if (m.buy_top is not None or m.sell_top is not None) and m.may_cross(price):
                    self._fill_crossed(m, m.ticks(price), trade_qty, now_ms)

    def _fill_crossed(self, m: MarketState, price_ticks: int, qty: Decimal, now_ms: int) -> None:
        """Fill the resting orders a trade of ``qty`` at ``price_ticks`` goes through, best first."""
        available = qty
        for order_id in m.crossed_by_trade(price_ticks):
            if available <= 0:
                break
            order = self._orders[order_id]
            take = min(order.remaining, available)
            available -= take
            assert order.price is not None
            acct = self._accounts[order.account]
            fill(m, acct, order, [(order.price, take)], True, now_ms, self._listeners)
            if not order.is_open:
                m.unrest(order)
                settle(acct, order)

    # --- orders -----------------------------------------------------------------------------------
    def place_order(self, account: str, params: OrderParams, *, test: bool = False) -> SimOrder:
        """Validate, then match ``params``; returns the order after matching (``test``: validate only)."""
        m = self.market(params.symbol)
        return self._place(m, account, params, self._clock_ns() // NS_PER_MS, test)

    def place_order_ticks(
        self,
        account: str,
        symbol: str,
        side: Side,
        order_type: OrderType,
        qty_lots: int,
        price_ticks: int | None = None,
        time_in_force: TimeInForce | None = None,
        client_order_id: str | None = None,
        *,
        test: bool = False,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        live: bool = False,
    ) -> SimOrder:
        """:meth:`place_order` for ``qty_lots * stepSize`` at ``price_ticks * tickSize`` (integer entry point).

        For backtests and the RL environment, whose prices already are ticks and quantities lots
        (``stepSize`` of LOT_SIZE). Same checks, errors, fills and reports as :meth:`place_order` with
        those ``Decimal`` values: the filters are checked on the integers, and any order they do not
        accept outright is handed, converted, to :meth:`place_order` for Binance's exact answer.
        ``price_ticks`` is None for MARKET orders; orders by quote amount (``quoteOrderQty``) go through
        :meth:`place_order`. ``ValueError`` for a symbol without a tick or step size.
        ``quantity`` and ``price``: those same values in the caller's own digits (a request already in
        ``Decimal``, whose order and fills must carry them as sent); the caller vouches they are equal.
        ``live``: the answer may be the venue's own order, not a copy (a caller that reads it at once and
        keeps nothing of it, the in-process adapter); never modify it.
        """
        m = self.market(symbol)
        if not m.filters.tick_api:
            raise ValueError(f"{symbol} has no tick or step size: place its orders in Decimal")
        now_ms = self._clock_ns() // NS_PER_MS
        inst = m.instrument
        qty = qty_lots * inst.lot_size.step_size if quantity is None else quantity
        if price is None and price_ticks is not None:
            price = price_ticks * inst.price_filter.tick_size
        if not plain_shape(inst, order_type, price_ticks is not None, time_in_force, client_order_id):
            params = OrderParams(symbol, side, order_type, qty, None, price, time_in_force, client_order_id)
            return self._place(m, account, params, now_ms, test)
        acct = self._accounts[account]
        try:
            ok = m.filters.accepts_ticks(
                side, order_type, qty_lots, qty, price_ticks or 0, m.avg_price(now_ms), acct.open_per_symbol[symbol]
            )
        except ArithmeticError:
            ok = False
        if not ok:  # the full Decimal path gives Binance's exact error (its checks run in the same order)
            params = OrderParams(symbol, side, order_type, qty, None, price, time_in_force, client_order_id)
            return self._place(m, account, params, now_ms, test)
        client_id = client_order_id or self._random_client_id()
        check_duplicate(acct, symbol, client_id)
        return self._admit(
            m, acct, symbol, side, order_type, time_in_force, qty, price, price_ticks or 0, None, client_id,
            now_ms, test, live,
        )  # fmt: skip

    def _place(self, m: MarketState, account: str, params: OrderParams, now_ms: int, test: bool) -> SimOrder:
        acct = self._accounts[account]
        check_params(m.instrument, params)
        client_id = params.client_order_id or self._random_client_id()
        check_duplicate(acct, params.symbol, client_id)
        avg_price, open_orders = m.avg_price(now_ms), acct.open_per_symbol[params.symbol]
        side, order_type, qty, price, quote = (
            params.side, params.order_type, params.quantity, params.price, params.quote_order_qty
        )  # fmt: skip
        try:
            ok = m.filters.accepts(side, order_type, qty, price, quote, avg_price, open_orders)
        except ArithmeticError:
            ok = False
        if not ok:
            check_filters(m.instrument, params, avg_price, open_orders, acct)  # raises the first broken filter
        return self._admit(
            m, acct, params.symbol, side, order_type, params.time_in_force, qty, price, None, quote, client_id,
            now_ms, test,
        )  # fmt: skip

    def _admit(
        self,
        m: MarketState,
        acct: Account,
        symbol: str,
        side: Side,
        order_type: OrderType,
        tif: TimeInForce | None,
        qty: Decimal | None,
        price: Decimal | None,
        price_ticks: int | None,
        quote: Decimal | None,
        client_id: str,
        now_ms: int,
        test: bool,
        live: bool = False,
    ) -> SimOrder:
        """The checks after the filters (would-take, balance), then the order: new, executed, settled.

        ``price_ticks`` is None when the order came in ``Decimal``: it is computed here, after every check.
        """
        if order_type is _LIMIT_MAKER and m.would_take(side, price or ZERO):
            raise err.new_order_rejected(err.WOULD_TAKE)
        levels = m.taker_levels(side, order_type, qty, price, quote)
        check_balance(m.instrument, side, order_type, qty, price, quote, levels, acct.balances)
        if price_ticks is None:
            price_ticks = 0 if price is None else m.ticks(price)
        self._sequence += 1
        order_id = self._next_order_id
        self._next_order_id += 1
        order = SimOrder(
            acct.name, symbol, order_id, client_id, side, order_type, tif, price, ZERO if qty is None else qty,
            quote or ZERO, now_ms, _NEW, ZERO, ZERO, now_ms, now_ms, self._sequence, price_ticks,
        )  # fmt: skip
        if test:
            return order
        acct.orders[order_id] = order
        remember_client_id(acct, client_id, order_id)
        self._orders[order_id] = order
        if acct.streams:
            emit(acct, ExecutionReport(now_ms, order.snapshot(), "NEW"), self._listeners)
        last = execute(m, acct, order, levels, now_ms, self._listeners)
        if order.is_open:  # it rests: one more open order (one that ends at once never counts)
            acct.open[order_id] = order
            acct.open_per_symbol[symbol] += 1
            return order if live else order.snapshot()
        if last is None or last is order:  # no report's snapshot to answer with
            return order if live else order.snapshot()
        return last

    def _random_client_id(self) -> str:
        return "%022x" % self._rng.getrandbits(88)  # noqa: UP031 - 22 characters, like Binance's own ids

    # --- queries, cancel, amend -----------------------------------------------------------------
    def _find(self, account: str, symbol: str, order_id: int | None, client_id: str | None) -> SimOrder | None:
        """The order named by id, else by the client id it carries now: the open one (at most one per
        symbol), else the newest. Decided by the orders alone, so a venue restored from its journal
        answers every lookup as it did before (the index's history is not part of its state)."""
        self.market(symbol)
        acct = self._accounts[account]
        if order_id is not None:
            order = acct.orders.get(order_id)
            if order is None or order.symbol != symbol:
                return None
            if client_id is not None and order.client_order_id != client_id:
                return None
            return order
        if client_id is None:
            raise err.VenueError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        ids = ids_of_client_id(acct, client_id)
        matches = [o for o in (acct.orders[i] for i in ids) if o.client_order_id == client_id and o.symbol == symbol]
        open_ones = [o for o in matches if o.is_open]
        found = open_ones or matches
        return max(found, key=lambda o: o.order_id) if found else None

    def get_order(
        self, account: str, symbol: str, order_id: int | None = None, client_id: str | None = None
    ) -> SimOrder:
        """-2013 for an unknown order; -2039 when ``order_id`` names one that does not carry ``client_id``."""
        order = self._find(account, symbol, order_id, client_id)
        if order is None:
            if order_id is not None and client_id is not None and self._find(account, symbol, order_id, None):
                raise err.VenueError(-2039, "Client order ID is not correct for this order ID.")
            raise err.no_such_order()
        return order.snapshot()

    def cancel_order(
        self, account: str, symbol: str, order_id: int | None = None, client_id: str | None = None
    ) -> SimOrder:
        order = self._find(account, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise err.cancel_rejected()
        m = self._markets[order.symbol]
        return finish(m, self._accounts[account], order, _CANCELED, self._clock_ns() // NS_PER_MS,
                      self._listeners)  # fmt: skip

    def amend_order(
        self,
        account: str,
        symbol: str,
        new_qty: Decimal,
        order_id: int | None = None,
        client_id: str | None = None,
        new_client_id: str | None = None,
    ) -> SimOrder:
        """Reduce an open order's quantity keeping its queue position (order/amend/keepPriority)."""
        order = self._find(account, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise err.VenueError(-2038, err.UNKNOWN_ORDER)
        if new_qty == order.orig_qty:
            raise err.VenueError(-2038, "The requested action would change no state; rejecting")
        if new_qty > order.orig_qty or new_qty <= 0:
            raise err.VenueError(-2038, "Order amend (quantity increase) is not supported.")
        if new_client_id is not None and not CLIENT_ID.fullmatch(new_client_id):
            raise err.illegal_chars("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$")
        acct = self._accounts[account]
        if new_client_id is not None and new_client_id != order.client_order_id:
            try:  # another open order of the symbol carries it: two open orders would answer to one id
                check_duplicate(acct, symbol, new_client_id)
            except err.VenueError:
                raise err.VenueError(-2038, err.DUPLICATE_ORDER) from None
        now_ms = self._clock_ns() // NS_PER_MS
        m = self._markets[symbol]
        orig_client = order.client_order_id
        released = (
            (order.orig_qty - new_qty) * (order.price or ZERO) if order.side is _BUY else order.orig_qty - new_qty
        )
        asset = m.instrument.quote_asset if order.side is _BUY else m.instrument.base_asset
        released = min(released, order.locked)
        acct.balances[asset].locked -= released
        acct.balances[asset].free += released
        order.locked -= released
        order.orig_qty = new_qty
        order.client_order_id = new_client_id or self._random_client_id()
        remember_client_id(acct, order.client_order_id, order.order_id)
        order.update_time_ms = now_ms
        if order.executed_qty >= new_qty:  # what already executed covers the new quantity
            acct.balances[asset].locked -= order.locked
            acct.balances[asset].free += order.locked
            order.locked = ZERO
            order.status = _FILLED
            m.unrest(order)
            settle(acct, order)
        report = ExecutionReport(now_ms, order.snapshot(), "REPLACED", orig_client_order_id=orig_client)
        emit(acct, report, self._listeners)
        emit_balances(acct, now_ms, (asset,), self._listeners)
        return order.snapshot()

    def open_orders(self, account: str, symbol: str | None = None) -> list[SimOrder]:
        if symbol is not None:
            self.market(symbol)
        return [o.snapshot() for o in self._accounts[account].open.values() if symbol in (None, o.symbol)]

    def all_orders(self, account: str, symbol: str) -> list[SimOrder]:
        self.market(symbol)
        return [o.snapshot() for o in self._accounts[account].orders.values() if o.symbol == symbol]

    def trade_count(self, account: str) -> int:
        """How many executions ``account`` has had: its balances' totals change only with this (or a deposit)."""
        return len(self._accounts[account].trades)

    def my_trades(self, account: str, symbol: str) -> list[SimTrade]:
        self.market(symbol)
        return [t for t in self._accounts[account].trades if t.symbol == symbol]

    def avg_price(self, symbol: str) -> Decimal | None:
        return self.market(symbol).avg_price(self._clock_ns() // NS_PER_MS)
