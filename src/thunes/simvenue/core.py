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
from thunes.domain.fees import commission
from thunes.domain.identifiers import Symbol
from thunes.domain.instrument import Instrument
from thunes.simvenue import errors as err
from thunes.simvenue.market import DepthBook, Level, MarketState
from thunes.simvenue.models import Account, Accounts, AccountUpdate, Balance, ExecutionReport, SimOrder, SimTrade
from thunes.simvenue.persistence import FORMAT_VERSION, dump_accounts, load_accounts
from thunes.simvenue.slippage import SlippageModel
from thunes.simvenue.validation import CLIENT_ID, OrderParams, check_balance, check_filters, check_params

__all__ = ["OrderParams", "SimVenue"]

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
        slippage: SlippageModel | None = None,
        seed: int = 0,
    ) -> None:
        overrides = fee_overrides or {}
        model = slippage or SlippageModel()
        self._markets = {str(s): MarketState(i, overrides.get(str(s), fee_rate), model) for s, i in instruments.items()}
        self._clock_ns = clock_ns
        self._rng = random.Random(seed)  # noqa: S311 - reproducible ids, not security
        self._accounts = Accounts()
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
        return {
            "version": FORMAT_VERSION,
            "next_order_id": self._next_order_id,
            "sequence": self._sequence,
            "next_trade_ids": {s: m.next_trade_id for s, m in self._markets.items()},
            "accounts": dump_accounts(self._accounts),
        }

    def import_state(self, data: dict[str, Any]) -> None:
        """Replace all accounts with ``data`` from :meth:`export_state`; open orders rest again."""
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported venue state version {data.get('version')!r}")
        self._accounts = load_accounts(data["accounts"])
        self._orders = {i: o for a in self._accounts.values() for i, o in a.orders.items()}
        self._next_order_id, self._sequence = int(data["next_order_id"]), int(data["sequence"])
        for symbol, market in self._markets.items():
            market.next_trade_id = int(data["next_trade_ids"].get(symbol, market.next_trade_id))
            market.buys.clear()
            market.sells.clear()
        for order in self._orders.values():
            if order.is_open and order.order_type is not OrderType.MARKET:
                self._markets[order.symbol].rest(order)

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(account)`` whenever that account has new reports to :meth:`drain`."""
        self._listeners.append(callback)

    def drain(self, account: str) -> list[ExecutionReport | AccountUpdate]:
        """Reports emitted for ``account`` since the last call (the user data stream's feed)."""
        box = self._accounts[account].outbox
        out, box[:] = list(box), []
        return out

    # --- market data in ---------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketState:
        try:
            return self._markets[symbol]
        except KeyError:
            raise err.bad_symbol() from None

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
        if not m.buys and not m.sells:
            return
        buys, sells = m.crossed_by_trade(m.ticks(price))
        available = qty
        for order_id in buys + sells:
            if available <= 0:
                break
            order = self._orders[order_id]
            take = min(order.remaining, available)
            available -= take
            assert order.price is not None
            self._fill(m, order, [(order.price, take)], is_maker=True, now_ms=now_ms)
            if not order.is_open:
                m.unrest(order)
                self._settle(self._accounts[order.account], order)

    # --- orders -----------------------------------------------------------------------------------
    def place_order(self, account: str, params: OrderParams, *, test: bool = False) -> SimOrder:
        """Validate, then match ``params``; returns the order after matching (``test``: validate only)."""
        m = self.market(params.symbol)
        now_ms = self._clock_ns() // NS_PER_MS
        acct = self._accounts[account]
        check_params(m.instrument, params)
        client_id = params.client_order_id or self._random_client_id()
        same_id = acct.by_client.get((params.symbol, client_id), ())
        if any(i in acct.open and acct.open[i].client_order_id == client_id for i in same_id):
            raise err.new_order_rejected(err.DUPLICATE_ORDER)
        check_filters(m.instrument, params, m.avg_price(now_ms), acct.open_per_symbol[params.symbol], acct)
        if params.order_type is OrderType.LIMIT_MAKER and m.would_take(params.side, params.price or ZERO):
            raise err.new_order_rejected(err.WOULD_TAKE)
        levels = self._liquidity(m, params)
        check_balance(m.instrument, params, levels, acct.balances)
        if test:
            return self._new_order(m, account, params, client_id, now_ms)
        order = self._new_order(m, account, params, client_id, now_ms)
        acct.orders[order.order_id] = order
        acct.open[order.order_id] = order
        acct.open_per_symbol[order.symbol] += 1
        acct.by_client.setdefault((order.symbol, client_id), []).append(order.order_id)
        self._orders[order.order_id] = order
        self._emit(acct, ExecutionReport(now_ms, order.snapshot(), "NEW"))
        self._execute(m, acct, order, levels, now_ms)
        self._settle(acct, order)
        return order.snapshot()

    @staticmethod
    def _settle(acct: Account, order: SimOrder) -> None:
        """Drop a finished order from the open set."""
        if not order.is_open and acct.open.pop(order.order_id, None) is not None:
            acct.open_per_symbol[order.symbol] -= 1

    def _random_client_id(self) -> str:
        return format(self._rng.getrandbits(88), "022x")  # 22 characters, like Binance's own ids

    def _liquidity(self, m: MarketState, p: OrderParams) -> list[Level]:
        """What this order would take right now (nothing for a passive limit)."""
        if p.order_type is OrderType.LIMIT_MAKER:
            return []
        if p.price is not None and not m.would_take(p.side, p.price):
            return []  # a passive limit takes nothing now
        if p.quote_order_qty is not None:
            reference = m.reference_price(p.side)
            if reference is None:
                return []
            estimate = int(p.quote_order_qty / reference / m.instrument.step_size) * m.instrument.step_size
            return self._trim_to_quote(m.quote_levels(p.side, estimate * 2, None), p.quote_order_qty, m)
        assert p.quantity is not None
        return m.quote_levels(p.side, p.quantity, p.price)

    @staticmethod
    def _trim_to_quote(levels: list[Level], budget: Decimal, m: MarketState) -> list[Level]:
        """Cut levels so their notional stays within ``budget``, quantities on the step (rest-api.md)."""
        out: list[Level] = []
        step = m.instrument.step_size
        for price, qty in levels:
            affordable = int(budget / price / step) * step
            take = min(qty, affordable)
            if take <= 0:
                break
            out.append((price, take))
            budget -= price * take
        return out

    def _new_order(self, m: MarketState, account: str, p: OrderParams, client_id: str, now_ms: int) -> SimOrder:
        self._sequence += 1
        order_id = self._next_order_id
        self._next_order_id += 1
        qty = p.quantity if p.quantity is not None else ZERO
        return SimOrder(
            account, p.symbol, order_id, client_id, p.side, p.order_type, p.time_in_force, p.price,
            qty, p.quote_order_qty or ZERO, now_ms, update_time_ms=now_ms, working_time_ms=now_ms,
            sequence=self._sequence, price_ticks=m.ticks(p.price) if p.price is not None else 0,
        )  # fmt: skip

    def _execute(self, m: MarketState, acct: Account, order: SimOrder, levels: list[Level], now_ms: int) -> None:
        """Take ``levels`` now, then rest, expire or finish the order by its type and time in force."""
        inst = m.instrument
        if order.order_type is OrderType.MARKET and order.orig_qty == 0:  # quote-quantity order
            order.orig_qty = sum((q for _, q in levels), ZERO)
        if order.time_in_force is TimeInForce.FOK and sum((q for _, q in levels), ZERO) < order.orig_qty:
            levels = []
        if levels:
            m.consume(order.side, levels)
            self._fill(m, order, levels, is_maker=False, now_ms=now_ms)
        if not order.is_open:
            return
        if order.order_type is OrderType.MARKET or order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            self._finish(acct, order, OrderStatus.EXPIRED, now_ms)
            return
        assert order.price is not None
        if order.side is Side.BUY:
            lock, asset = order.price * order.remaining, inst.quote_asset
        else:
            lock, asset = order.remaining, inst.base_asset
        balance = acct.balances[asset]
        balance.free -= lock
        balance.locked += lock
        order.locked = lock
        m.rest(order)
        self._emit_balances(acct, now_ms, (asset,))

    def _fill(self, m: MarketState, order: SimOrder, levels: list[Level], *, is_maker: bool, now_ms: int) -> None:
        """Apply executions to the order, the account's balances and its trade list."""
        inst = m.instrument
        acct = self._accounts[order.account]
        base, quote = acct.balances[inst.base_asset], acct.balances[inst.quote_asset]
        for price, qty in levels:
            notional = price * qty
            if order.side is Side.BUY:
                fee, fee_asset = commission(qty, m.fee_rate, inst.base_precision), inst.base_asset
                if order.locked:  # resting BUY: release what was locked at the limit price
                    release = order.price * qty if order.price is not None else notional
                    quote.locked -= release
                    order.locked -= release
                    quote.free += release - notional
                else:
                    quote.free -= notional
                base.free += qty - fee
            else:
                fee, fee_asset = commission(notional, m.fee_rate, inst.quote_precision), inst.quote_asset
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
            order.status = OrderStatus.FILLED if order.executed_qty >= order.orig_qty else OrderStatus.PARTIALLY_FILLED
            order.update_time_ms = now_ms
            self._emit(acct, ExecutionReport(now_ms, order.snapshot(), "TRADE", trade))
        self._emit_balances(acct, now_ms, (inst.base_asset, inst.quote_asset))

    def _finish(self, acct: Account, order: SimOrder, status: OrderStatus, now_ms: int) -> None:
        """End an open order (CANCELED or EXPIRED), unlocking what it still holds."""
        m = self._markets[order.symbol]
        if order.locked:
            asset = m.instrument.quote_asset if order.side is Side.BUY else m.instrument.base_asset
            balance = acct.balances[asset]
            balance.locked -= order.locked
            balance.free += order.locked
            order.locked = ZERO
            self._emit_balances(acct, now_ms, (asset,))
        m.unrest(order)
        order.status = status
        order.update_time_ms = now_ms
        self._settle(acct, order)
        self._emit(
            acct, ExecutionReport(now_ms, order.snapshot(), "CANCELED" if status is OrderStatus.CANCELED else "EXPIRED")
        )

    # --- queries, cancel, amend -----------------------------------------------------------------
    def _find(self, account: str, symbol: str, order_id: int | None, client_id: str | None) -> SimOrder | None:
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
        ids = acct.by_client.get((symbol, client_id), [])
        matches = [o for o in (acct.orders[i] for i in ids) if o.client_order_id == client_id]
        open_ones = [o for o in matches if o.is_open]
        found = open_ones or matches
        return found[-1] if found else None

    def get_order(
        self, account: str, symbol: str, order_id: int | None = None, client_id: str | None = None
    ) -> SimOrder:
        order = self._find(account, symbol, order_id, client_id)
        if order is None:
            raise err.no_such_order()
        return order.snapshot()

    def cancel_order(
        self, account: str, symbol: str, order_id: int | None = None, client_id: str | None = None
    ) -> SimOrder:
        order = self._find(account, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise err.cancel_rejected()
        self._finish(self._accounts[account], order, OrderStatus.CANCELED, self._clock_ns() // NS_PER_MS)
        return order.snapshot()

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
        now_ms = self._clock_ns() // NS_PER_MS
        acct = self._accounts[account]
        m = self._markets[symbol]
        orig_client = order.client_order_id
        released = (
            (order.orig_qty - new_qty) * (order.price or ZERO) if order.side is Side.BUY else order.orig_qty - new_qty
        )
        asset = m.instrument.quote_asset if order.side is Side.BUY else m.instrument.base_asset
        released = min(released, order.locked)
        acct.balances[asset].locked -= released
        acct.balances[asset].free += released
        order.locked -= released
        order.orig_qty = new_qty
        order.client_order_id = new_client_id or self._random_client_id()
        acct.by_client.setdefault((symbol, order.client_order_id), []).append(order.order_id)
        order.update_time_ms = now_ms
        if order.executed_qty >= new_qty:  # what already executed covers the new quantity
            acct.balances[asset].locked -= order.locked
            acct.balances[asset].free += order.locked
            order.locked = ZERO
            order.status = OrderStatus.FILLED
            m.unrest(order)
            self._settle(acct, order)
        self._emit(acct, ExecutionReport(now_ms, order.snapshot(), "REPLACED", orig_client_order_id=orig_client))
        self._emit_balances(acct, now_ms, (asset,))
        return order.snapshot()

    def open_orders(self, account: str, symbol: str | None = None) -> list[SimOrder]:
        if symbol is not None:
            self.market(symbol)
        return [o.snapshot() for o in self._accounts[account].open.values() if symbol in (None, o.symbol)]

    def all_orders(self, account: str, symbol: str) -> list[SimOrder]:
        self.market(symbol)
        return [o.snapshot() for o in self._accounts[account].orders.values() if o.symbol == symbol]

    def my_trades(self, account: str, symbol: str) -> list[SimTrade]:
        self.market(symbol)
        return [t for t in self._accounts[account].trades if t.symbol == symbol]

    def avg_price(self, symbol: str) -> Decimal | None:
        return self.market(symbol).avg_price(self._clock_ns() // NS_PER_MS)

    # --- reports ----------------------------------------------------------------------------------
    def _emit(self, acct: Account, report: ExecutionReport) -> None:
        acct.outbox.append(report)
        for listener in self._listeners:
            listener(report.order.account)

    def _emit_balances(self, acct: Account, now_ms: int, assets: tuple[str, ...]) -> None:
        rows = tuple((a, acct.balances[a].free, acct.balances[a].locked) for a in assets)
        acct.outbox.append(AccountUpdate(now_ms, rows))
        for listener in self._listeners:
            listener(acct.name)
