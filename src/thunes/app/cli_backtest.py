"""``thunes backtest``: run one strategy over candles and print a report.

A first simple version (signals at the close, MARKET fills at the next open, 0.1 % fee); the
event-driven engine replaces its core later without changing this command's interface.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from thunes.app.cli_options import input_errors, output_location, settings_from_options
from thunes.app.config import StrategySettings
from thunes.app.errors import fail
from thunes.app.report import render_report, result_to_json
from thunes.app.sources import load_bars, load_instrument
from thunes.domain.instrument import Instrument
from thunes.domain.market import Timeframe
from thunes.engine.simple_backtest import BacktestConfig, run_backtest
from thunes.strategy import RsiReversion, SmaCross, Strategy

__all__ = ["backtest"]


def _strategy(settings: StrategySettings, instrument: Instrument) -> Strategy:
    tick = instrument.tick_size
    if settings.name == "sma_cross":
        return SmaCross(settings.sma_fast, settings.sma_slow, tick_size=tick)
    return RsiReversion(
        settings.rsi_period, settings.rsi_oversold, settings.rsi_overbought, settings.rsi_stop_loss, tick_size=tick
    )


def backtest(
    strategy: Annotated[str | None, typer.Option(help="sma_cross or rsi_reversion.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol, e.g. BTCUSDT.")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar interval, e.g. 1h.")] = None,
    data: Annotated[Path | None, typer.Option(help="Candle file (feather, parquet, csv, binance-vision csv).")] = None,
    synthetic: Annotated[int | None, typer.Option(help="Use N synthetic bars instead of recorded data.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market.")] = 0,
    fast: Annotated[int | None, typer.Option(help="SMA fast window (bars).")] = None,
    slow: Annotated[int | None, typer.Option(help="SMA slow window (bars).")] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML config file (default: $THUNES_CONFIG or ./thunes.toml).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the result as JSON here.")] = None,
) -> None:
    """Backtest a strategy on recorded or synthetic candles and print a report."""
    if synthetic is not None and synthetic < 2:
        fail(f"--synthetic needs at least 2 bars, got {synthetic}")
    if json_out is not None:
        output_location(json_out, "--json", directory=False)
    settings = settings_from_options(
        config,
        {
            "strategy": {"name": strategy, "sma_fast": fast, "sma_slow": slow},
            "backtest": {"symbol": symbol, "timeframe": timeframe, "data_path": data},
        },
    )
    console = Console()
    bt = settings.backtest
    with input_errors():
        instrument, instruments_origin = load_instrument(bt.symbol, settings.rules, settings.data)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("loading candles", total=2)
            loaded = load_bars(
                instrument,
                Timeframe(bt.timeframe),
                settings.data,
                path=bt.data_path,
                synthetic_bars=synthetic,
                seed=seed,
            )
            bar.update(task, advance=1, description=f"backtesting {len(loaded.bars):,} bars")
            runner = _strategy(settings.strategy, instrument)
            result = run_backtest(
                runner,
                loaded.bars,
                instrument,
                BacktestConfig(bt.initial_cash, bt.fee_rate, bt.stake_fraction),
            )
            bar.update(task, advance=1)
    params = dict(runner.parameters)
    render_report(console, result, params, loaded.source, instruments_origin)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result_to_json(result, params, loaded.source), indent=2))
        console.print(f"result written to {json_out}")
