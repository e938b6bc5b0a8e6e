"""``thunes parity``: prove that what was backtested is what trades, order by order."""

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
    ParamOpt,
    StrategyOpt,
    WarmupOpt,
    backtest_costs,
    checked_strategy,
    settings_from_options,
    strategy_options,
)
from thunes.app.errors import fail
from thunes.app.progress import progress_bar
from thunes.backtest.parity import ParityReport, run_parity
from thunes.control.status import PaperStatus
from thunes.domain.exchange_info import ExchangeInfoError
from thunes.domain.venue import VenueError
from thunes.features.ohlcv import OHLCVError

__all__ = ["parity"]


def _table(report: ParityReport) -> Table:
    table = Table(title="Parity: backtest vs paper (venue server, lockstep)", title_justify="left")
    for column in ("", "backtest", "paper"):
        table.add_column(column)
    table.add_row("bars", f"{report.bars:,}", f"{report.bars:,}")
    table.add_row("orders", f"{len(report.backtest_orders)}", f"{len(report.paper_orders)}")
    table.add_row("fills", f"{len(report.backtest_fills)}", f"{len(report.paper_fills)}")
    return table


def parity(
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol, e.g. BTCUSDT.")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar interval of the recorded data, e.g. 1h or 5m.")] = None,
    data: Annotated[Path | None, typer.Option(help="Candle file (feather, parquet, csv, binance-vision csv).")] = None,
    bars: Annotated[int | None, typer.Option(max=MAX_COUNT, help="Only the first N bars (default: all).")] = None,
    warmup: WarmupOpt = None,
    initial_cash: InitialCashOpt = None,
    fee_rate: FeeRateOpt = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    keep: Annotated[Path | None, typer.Option(help="Keep the paper session's data here.")] = None,
) -> None:
    """Run the strategy as a backtest and as a paper session on the same candles; compare every order
    and fill (time, price, quantity, fee). Exit 1 on the first difference."""
    if bars is not None and bars < 2:
        fail("--bars must be at least 2")
    costs = backtest_costs(initial_cash, fee_rate, warmup)
    chosen = {"symbol": symbol, "timeframe": timeframe, "data_path": data, **costs}
    settings = settings_from_options(config, {"strategy": strategy_options(strategy, param), "backtest": chosen},
                                     console_level="WARNING")  # the session's lines: its logs/thunes.jsonl  # fmt: skip
    checked_strategy(settings)
    console = Console()
    workdir = keep or Path(tempfile.mkdtemp(prefix="thunes-parity-"))
    try:
        with progress_bar(TextColumn("paper session"), BarColumn(), TextColumn("{task.completed:,} bars"),
                          TimeElapsedColumn()) as progress:  # fmt: skip
            task = progress.add_task("paper", total=bars)

            def advance(status: PaperStatus) -> None:
                progress.update(task, completed=status.bars)

            report = run_parity(settings, workdir, bars_limit=bars, on_bar=advance)
    except (DataFileError, ExchangeInfoError, OHLCVError, VenueError, ValueError) as e:
        fail(str(e))
    except KeyError as e:  # a symbol the exchange information does not list
        fail(str(e.args[0]) if e.args else "unknown symbol")
    finally:
        if keep is None:  # the mkdtemp directory this command made; a --keep directory is never removed
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(_table(report))
    if report.identical:
        fills = len(report.paper_fills)
        console.print(f"[green]IDENTICAL[/green]: {fills} fills equal in time, price, quantity and fee")
        return
    for line in report.differences:
        console.print(f"[red]DIFFERENT[/red] {line}")
    raise typer.Exit(1)
