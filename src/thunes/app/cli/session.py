"""``thunes status``, ``thunes positions``, ``thunes orders``: what a session's ledger holds.

They read the session's data directory (ledger and risk state), so they work whether or not a
trader is running; while one runs with its control API on, they show its live view through the
API instead (found through ``control.json``, see :mod:`thunes.control.client`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.safety_state import RISK_FILE, inspect_safety
from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.cli.portfolio import ledger_store, portfolio_body, portfolio_view
from thunes.app.errors import fail
from thunes.control import client as control_client
from thunes.domain.identifiers import Symbol
from thunes.domain.position import Position
from thunes.risk import RiskSnapshot, RiskStoreError, TradingState
from thunes.risk.state import utc_day

__all__ = ["orders", "positions", "status"]

DataDir = Annotated[Path, typer.Option(help="The session's data directory.")]


def _positions(store: SqlStore) -> list[Position]:
    held: dict[str, Position] = {}
    for fill in store.fills():
        symbol = str(fill.symbol)
        if symbol not in held:
            quote = "USDT" if symbol.endswith("USDT") else fill.commission_asset
            held[symbol] = Position(Symbol(symbol), symbol.removesuffix(quote), quote)
        held[symbol] = held[symbol].apply(fill)
    return list(held.values())


def positions(data_dir: DataDir = Path("data/paper")) -> None:
    """Positions rebuilt from the ledger's fills: quantity, average price, realised PnL, fees."""
    live = control_client.live_positions(data_dir)
    if live is not None:
        Console().print(control_client.positions_table(live))
        return
    store = ledger_store(data_dir)
    table = Table("symbol", "quantity", "avg price", "realised PnL", "fees")
    for p in _positions(store):
        avg = f"{p.average_price:.2f}" if p.average_price is not None else "-"
        table.add_row(str(p.symbol), f"{p.quantity.normalize()}", avg, f"{p.realized_pnl:.4f}", f"{p.fees_quote:.4f}")
    store.close()
    Console().print(table)


def orders(
    data_dir: DataDir = Path("data/paper"),
    open_only: Annotated[bool, typer.Option("--open", help="Only open orders.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Newest N orders.")] = 20,
) -> None:
    """The newest orders as the venue last reported them."""
    live = control_client.live_orders(data_dir, open_only=open_only, limit=limit)
    if live is not None:
        Console().print(control_client.orders_table(live))
        return
    store = ledger_store(data_dir)
    table = Table("client order id", "symbol", "side", "type", "status", "qty", "filled")
    for row in store.orders(open_only=open_only)[:limit]:
        table.add_row(row["client_order_id"], row["symbol"], row["side"], row["order_type"], row["status"],
                      f"{row['quantity'].normalize()}", f"{row['filled_quantity'].normalize()}")  # fmt: skip
    store.close()
    Console().print(table)


def status(data_dir: DataDir = Path("data/paper")) -> None:
    """Kill-switch, trading state, today's realised PnL, orders in doubt; the portfolio as ``thunes portfolio``."""
    live = control_client.live_status(data_dir)
    if live is not None:
        Console().print(control_client.status_table(*live, data_dir))
        Console().print(portfolio_view(portfolio_body(data_dir), str(data_dir)))
        return
    store = ledger_store(data_dir)
    try:
        snap = JsonFileRiskStore(data_dir / RISK_FILE).load()  # as stored: no day rolled, nothing written
    except RiskStoreError as e:
        store.close()
        fail(f"cannot read the risk state in {data_dir}: {e}; the next session starts REDUCING")
    safety = inspect_safety(data_dir)
    snap = snap or RiskSnapshot(day=utc_day(0))
    switch, state = snap.kill_switch, snap.trading_state.value
    if safety.problems and snap.trading_state is TradingState.ACTIVE:
        state = f"{TradingState.REDUCING.value} at the next start ({safety.reason})"
    held = {str(p.symbol) for p in snap.positions if p.is_open} | {str(r.symbol) for r in snap.reservations}
    title = f"session {data_dir}"
    table = Table(title=title, title_justify="left", show_header=False, box=None, min_width=len(title))
    table.add_row("trading state", state)
    table.add_row("kill-switch", f"ON by {switch.by}: {switch.reason}" if switch.active else "off")
    table.add_row("realised PnL today", f"{snap.realized_pnl_today:.4f} (day {snap.day.isoformat()})")
    table.add_row("open positions", ", ".join(sorted(held)) or "none")
    if safety.problems and snap.trading_state is not TradingState.ACTIVE:
        table.add_row("safety state", "; ".join(safety.problems))
    table.add_row("orders in doubt", str(len(store.unresolved())))
    fills, booked = len(store.fills()), snap.fills_booked
    missed = (
        ""
        if booked is None or booked >= fills
        else f" ({fills - booked} not in the risk state yet: booked at the next start)"
    )
    table.add_row("fills in ledger", f"{fills}{missed}")
    try:
        account = portfolio_body(data_dir, store)
    finally:
        store.close()
    Console().print(table)
    Console().print(portfolio_view(account, str(data_dir)))
