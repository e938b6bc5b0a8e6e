"""``thunes portfolio``: the account across its symbols in the quote currency (positions, exposure per
asset, cash, equity, realised and unrealised PnL), a row per symbol and the total.

From the running session's control API when one runs (its latest valuation); otherwise rebuilt from the
data dir's ledger (positions from the fills) with the last prices known: the closes the last session
valued its account at (``portfolio.json``), or a symbol's last fill when it traded after that. Which
prices, from when, and where the cash comes from are printed with the table (and in ``--json``). Like
``thunes status``, it never writes: the ledger is opened read-only.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from thunes.adapters.control import PortfolioBody, ViewSource
from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.display import at_precision, at_step
from thunes.app.errors import fail
from thunes.control import client as control_client
from thunes.control.portfolio_view import ledger_body, read_saved
from thunes.domain.position import PositionError

__all__ = ["ledger_store", "portfolio", "portfolio_body", "portfolio_view"]

DataDir = Annotated[Path, typer.Option(help="The session's data directory.")]
DEFAULT_QUOTE_DIGITS = 8  # Binance's quote precision when the instrument's is not known (no portfolio.json)


def ledger_store(data_dir: Path) -> SqlStore:
    """The session's ledger, read-only: these commands never change a file (nor its time)."""
    ledger = data_dir / "ledger.db"
    if not ledger.is_file():
        fail(f"no trading session in {data_dir} (no ledger.db); run `thunes trade --paper` first")
    return SqlStore.read_only(ledger)


def portfolio_body(data_dir: Path, store: SqlStore | None = None) -> PortfolioBody:
    """The running session's account through its control API, else the one its data dir holds."""
    live = control_client.live_portfolio(data_dir)
    if live is not None:
        return live
    opened = store or ledger_store(data_dir)
    try:
        fills = opened.booked_fills()
    finally:
        if store is None:
            opened.close()
    saved, problem = read_saved(data_dir)
    try:
        return ledger_body(fills, saved, time.time_ns(), problem)
    except PositionError as e:
        fail(f"the ledger's fills in {data_dir} cannot be valued here: {e}")


def portfolio(
    data_dir: DataDir = Path("data/paper"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON (exact decimals) instead.")
    ] = False,
) -> None:
    """The account in the quote currency: each symbol's position, price, exposure and PnL, then cash and equity."""
    body = portfolio_body(data_dir)
    if as_json:
        typer.echo(body.model_dump_json(indent=2))
        return
    Console().print(portfolio_view(body, str(data_dir)))


def _when(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _age(wall_ns: int) -> str:
    seconds = max(0, (time.time_ns() - wall_ns) // 1_000_000_000)
    if seconds < 120:
        return f"{seconds} s ago"
    return f"{seconds // 60} min ago" if seconds < 7200 else f"{seconds // 3600} h ago"


def portfolio_view(body: PortfolioBody, where: str) -> RenderableType:
    """The per-symbol table with its total row, the account's cash and equity, and where the figures come from."""
    digits = DEFAULT_QUOTE_DIGITS if body.quote_precision is None else body.quote_precision
    quote = body.quote_asset
    if body.source is ViewSource.SESSION:
        origin = f"the running session's valuation at {_when(body.market_ns)} (market clock), {_age(body.wall_ns)}"
    else:
        origin = f"rebuilt from the ledger ({body.fills} fills), no session running"
    table = Table(title=f"portfolio {where}: {origin}", title_justify="left", show_footer=True)

    def money(value: Decimal | None) -> str:
        return at_precision(value, digits)

    columns = [("symbol", "total"), ("position", ""), ("avg price", ""), ("price", ""), ("priced at", ""),
               (f"exposure {quote}", money(body.exposure)), ("realised PnL", money(body.realized_pnl)),
               ("unrealised PnL", money(body.unrealized_pnl)), ("fees", money(body.fees))]  # fmt: skip
    for name, footer in columns:
        table.add_column(name, footer, justify="left" if name == "symbol" else "right", no_wrap=name == "symbol")
    for line in body.lines:
        priced = f"{line.price_source.value}, {_when(line.price_ns)}" if line.price is not None else "no price"
        table.add_row(line.symbol, at_step(line.quantity, line.step_size), at_step(line.average_price, line.tick_size),
                      at_step(line.price, line.tick_size), priced, money(line.exposure), money(line.realized_pnl),
                      money(line.unrealized_pnl), money(line.fees))  # fmt: skip
    account = Table(show_header=False, box=None)
    account.add_row("cash", f"{money(body.cash)} {quote}" if body.cash is not None else "not known")
    account.add_row("exposure", f"{money(body.exposure)} {quote}")
    equity = f"{money(body.equity)} {quote} (cash + exposure)" if body.equity is not None else "not known"
    account.add_row("equity", equity)
    account.add_row("cash from", body.cash_source)
    if body.source is ViewSource.LEDGER:
        account.add_row("figures as of", f"{_when(body.market_ns)} (market clock: the newest price or fill)")
    notes = [Text(f"note: {note}", style="yellow") for note in body.notes]
    return Group(table, account, *notes)
