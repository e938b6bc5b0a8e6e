"""The venue's state as JSON: balances, orders, trades and id counters survive a restart.

A restart that forgot open orders or fills would be a venue a client cannot reconcile against,
so everything a Binance account would still show after an exchange restart is kept; market data
is not (the replay brings it back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from decimal import Decimal
from typing import Any

from thunes.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from thunes.simvenue.models import Account, Accounts, Balance, SimOrder, SimTrade, remember_client_id

__all__ = ["FORMAT_VERSION", "dump_accounts", "load_accounts", "order_row", "trade_row"]

FORMAT_VERSION = 1
_ORDER_FIELDS = [f.name for f in fields(SimOrder) if f.name != "fills"]
_TRADE_FIELDS = [f.name for f in fields(SimTrade)]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Side | OrderType | TimeInForce | OrderStatus):
        return value.value
    return value


def dump_accounts(accounts: Mapping[str, Account]) -> dict[str, Any]:
    """Every account as JSON-ready data; orders refer to their fills by trade id."""
    out: dict[str, Any] = {}
    for name, account in accounts.items():
        out[name] = {
            "balances": {a: [str(b.free), str(b.locked)] for a, b in account.balances.items() if b.total},
            "orders": [order_row(o) for o in account.orders.values()],
            "trades": [trade_row(t) for t in account.trades],
        }
    return out


def order_row(order: SimOrder) -> dict[str, Any]:
    """One order as JSON-ready data; its fills by trade id (the server's journal writes rows one by one)."""
    return {**{k: _plain(getattr(order, k)) for k in _ORDER_FIELDS}, "fill_ids": [t.trade_id for t in order.fills]}


def trade_row(trade: SimTrade) -> dict[str, Any]:
    """One trade as JSON-ready data."""
    return {k: _plain(getattr(trade, k)) for k in _TRADE_FIELDS}


def _trade(row: dict[str, Any]) -> SimTrade:
    return SimTrade(
        row["trade_id"], row["order_id"], row["symbol"], Side(row["side"]), Decimal(row["price"]),
        Decimal(row["quantity"]), Decimal(row["commission"]), row["commission_asset"], row["is_maker"],
        row["time_ms"],
    )  # fmt: skip


def _order(row: dict[str, Any], trades: dict[tuple[str, int], SimTrade]) -> SimOrder:
    tif = row["time_in_force"]
    order = SimOrder(
        row["account"], row["symbol"], row["order_id"], row["client_order_id"], Side(row["side"]),
        OrderType(row["order_type"]), TimeInForce(tif) if tif else None,
        Decimal(row["price"]) if row["price"] is not None else None, Decimal(row["orig_qty"]),
        Decimal(row["orig_quote_qty"]), row["time_ms"], OrderStatus(row["status"]), Decimal(row["executed_qty"]),
        Decimal(row["cumulative_quote"]), row["update_time_ms"], row["working_time_ms"], row["sequence"],
        row["price_ticks"], Decimal(row["locked"]),
    )  # fmt: skip
    order.fills = [trades[(order.symbol, i)] for i in row["fill_ids"]]
    return order


def load_accounts(data: dict[str, Any], *, streams: bool = True) -> Accounts:
    """Accounts rebuilt from :func:`dump_accounts` output (open-order and client-id indexes too)."""
    accounts = Accounts(streams=streams)
    for name, saved in data.items():
        account = Account(name, streams=streams)
        for asset, (free, locked) in saved["balances"].items():
            account.balances[asset] = Balance(Decimal(free), Decimal(locked))
        account.trades = [_trade(row) for row in saved["trades"]]
        by_id = {(t.symbol, t.trade_id): t for t in account.trades}
        for row in saved["orders"]:
            order = _order(row, by_id)
            account.orders[order.order_id] = order
            if order.is_open:
                account.open[order.order_id] = order
                account.open_per_symbol[order.symbol] += 1
            remember_client_id(account, order.client_order_id, order.order_id)
        accounts[name] = account
    return accounts
