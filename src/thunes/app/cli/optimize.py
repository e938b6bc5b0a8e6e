"""``thunes optimize`` (Optuna search of a strategy's parameters) and ``thunes walk-forward`` (rolling
out-of-sample validation and the SPEC §8 deployment rule).

Optuna comes with the optional ``research`` extra: this module imports it only when a command
runs, so the main CLI still loads on a core install.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from thunes.adapters.datastore.errors import DataFileError
from thunes.adapters.storage.audit_jsonl import AuditLogError
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.app.audit_setup import audit_context, open_audit
from thunes.app.cli.options import (
    MAX_COUNT,
    FeeRateOpt,
    InitialCashOpt,
    ParamOpt,
    StrategyOpt,
    backtest_costs,
    checked_strategy,
    database_target,
    finite,
    output_location,
    settings_from_options,
    strategy_options,
    thunes_data_dir,
)
from thunes.app.composition import one_pair
from thunes.app.config import Settings
from thunes.app.errors import fail
from thunes.app.progress import progress_bar
from thunes.app.sources import LoadedBars, load_bars, load_exchange_info_source
from thunes.domain.exchange_info import ExchangeInfo, ExchangeInfoError
from thunes.domain.instrument import Instrument
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV, OHLCVError
from thunes.governance.audit_ports import AuditWriter
from thunes.governance.params import RecordOutcome

if TYPE_CHECKING:
    from thunes.research.optimize import OptimizeResult, TrialCallback, TrialOutcome
    from thunes.research.walk_forward import WalkForwardResult

__all__ = ["EXIT_NOT_DEPLOYED", "optimize", "walk_forward"]

EXIT_NOT_DEPLOYED = 3  # the walk-forward ran and its OOS Sharpe does not pass: `thunes walk-forward && deploy` is safe

SymbolOpt = Annotated[str | None, typer.Option(help="Symbol, e.g. BTCUSDT.")]
TimeframeOpt = Annotated[str | None, typer.Option(help="Bar interval, e.g. 1h.")]
DataOpt = Annotated[Path | None, typer.Option(help="Candle file (feather, parquet, csv, binance-vision csv).")]
SyntheticOpt = Annotated[int | None, typer.Option(help="Use N synthetic bars instead of recorded data.")]
StartOpt = Annotated[str | None, typer.Option(help="First day of data used (UTC, YYYY-MM-DD).")]
EndOpt = Annotated[str | None, typer.Option(help="Day the data stops (UTC, YYYY-MM-DD, exclusive).")]
MAX_JOBS = 256  # threads; more is a typo
MAX_DAYS = 36_500.0  # a walk-forward window of a century is a typo
MAX_SHARPE = 1e6
SeedOpt = Annotated[int, typer.Option(min=0, help="Sampler seed: the same seed proposes the same trials.")]
JobsOpt = Annotated[
    int, typer.Option(min=1, max=MAX_JOBS, help="Trials run in parallel threads (>1: no longer reproducible).")
]
TrialsHelp = "Trials to run now (added to the study's)."
WarmupHelp = "Warm-up bars, at least what the search space needs (default: backtest.warmup_bars, raised to that)."
WarmupOpt = Annotated[int | None, typer.Option(min=0, max=MAX_COUNT, help=WarmupHelp)]
MinTradesOpt = Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="Deploy only over this many closed OOS trades.")]
DaysHelp = "in days (finite, > 0)."
ConfigOpt = Annotated[Path | None, typer.Option(help="TOML config file (default: $THUNES_CONFIG or ./thunes.toml).")]
DataDirOpt = Annotated[Path, typer.Option(help="Session data directory whose audit trail records the version.")]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="Parameter history: SQLite file or URL (default: DATA_DIR/params.db).")
]
ByOpt = Annotated[str, typer.Option(help="Who records the version.")]


def _research() -> None:
    """Fail with the install hint when Optuna (the ``research`` extra) is missing."""
    try:
        from thunes.research.optimize import quiet_optuna
    except ModuleNotFoundError as e:
        fail(f"this command needs the optional 'research' extra ({e.name} is missing): pip install 'thunes[research]'")
    quiet_optuna()


def _settings(command: str, config: Path | None, strategy: dict[str, Any], symbol: str | None,
              timeframe: str | None, data: Path | None, costs: dict[str, Any]) -> tuple[Settings, str]:  # fmt: skip
    """The settings with the options given (a ``[[portfolio]]`` config: the pair ``--symbol`` names), and
    the strategy's name once it loads and builds."""
    wanted = {"strategy": strategy, "backtest": {"symbol": symbol, "timeframe": timeframe, "data_path": data, **costs}}
    settings = settings_from_options(config, wanted)
    try:
        settings = one_pair(settings, symbol, command)
    except ValueError as e:
        fail(str(e))
    return settings, checked_strategy(settings)


def _day(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return int(datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp()) * 1_000_000_000
    except ValueError:
        fail(f"{option} {text!r} is not a date (YYYY-MM-DD)")


def _between(bars: OHLCV, start: str | None, end: str | None) -> OHLCV:
    """The bars opening in ``[start, end)`` (UTC days)."""
    first, stop = _day(start, "--start"), _day(end, "--end")
    lo = 0 if first is None else int(np.searchsorted(bars.open_time_ns, first, side="left"))
    hi = len(bars) if stop is None else int(np.searchsorted(bars.open_time_ns, stop, side="left"))
    if hi - lo < 2:
        fail(f"fewer than 2 bars between {start or 'the start'} and {end or 'the end'} of the data")
    return bars.slice(lo, hi)


@contextmanager
def _input_errors() -> Iterator[None]:
    """Bad files, unknown symbols, impossible parameters and unusable studies end as one ``error:`` line."""
    from thunes.research.optimize import StudyMismatchError, StudyStorageError

    try:
        yield
    except (DataFileError, ExchangeInfoError, OHLCVError, StudyStorageError, StudyMismatchError) as e:
        fail(str(e))
    except KeyError as e:
        fail(str(e.args[0]) if e.args else "unknown symbol")
    except ValueError as e:
        fail(str(e))


def _market(
    settings: Settings, synthetic: int | None, start: str | None, end: str | None
) -> tuple[Instrument, ExchangeInfo, LoadedBars]:
    if synthetic is not None and synthetic < 2:
        fail(f"--synthetic needs at least 2 bars, got {synthetic}")
    bt = settings.backtest
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    instrument = info.get(bt.symbol)
    loaded = load_bars(instrument, Timeframe(bt.timeframe), settings.data, path=bt.data_path, synthetic_bars=synthetic)
    return instrument, info, LoadedBars(_between(loaded.bars, start, end), loaded.source)


def _iso_day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d")


def _span(bars: OHLCV, start: int = 0, stop: int | None = None) -> str:
    """``first open → last close`` of rows ``start:stop`` (UTC)."""
    last = (len(bars) if stop is None else stop) - 1
    end = int(bars.open_time_ns[last]) + bars.timeframe.nanoseconds
    return f"{_iso_day(int(bars.open_time_ns[start]))} → {_iso_day(end)}"


def _compact(bars: OHLCV) -> str:
    """``YYYYMMDD-YYYYMMDD``: the first open and last close day, for study names."""
    first, end = int(bars.open_time_ns[0]), int(bars.open_time_ns[-1]) + bars.timeframe.nanoseconds
    return "-".join(datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y%m%d") for ns in (first, end))


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _pct(value: float) -> str:
    return f"{value * 100:.3f} %" if math.isfinite(value) else "n/a"


def _params(strategy: dict[str, Any]) -> str:
    """``fast=20 slow=50`` from a trial's overrides: a built-in's keys without their prefix, a user's as named."""
    pairs = [(k.split("_", 1)[-1], v) for k, v in strategy.items() if k != "params"]
    return " ".join(f"{k}={v}" for k, v in [*pairs, *strategy.get("params", {}).items()])


@contextmanager
def _progress(console: Console, total: int, label: str) -> Iterator[TrialCallback]:
    """A rich progress bar advanced by an Optuna callback (after every trial, in any thread)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
    )
    best = [-math.inf]
    with progress_bar(*columns) as bar:
        task = bar.add_task(label, total=total, best="-")

        def advance(_: object, trial: Any) -> None:
            if trial.values:
                best[0] = max(best[0], trial.values[0])
            bar.update(task, advance=1, best=_num(best[0]) if math.isfinite(best[0]) else "-")

        yield advance


def _history_target(record: bool, data_dir: Path, db: str | None) -> str | None:
    """The parameter history's URL when the command records (None: it does not), once ``--data-dir``
    and ``--db`` have passed; a ``--db`` given is checked either way. Called before any trial runs."""
    if not record:
        if db is not None:
            database_target(db, "--db", create=True)
        return None
    thunes_data_dir(data_dir, hint="thunes trade makes one; or do not record")
    return database_target(str(data_dir / "params.db") if db is None else db, "--db", create=True)


@contextmanager
def _history(data_dir: Path, url: str) -> Iterator[tuple[SqlParamStore, AuditWriter]]:
    """The parameter history and the session's audit trail, as ``thunes params record`` opens them."""
    store = SqlParamStore(url)
    try:
        try:
            audit, sink = open_audit(data_dir)
        except AuditLogError as e:
            fail(f"{e}: record parameters while no session runs on {data_dir}")
        try:
            yield store, audit
        finally:
            audit.close()
            sink.close()
    finally:
        store.close()


def _now_ns() -> int:
    return int(datetime.now(UTC).timestamp() * 1e9)


def _print_versions(console: Console, outcome: RecordOutcome) -> None:
    v = outcome.version
    if outcome.created:
        console.print(
            f"recorded {v.strategy_id} v{v.version} (param hash {v.param_hash}), audited as PARAMETER_UPDATED"
        )
    else:
        console.print(f"unchanged: {v.strategy_id} v{v.version} already has param hash {v.param_hash}")


def _trial_table(title: str, outcomes: list[TrialOutcome]) -> Table:
    table = Table(
        "trial", "parameters", "Sharpe", "total return", "max drawdown", "trades", title=title, title_justify="left"
    )
    for o in outcomes:
        table.add_row(f"#{o.number}", _params(o.strategy), _num(o.sharpe), _pct(o.total_return),
                      _pct(o.max_drawdown), str(o.trades))  # fmt: skip
    return table


def _print_optimize(console: Console, result: OptimizeResult, loaded: LoadedBars, storage: str, s: Settings) -> None:
    bars, bt = loaded.bars, s.backtest
    console.print(
        f"study {result.study_name} in {storage}: {result.trials_run} trials run, {result.trials_total} "
        f"in the study ({result.complete} complete, {result.pruned} pruned)"
    )
    console.print(
        f"training data: {bars.symbol} {bars.timeframe.value}, {len(bars):,} bars {_span(bars)} "
        f"({loaded.source}); Sharpe measured after a {result.warmup}-bar warm-up, starting with "
        f"{bt.initial_cash} at a {bt.fee_rate} fee rate"
    )
    if result.pareto:
        console.print(_trial_table("Pareto front (Sharpe up, max drawdown down)", result.pareto))
    elif result.best is not None:
        best = result.best
        console.print(
            f"best trial #{best.number}: {_params(best.strategy)}  Sharpe {_num(best.sharpe)}, total return "
            f"{_pct(best.total_return)}, max drawdown {_pct(best.max_drawdown)}, {best.trades} trades"
        )


def optimize(
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    data: DataOpt = None,
    synthetic: SyntheticOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    trials: Annotated[int, typer.Option(min=1, max=MAX_COUNT, help=TrialsHelp)] = 100,
    study: Annotated[str | None, typer.Option(help="Study name (default: strategy-symbol-timeframe-dates).")] = None,
    storage: Annotated[str, typer.Option(help="Study storage URL; PostgreSQL shares a study between machines.")] = (
        "sqlite:///data/optuna.db"
    ),
    seed: SeedOpt = 0,
    jobs: JobsOpt = 1,
    multi: Annotated[bool, typer.Option(help="Sharpe vs max drawdown (NSGA-II); prints the Pareto front.")] = False,
    warmup: WarmupOpt = None,
    initial_cash: InitialCashOpt = None,
    fee_rate: FeeRateOpt = None,
    record: Annotated[
        bool, typer.Option(help="Record the best parameters as a version (in-sample Sharpe only).")
    ] = False,
    by: ByOpt = "optimize",
    data_dir: DataDirOpt = Path("data/paper"),
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Search a strategy's parameters for the best Sharpe of the fast backtest on the training data."""
    _research()
    from thunes.research.optimize import (
        OptimizeConfig,
        checked_warmup,
        close_storage,
        masked_url,
        open_storage,
        record_parameters,
        with_strategy,
    )
    from thunes.research.optimize import optimize as run_search

    if record and multi:
        fail(
            "--record needs one best trial: pick a point of the Pareto front and record it with `thunes params record`"
        )
    costs = backtest_costs(initial_cash, fee_rate, None)
    settings, label = _settings("optimize", config, strategy_options(strategy, param), symbol, timeframe, data, costs)
    name = settings.strategy.name
    console = Console()
    with _input_errors():
        instrument, info, loaded = _market(settings, synthetic, start, end)
        bars = loaded.bars
        default = f"{label}-{bars.symbol}-{bars.timeframe.value}-{_compact(bars)}"
        search = OptimizeConfig(
            name,
            study or default + ("-multi" if multi else ""),
            trials=trials,
            seed=seed,
            jobs=jobs,
            multi=multi,
            warmup=warmup,
        )
        checked_warmup(settings, search, bars)  # before the study storage is created
        history = _history_target(record, data_dir, db)
        study_storage = open_storage(storage)
        try:
            with _progress(console, trials, f"{label} trials") as advance:
                result = run_search(
                    settings, instrument, bars, info, search, storage=study_storage, callbacks=[advance]
                )
        finally:
            close_storage(study_storage)
    _print_optimize(console, result, loaded, masked_url(storage), settings)
    if result.best is None and not result.pareto:
        fail(f"no trial of study {result.study_name} has a defined Sharpe yet: run more trials or use more data", 1)
    if history is not None and result.best is not None:
        chosen = with_strategy(settings, name, result.best.strategy).strategy
        reason = (
            f"optimize {result.study_name} trial #{result.best.number} on {_span(bars)}: in-sample Sharpe "
            f"{_num(result.best.sharpe)}, not walk-forward validated"
        )
        with _history(data_dir, history) as (store, audit):
            outcome = record_parameters(
                store,
                audit,
                audit_context(settings),
                chosen,
                created_ns=_now_ns(),
                author=by,
                reason=reason,
                backtest_sharpe=result.best.sharpe,
                wf_sharpe=None,
            )
        _print_versions(console, outcome)


def _print_walk_forward(console: Console, result: WalkForwardResult, loaded: LoadedBars, settings: Settings) -> None:
    bars, config = result.bars, result.config
    console.print(
        f"{config.strategy} on {bars.symbol} {bars.timeframe.value}, {len(bars):,} bars {_span(bars)} "
        f"({loaded.source}); train {config.train_days:g} d, test {config.test_days:g} d, step "
        f"{config.step:g} d, {config.trials} trials per fold, warm-up {result.warmup} bars, starting with "
        f"{result.deposit} at a {settings.backtest.fee_rate} fee rate"
    )
    table = Table("fold", "train", "test", "best parameters", "IS Sharpe", "OOS Sharpe", "OOS return", "trades")
    for r in result.folds:
        f, p = r.fold, r.oos.performance
        table.add_row(
            str(f.index),
            _span(bars, f.train_start, f.train_stop),
            _span(bars, f.test_start, f.test_stop),
            _params(r.strategy),
            _num(r.is_sharpe),
            _num(p.sharpe),
            _pct(p.total_return),
            f"{p.trades}" + (f" +{p.open_trades} open" if p.open_trades else ""),
        )
    console.print(table)
    oos = result.oos
    console.print(
        f"out of sample ({len(result.folds)} test windows chained): Sharpe {_num(oos.sharpe)}, total return "
        f"{_pct(oos.total_return)}, max drawdown {_pct(oos.max_drawdown)}, {oos.trades} trades"
    )
    c = result.candidate
    console.print(
        f"candidate (best on the latest {config.train_days:g} d, {_span(bars, c.train_start, c.train_stop)}): "
        f"{_params(c.strategy)}, IS Sharpe {_num(c.is_sharpe)}"
    )
    verdict = "[bold green]DEPLOY[/]" if result.deploy else "[bold red]DO NOT DEPLOY[/]"
    console.print(f"{verdict}: {result.verdict}")


def walk_forward(
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    data: DataOpt = None,
    synthetic: SyntheticOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    train_days: Annotated[float, typer.Option(callback=finite(0, MAX_DAYS), help="Train window, " + DaysHelp)] = 180.0,
    test_days: Annotated[
        float, typer.Option(callback=finite(0, MAX_DAYS), help="Test (out-of-sample) window, " + DaysHelp)
    ] = 30.0,
    step_days: Annotated[
        float | None,
        typer.Option(callback=finite(0, MAX_DAYS), help="Days between folds (default and minimum: the test length)."),
    ] = None,
    trials: Annotated[int, typer.Option(min=1, max=MAX_COUNT, help="Optuna trials per fold.")] = 30,
    seed: SeedOpt = 0,
    jobs: JobsOpt = 1,
    min_oos_sharpe: Annotated[
        float,
        typer.Option(
            callback=finite(-MAX_SHARPE, MAX_SHARPE, above=False),
            help="Deploy only when the OOS Sharpe exceeds this (SPEC §8).",
        ),
    ] = 1.5,
    min_oos_trades: MinTradesOpt = 100,
    warmup: WarmupOpt = None,
    initial_cash: InitialCashOpt = None,
    fee_rate: FeeRateOpt = None,
    out: Annotated[Path, typer.Option(help="Directory of the evaluation JSON.")] = Path("runs"),
    record: Annotated[bool, typer.Option(help="Record the candidate as a version when the rule passes.")] = True,
    by: ByOpt = "walk-forward",
    data_dir: DataDirOpt = Path("data/paper"),
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Optimise on rolling train windows, trade the next test windows, and apply the deployment rule."""
    _research()
    from thunes.research.walk_forward import (
        WalkForwardConfig,
        check_folds,
        record_if_deployable,
        result_json,
        run_walk_forward,
        write_result,
    )

    costs = backtest_costs(initial_cash, fee_rate, None)
    settings, label = _settings(
        "walk-forward", config, strategy_options(strategy, param), symbol, timeframe, data, costs
    )
    output_location(out, "--out", directory=True)
    wf = WalkForwardConfig(
        settings.strategy.name,
        train_days=train_days,
        test_days=test_days,
        step_days=step_days,
        trials=trials,
        seed=seed,
        jobs=jobs,
        min_oos_sharpe=min_oos_sharpe,
        min_oos_trades=min_oos_trades,
        warmup=warmup,
    )
    console = Console()
    with _input_errors():
        instrument, info, loaded = _market(settings, synthetic, start, end)
        total = (len(check_folds(settings, loaded.bars, wf)) + 1) * trials
        history = _history_target(record, data_dir, db)  # --no-record: none needed
        with _progress(console, total, f"{label} walk-forward trials") as advance:
            result = run_walk_forward(settings, instrument, loaded.bars, info, wf, callbacks=[advance])
    _print_walk_forward(console, result, loaded, settings)
    build = audit_context(settings)
    path = write_result(result_json(result, settings, build), out, datetime.now(UTC))
    console.print(f"evaluation written to {path}")
    if result.deploy and history is not None:
        with _history(data_dir, history) as (store, audit):
            outcome = record_if_deployable(result, path, settings, store, audit, build, created_ns=_now_ns(), author=by)
        if outcome is not None:
            _print_versions(console, outcome)
    elif result.deploy:
        console.print("not recorded (--no-record)")
    if not result.deploy:
        raise typer.Exit(EXIT_NOT_DEPLOYED)
