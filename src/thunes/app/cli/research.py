"""Research commands: ``thunes lookahead`` (does a strategy peek at the future?) and ``thunes report``
(an event-driven backtest stored as a reviewable run directory with metrics, trades and charts).

Importing this module loads no plotting library, so the main CLI can mount it on a core install.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from thunes.app.cli.markets import portfolio_inputs
from thunes.app.cli.options import (
    FeeRateOpt,
    InitialCashOpt,
    PairsOpt,
    ParamOpt,
    StrategyOpt,
    WarmupOpt,
    backtest_costs,
    checked_strategy,
    input_errors,
    output_location,
    pairs_option,
    settings_from_options,
    strategy_options,
)
from thunes.app.composition import Pair, one_pair, portfolio_pairs, strategy_for
from thunes.app.config import Settings
from thunes.app.errors import fail
from thunes.app.progress import progress_bar
from thunes.app.sources import LoadedBars, load_bars, load_exchange_info_source
from thunes.backtest.report import render_portfolio
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV
from thunes.research.lookahead import LookaheadReport, check_lookahead
from thunes.strategy import Strategy

__all__ = ["lookahead", "report"]

EXIT_LOOKAHEAD = 1  # the check ran and found signals that change when the future is removed
_SHOWN = 20

SymbolOpt = Annotated[str | None, typer.Option(help="Symbol, e.g. BTCUSDT.")]
TimeframeOpt = Annotated[str | None, typer.Option(help="Bar interval, e.g. 1h.")]
DataOpt = Annotated[Path | None, typer.Option(help="Candle file (feather, parquet, csv, binance-vision csv).")]
SyntheticOpt = Annotated[int | None, typer.Option(help="Use N synthetic bars instead of recorded data.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the synthetic market.")]
SmaFastOpt = Annotated[int | None, typer.Option(help="SMA fast window (bars).")]
SmaSlowOpt = Annotated[int | None, typer.Option(help="SMA slow window (bars).")]
ConfigOpt = Annotated[Path | None, typer.Option(help="TOML config file (default: $THUNES_CONFIG or ./thunes.toml).")]


def _settings(
    config: Path | None,
    strategy: dict[str, Any],
    symbol: str | None,
    timeframe: str | None,
    data: Path | None,
    costs: dict[str, Any] | None = None,
    portfolio: list[dict[str, str]] | None = None,
) -> Settings:
    """The settings with the options given, once the strategies they name load and build."""
    wanted: dict[str, Any] = {
        "strategy": strategy,
        "backtest": {"symbol": symbol, "timeframe": timeframe, "data_path": data, **(costs or {})},
        "portfolio": portfolio,
    }
    settings = settings_from_options(config, wanted)
    checked_strategy(settings)
    return settings


def _market(settings: Settings, synthetic: int | None, seed: int) -> tuple[Instrument, ExchangeInfo, LoadedBars]:
    if synthetic is not None and synthetic < 2:
        fail(f"--synthetic needs at least 2 bars, got {synthetic}")
    bt = settings.backtest
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    instrument = info.get(bt.symbol)
    loaded = load_bars(
        instrument, Timeframe(bt.timeframe), settings.data, path=bt.data_path, synthetic_bars=synthetic, seed=seed
    )
    return instrument, info, loaded


def _key_values(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    for key, value in rows:
        table.add_row(key, value)
    return table


def _cuts(cuts: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, cuts)) if len(cuts) <= 10 else f"{', '.join(map(str, cuts[:8]))}, ..., {cuts[-1]}"
    return f"{len(cuts)}: {shown}"


def _render_lookahead(console: Console, result: LookaheadReport, loaded: LoadedBars) -> None:
    verdict = "[green]passed[/green]" if result.passed else f"[red]{len(result.violations)} signal(s) changed[/red]"
    console.print(
        _key_values(
            "Look-ahead check",
            [
                ("strategy", result.strategy),
                ("data", f"{loaded.source}, {result.bars:,} bars"),
                ("faces", ", ".join(result.faces)),
                ("cuts (bars kept)", _cuts(result.cuts)),
                ("signals compared", f"{result.signals_compared:,}"),
                ("result", verdict),
            ],
        )
    )
    if result.passed:
        return
    table = Table("face", "cut (bars kept)", "row", "bar open (UTC)", "full run", "truncated run")
    for v in result.violations[:_SHOWN]:
        when = datetime.fromtimestamp(v.open_time_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(v.face, str(v.cut), str(v.row), when, v.full.name, v.truncated.name)
    console.print(table)
    if len(result.violations) > _SHOWN:
        console.print(f"... and {len(result.violations) - _SHOWN} more")


def lookahead(
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    data: DataOpt = None,
    synthetic: SyntheticOpt = None,
    seed: SeedOpt = 0,
    sma_fast: SmaFastOpt = None,
    sma_slow: SmaSlowOpt = None,
    cuts: Annotated[int, typer.Option(min=1, help="Evenly spaced cut points; as many again right after signals.")] = 20,
    config: ConfigOpt = None,
) -> None:
    """Rerun a strategy on data cut at N points and report every signal that changes without the future.

    Data a strategy reads on its own (a file, the clock, a global) cannot be cut: docs/strategy-api.md."""
    chosen = strategy_options(strategy, param, sma_fast=sma_fast, sma_slow=sma_slow)
    settings = _settings(config, chosen, symbol, timeframe, data)
    with input_errors():
        settings = one_pair(settings, symbol, "lookahead")  # a [[portfolio]] config: the pair --symbol names
    console = Console()
    with input_errors():
        instrument, _, loaded = _market(settings, synthetic, seed)

        def factory(_: OHLCV) -> Strategy:  # a strategy keeps no data beyond what it is handed (on_bar, signals)
            return strategy_for(settings, instrument.tick_size)

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with progress_bar(*columns) as progress:
            task = progress.add_task("truncated reruns", total=cuts)
            result = check_lookahead(
                factory,
                loaded.bars,
                samples=cuts,
                on_cut=lambda done, total: progress.update(task, completed=done, total=total),
            )
    _render_lookahead(console, result, loaded)
    if not result.passed:
        raise typer.Exit(EXIT_LOOKAHEAD)


def _installed(name: str) -> bool:
    """Whether ``import name`` would find the package (without importing it)."""
    if name in sys.modules:
        return sys.modules[name] is not None  # None: how an absent or blocked package looks once tried
    return importlib.util.find_spec(name) is not None


def report(
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    symbol: SymbolOpt = None,
    pairs: PairsOpt = None,
    timeframe: TimeframeOpt = None,
    data: DataOpt = None,
    synthetic: SyntheticOpt = None,
    seed: SeedOpt = 0,
    sma_fast: SmaFastOpt = None,
    sma_slow: SmaSlowOpt = None,
    out: Annotated[Path, typer.Option(help="Directory that receives runs/<run_id>/.")] = Path("runs"),
    warmup: WarmupOpt = None,
    initial_cash: InitialCashOpt = None,
    fee_rate: FeeRateOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run the event-driven backtest (one pair, or a portfolio of pairs on one account) and store it
    under OUT/<run_id>/ with metrics, trades and charts."""
    # plotly and matplotlib come with the optional ``report`` extra (a core install must still load the
    # CLI without them): found first, imported once every input has passed, since matplotlib writes
    # its font cache under $HOME when imported.
    missing = [name for name in ("matplotlib", "plotly") if not _installed(name)]
    if missing:
        fail(f"thunes report needs the optional 'report' extra ({missing[0]} is missing): pip install 'thunes[report]'")
    costs = backtest_costs(initial_cash, fee_rate, warmup)
    chosen = strategy_options(strategy, param, sma_fast=sma_fast, sma_slow=sma_slow)
    settings = _settings(config, chosen, symbol, timeframe, data, costs, pairs_option(pairs))
    output_location(out, "--out", directory=True)
    with input_errors():
        settings = one_pair(settings, symbol, "report backtest") if symbol is not None else settings
        if len(several := portfolio_pairs(settings)) > 1:
            _report_portfolio(settings, several, synthetic, seed, out)
            return
        settings = one_pair(settings, None, "report backtest")
    warmup_bars = settings.backtest.warmup_bars

    console = Console()
    with input_errors():
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with progress_bar(*columns) as progress:
            task = progress.add_task("loading candles", total=3)
            instrument, info, loaded = _market(settings, synthetic, seed)
            if warmup_bars >= len(loaded.bars):
                fail(f"no bar after the {warmup_bars}-bar warm-up: {len(loaded.bars)} bars are too few")
            from thunes.backtest.report_files import evaluate, metric_rows, write_run

            progress.update(task, advance=1, description=f"backtesting {len(loaded.bars):,} bars (event-driven)")
            run = evaluate(settings, instrument, loaded.bars, info, loaded.source)
            progress.update(task, advance=1, description="writing report")
            directory = write_run(run, out, datetime.now(UTC))
            progress.update(task, advance=1)
    rows = [
        ("strategy", f"{run.config['strategy']} {run.config['parameters']}"),
        ("market", f"{run.config['symbol']} {run.config['timeframe']}, {len(loaded.bars):,} bars"),
        ("data", loaded.source),
        *metric_rows(run.performance, run.config["backtest"]["quote_asset"]),
    ]
    console.print(_key_values("THUNES report", rows))
    console.print(f"run written to {directory}")


def _report_portfolio(settings: Settings, pairs: tuple[Pair, ...], synthetic: int | None, seed: int, out: Path) -> None:
    """``report backtest`` of several pairs: the portfolio's run directory (per symbol, total, buy-and-hold)."""
    console = Console()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with input_errors(), progress_bar(*columns) as progress:
        task = progress.add_task(f"loading candles of {len(pairs)} symbols", total=3)
        inputs = portfolio_inputs(settings, pairs, synthetic, seed)
        from thunes.backtest.report_portfolio import evaluate_portfolio, write_portfolio_run

        progress.update(task, advance=1, description=f"backtesting {len(pairs)} pairs (event-driven)")
        research = evaluate_portfolio(settings, inputs.markets, inputs.info, inputs.sources, inputs.loaded.cut)
        progress.update(task, advance=1, description="writing report")
        directory = write_portfolio_run(research, out, datetime.now(UTC))
        progress.update(task, advance=1)
    if inputs.loaded.cut:
        console.print(f"note: {inputs.loaded.cut}", markup=False, soft_wrap=True)
    render_portfolio(console, research.run, research.strategies, inputs.sources, inputs.instruments_origin)
    console.print(f"run written to {directory}")
