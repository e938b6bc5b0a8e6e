"""``thunes parity``: prove that what was backtested is what trades, order by order: one pair, or a
portfolio of pairs on one account (``--pairs`` or ``[[portfolio]]``), compared symbol by symbol."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from thunes.adapters.datastore.errors import DataFileError
from thunes.app.cli.options import (
    MAX_COUNT,
    FeeRateOpt,
    InitialCashOpt,
    PairsOpt,
    ParamOpt,
    StrategyOpt,
    WarmupOpt,
    backtest_costs,
    checked_strategy,
    input_errors,
    pairs_option,
    settings_from_options,
    strategy_options,
)
from thunes.app.composition import one_pair, portfolio_pairs
from thunes.app.errors import fail
from thunes.app.progress import progress_bar
from thunes.backtest.parity import ParityReport, run_parity
from thunes.control.status import PaperStatus
from thunes.domain.exchange_info import ExchangeInfoError
from thunes.domain.venue import VenueError
from thunes.features.ohlcv import OHLCVError

__all__ = ["parity"]


def _table(report: ParityReport) -> Table:
    """A row per symbol (and the account's, for several): bars, orders and fills on each side."""
    table = Table(title="Parity: backtest vs paper (venue server, lockstep)", title_justify="left")
    for column in ("symbol", "bars", "orders backtest", "orders paper", "fills backtest", "fills paper", ""):
        table.add_column(column)
    for side in report.symbols:
        verdict = "[green]identical[/green]" if side.identical else "[red]different[/red]"
        table.add_row(side.symbol, f"{report.bars:,}", f"{len(side.backtest_orders)}", f"{len(side.paper_orders)}",
                      f"{len(side.backtest_fills)}", f"{len(side.paper_fills)}", verdict)  # fmt: skip
    if len(report.symbols) > 1:
        table.add_row("account", f"{report.bars:,}", f"{len(report.backtest_orders)}", f"{len(report.paper_orders)}",
                      f"{len(report.backtest_fills)}", f"{len(report.paper_fills)}", "")  # fmt: skip
    return table


def parity(
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    symbol: Annotated[
        str | None, typer.Option(help="Symbol, e.g. BTCUSDT (with a portfolio: compare that pair alone).")
    ] = None,
    pairs: PairsOpt = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar interval of the recorded data, e.g. 1h or 5m.")] = None,
    data: Annotated[Path | None, typer.Option(help="Candle file (feather, parquet, csv, binance-vision csv).")] = None,
    bars: Annotated[
        int | None, typer.Option(max=MAX_COUNT, help="Only N bars (the first N, or N after --skip; default: all).")
    ] = None,
    skip: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="Start after the first N bars of the data.")] = 0,
    warmup: WarmupOpt = None,
    initial_cash: InitialCashOpt = None,
    fee_rate: FeeRateOpt = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    keep: Annotated[Path | None, typer.Option(help="Keep the paper session's data here.")] = None,
) -> None:
    """Run the strategy, or the portfolio of pairs, as a backtest and as a paper session on the same
    candles; compare every order and fill (symbol, time, price, quantity, fee), each symbol's and the
    account's. Exit 1 on a difference, naming each symbol's first."""
    if bars is not None and bars < 2:
        fail("--bars must be at least 2")
    costs = backtest_costs(initial_cash, fee_rate, warmup)
    chosen = {"symbol": symbol, "timeframe": timeframe, "data_path": data, **costs}
    options = {"strategy": strategy_options(strategy, param), "backtest": chosen, "portfolio": pairs_option(pairs)}
    # the session's lines go to its logs/thunes.jsonl
    settings = settings_from_options(config, options, console_level="WARNING")
    checked_strategy(settings)
    with input_errors():
        settings = one_pair(settings, symbol, "parity") if symbol is not None else settings
    traded = None if bars is None else max(0, bars - settings.backtest.warmup_bars) * len(portfolio_pairs(settings))
    console = Console()
    workdir = keep or Path(tempfile.mkdtemp(prefix="thunes-parity-"))
    try:
        with progress_bar(TextColumn("paper session"), BarColumn(), TextColumn("{task.completed:,} bars"),
                          TimeElapsedColumn()) as progress:  # fmt: skip
            task = progress.add_task("paper", total=traded)  # every symbol's bars after the warm-up

            def advance(status: PaperStatus) -> None:
                progress.update(task, completed=status.bars)

            report = run_parity(settings, workdir, bars_limit=bars, skip=skip, on_bar=advance)
    except (DataFileError, ExchangeInfoError, OHLCVError, VenueError, ValueError) as e:
        fail(str(e))
    except KeyError as e:  # a symbol the exchange information does not list
        fail(str(e.args[0]) if e.args else "unknown symbol")
    finally:
        if keep is None:  # the mkdtemp directory this command made; a --keep directory is never removed
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(_table(report))
    if report.identical:
        fills, symbols = len(report.paper_fills), len(report.symbols)
        every = f" ({symbols} symbols)" if symbols > 1 else ""
        console.print(f"[green]IDENTICAL[/green]: {fills} fills equal in time, price, quantity and fee{every}")
        return
    for line in report.differences:
        console.print(f"[red]DIFFERENT[/red] {line}")
    raise typer.Exit(1)
