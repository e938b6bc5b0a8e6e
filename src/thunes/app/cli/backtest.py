"""``thunes backtest``: run a strategy over candles, or a portfolio of (symbol, strategy) pairs on one
account, through the engine core and print a report.

The event-driven backtest by default (the paper session's engine core: strategy, sizing, risk, order
manager, the simulated venue's fills, ledger); ``--fast`` for the fast path (the compiled kernel where
it is exact, else the engine core, and the report says which; a portfolio always runs on the engine
core). One pair is measured by :func:`~thunes.backtest.run.measure_backtest`, as ``report backtest``,
``optimize`` and ``walk-forward`` are: the same inputs give them the same trades and the same Sharpe.
Several pairs (``--pairs`` or ``[[portfolio]]``) by :func:`~thunes.backtest.portfolio_run.measure_portfolio`:
each symbol's candles from the store or the shared data, cut to their common time range.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

from thunes.adapters.storage.durable import replace_atomically
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
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.backtest.portfolio_run import FAST_FALLBACK, describe_strategies, measure_portfolio
from thunes.backtest.report import portfolio_to_json, render_portfolio, render_report, result_to_json
from thunes.backtest.run import measure_backtest
from thunes.domain.market import Timeframe

__all__ = ["backtest"]


def backtest(
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    symbol: Annotated[
        str | None, typer.Option(help="Symbol, e.g. BTCUSDT (with a portfolio: run that pair alone).")
    ] = None,
    pairs: PairsOpt = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar interval, e.g. 1h.")] = None,
    data: Annotated[Path | None, typer.Option(help="Candle file (feather, parquet, csv, binance-vision csv).")] = None,
    synthetic: Annotated[int | None, typer.Option(help="Use N synthetic bars instead of recorded data.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market.")] = 0,
    sma_fast: Annotated[int | None, typer.Option(help="SMA fast window (bars).")] = None,
    sma_slow: Annotated[int | None, typer.Option(help="SMA slow window (bars).")] = None,
    warmup: WarmupOpt = None,
    initial_cash: InitialCashOpt = None,
    fee_rate: FeeRateOpt = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="The fast path (compiled kernel, same trades) instead of the event path.")
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="TOML config file (default: $THUNES_CONFIG or ./thunes.toml).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the result as JSON here.")] = None,
) -> None:
    """Backtest a strategy, or a portfolio of pairs on one account, on recorded or synthetic candles
    through the engine core and print a report."""
    if synthetic is not None and synthetic < 2:
        fail(f"--synthetic needs at least 2 bars, got {synthetic}")
    if json_out is not None:
        output_location(json_out, "--json", directory=False)
    settings = settings_from_options(
        config,
        {
            "strategy": strategy_options(strategy, param, sma_fast=sma_fast, sma_slow=sma_slow),
            "backtest": {
                "symbol": symbol,
                "timeframe": timeframe,
                "data_path": data,
                **backtest_costs(initial_cash, fee_rate, warmup),
            },
            "portfolio": pairs_option(pairs),
        },
    )
    checked_strategy(settings)
    with input_errors():
        settings = one_pair(settings, symbol, "backtest") if symbol is not None else settings
        chosen = portfolio_pairs(settings)
        if len(chosen) > 1:
            _portfolio(settings, chosen, synthetic, seed, fast, json_out)
            return
        settings = one_pair(settings, None, "backtest")
    console = Console()
    bt = settings.backtest
    with input_errors():
        info, instruments_origin = load_exchange_info_source(settings.rules, settings.data)
        instrument = info.get(bt.symbol)
        with progress_bar(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()) as bar:
            task = bar.add_task("loading candles", total=2)
            loaded = load_bars(
                instrument,
                Timeframe(bt.timeframe),
                settings.data,
                path=bt.data_path,
                synthetic_bars=synthetic,
                seed=seed,
            )
            if bt.warmup_bars >= len(loaded.bars):
                fail(f"no bar after the {bt.warmup_bars}-bar warm-up: {len(loaded.bars)} bars are too few")
            path = "fast path" if fast else "event-driven"
            bar.update(task, advance=1, description=f"backtesting {len(loaded.bars):,} bars ({path})")
            runner = strategy_for(settings, instrument.tick_size)
            run = measure_backtest(
                settings, instrument, loaded.bars, info, warmup_bars=bt.warmup_bars, deposit=bt.initial_cash, fast=fast
            )
            bar.update(task, advance=1)
    described = (str(runner.strategy_id), dict(runner.parameters), runner.param_hash)
    render_report(console, run, loaded.bars, instrument, described, loaded.source, instruments_origin)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        document = {
            **result_to_json(run, loaded.bars, instrument, described, loaded.source),
            "fee_rate": str(bt.fee_rate),
        }
        replace_atomically(json_out, json.dumps(document, indent=2, allow_nan=False).encode())
        console.print(f"result written to {json_out}")


def _portfolio(settings: Settings, pairs: tuple[Pair, ...], synthetic: int | None, seed: int, fast: bool,
               json_out: Path | None) -> None:  # fmt: skip
    """Several pairs on one account: each symbol's candles from the store or the shared data, cut to
    their common range, the event-driven engine (``--fast`` falls back to it and says why)."""
    bt = settings.backtest
    console = Console()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with input_errors(), progress_bar(*columns) as bar:
        task = bar.add_task(f"loading candles of {len(pairs)} symbols", total=2)
        inputs = portfolio_inputs(settings, pairs, synthetic, seed)
        shortest = min(len(m.bars) for m in inputs.markets)
        bar.update(task, advance=1, description=f"backtesting {len(pairs)} pairs, {shortest:,} bars (event-driven)")
        run = measure_portfolio(settings, inputs.markets, inputs.info, warmup_bars=bt.warmup_bars,
                                deposit=bt.initial_cash, fast=fast)  # fmt: skip
        bar.update(task, advance=1)
    cut = inputs.loaded.cut
    if cut:
        console.print(f"note: {cut}", markup=False, soft_wrap=True)
    if fast:
        console.print(f"note: --fast: {FAST_FALLBACK}", markup=False, soft_wrap=True)
    described = describe_strategies(inputs.markets)
    render_portfolio(console, run, described, inputs.sources, inputs.instruments_origin)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        document = {**portfolio_to_json(run, described, inputs.sources, cut), "fee_rate": str(bt.fee_rate)}
        replace_atomically(json_out, json.dumps(document, indent=2, allow_nan=False).encode())
        console.print(f"result written to {json_out}")
