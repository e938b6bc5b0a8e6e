"""``thunes data``: import candle files into the local Parquet store, list what it holds, find gaps.

Bad input (missing file, unreadable format, unknown series) ends with one ``error:`` line and exit
code 2, never a traceback, so scripts can tell a user mistake from a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from thunes.adapters.datastore.errors import DataFileError, DataStoreError

if TYPE_CHECKING:
    from thunes.adapters.datastore.store import ParquetStore, WriteResult
    from thunes.features.ohlcv import OHLCV
from thunes.app.config import ConfigError, load_settings
from thunes.app.errors import fail
from thunes.domain.market import Timeframe

__all__ = ["data_app"]

DEFAULT_STORE = Path("data/store")

data_app = typer.Typer(
    help="Import OHLCV candle files into the local Parquet store, list stored series and find gaps.",
    no_args_is_help=True,
)

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store", help=f"Store root directory (default: data.store_dir, {DEFAULT_STORE}).", show_default=False
    ),
]


def _store_root(store: Path | None) -> Path:
    """``--store`` when given, else ``data.store_dir`` from the settings (TOML file or environment)."""
    if store is not None:
        return store
    try:
        return load_settings().data.store_dir
    except ConfigError as e:
        fail(str(e))


def _existing(root: Path) -> Path:
    """A store to read must exist: a mistyped ``--store`` is an error, not an empty store."""
    if not root.is_dir():
        fail(f"no candle store at {root}; import candles with `thunes data import` first")
    return root


def _when(ns: int) -> str:
    """Candle open time for tables: minutes are enough, every timeframe is a whole number of them."""
    from thunes.adapters.datastore.loaders import format_ns

    return format_ns(ns)[:16].replace("T", " ")


def _parse_timeframe(text: str) -> Timeframe:
    try:
        return Timeframe.parse(text)
    except ValueError as e:
        fail(str(e))


@data_app.command("import")
def import_files(
    paths: Annotated[
        list[Path], typer.Argument(help="Candle files: .feather/.arrow, .parquet, .csv or data.binance.vision .zip.")
    ],
    venue: Annotated[str, typer.Option(help="Venue the candles come from.")] = "binance",
    symbol: Annotated[str | None, typer.Option(help="Symbol, when the file name does not say (BTCUSDT).")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Timeframe, when the file name does not say (1h).")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite stored candles the files give other values for.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Load and check every file, then merge them into the store (re-importing the same file is harmless).

    Files that would change stored candles, or disagree with each other, are refused before anything is
    written, naming the first differing open time, unless --replace is given.
    """
    tf = None if timeframe is None else _parse_timeframe(timeframe)
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"{missing[0]}: file not found")
    from thunes.adapters.datastore.store import ParquetStore

    parquet_store = ParquetStore(_store_root(store))
    err_console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,  # no bar noise in pipes and logs
    )
    with progress:  # stopped before any error is printed, so the error stays the only stderr line
        loaded, error = _load_all(progress, paths, parquet_store, venue, symbol, tf, replace=replace)
        results: list[tuple[Path, str, Timeframe, WriteResult]] = []
        if error is None:
            task = progress.add_task("importing", total=len(loaded))
            for path, candles in loaded:
                progress.update(task, description=f"importing {path.name}")
                try:
                    results.append(
                        (path, candles.symbol, candles.timeframe, parquet_store.write(venue, candles, replace=replace))
                    )
                except DataStoreError as e:
                    error = f"{path}: {e}"
                except OSError as e:
                    error = f"{path}: {e.strerror or e}"
                if error is not None:
                    break
                progress.advance(task)
    if error is not None:
        fail(error)
    Console().print(_import_table(results, parquet_store.root, show_replaced=replace))


def _load_all(
    progress: Progress,
    paths: list[Path],
    parquet_store: ParquetStore,
    venue: str,
    symbol: str | None,
    timeframe: Timeframe | None,
    *,
    replace: bool,
) -> tuple[list[tuple[Path, OHLCV]], str | None]:
    """Every file loaded and checked against the store and the files before it; the first error, if any."""
    from thunes.adapters.datastore.loaders import load_ohlcv  # pyarrow, only for this command
    from thunes.adapters.datastore.store import conflict_between

    loaded: list[tuple[Path, OHLCV]] = []
    task = progress.add_task("checking", total=len(paths))
    hint = "nothing imported; pass --replace to overwrite them"
    for path in paths:
        progress.update(task, description=f"checking {path.name}")
        try:
            candles = load_ohlcv(path, symbol=symbol, timeframe=timeframe)
            conflict = None if replace else parquet_store.check(venue, candles)
            if conflict is not None:
                return loaded, f"{path}: would change stored candles: {conflict.describe()}; {hint}"
            for other_path, other in loaded if not replace else ():
                if (other.symbol, other.timeframe) != (candles.symbol, candles.timeframe):
                    continue
                conflict = conflict_between(other, candles)
                if conflict is not None:
                    clash = conflict.describe(f"in {other_path.name}", "here")
                    return loaded, f"{path}: disagrees with {other_path}: {clash}; {hint}"
        except (DataFileError, DataStoreError) as e:
            return loaded, str(e)
        except OSError as e:
            return loaded, f"{path}: {e.strerror or e}"
        loaded.append((path, candles))
        progress.advance(task)
    return loaded, None


def _import_table(results: list[tuple[Path, str, Timeframe, WriteResult]], root: Path, *, show_replaced: bool) -> Table:
    table = Table(title=f"imported into {root}")
    numbers = ("written", "new", "replaced") if show_replaced else ("written", "new")
    for column in ("file", "symbol", "timeframe", *numbers, "months"):
        table.add_column(
            column,
            justify="right" if column in numbers else "left",
            overflow="fold",
            no_wrap=column != "file",
        )
    for path, symbol, timeframe, result in results:
        months = f"{result.months[0]}..{result.months[-1]}" if result.months else "-"
        counts = (result.rows_written, result.rows_new, result.rows_replaced)[: len(numbers)]
        table.add_row(path.name, symbol, timeframe.value, *map(str, counts), months)
    if len(results) > 1:
        totals = [sum(r.rows_written for *_, r in results), sum(r.rows_new for *_, r in results)]
        totals.append(sum(r.rows_replaced for *_, r in results))
        table.add_row("total", "", "", *map(str, totals[: len(numbers)]), "", style="bold")
    return table


@data_app.command("list")
def list_series(store: StoreOption = None) -> None:
    """Show every stored series with its row count and first/last candle open time (UTC)."""
    from thunes.adapters.datastore.store import ParquetStore

    parquet_store = ParquetStore(_existing(_store_root(store)))
    try:
        entries = parquet_store.list()
    except DataStoreError as e:
        fail(str(e))
    console = Console()
    if not entries:
        console.print(f"store {parquet_store.root} is empty")
        return
    table = Table(title=f"store {parquet_store.root}")
    for column in ("venue", "symbol", "timeframe", "rows", "first open (UTC)", "last open (UTC)"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for entry in entries:
        table.add_row(
            entry.venue,
            entry.symbol,
            entry.timeframe.value,
            str(entry.rows),
            _when(entry.first_open_ns),
            _when(entry.last_open_ns),
        )
    console.print(table)


@data_app.command("gaps")
def list_gaps(
    venue: Annotated[str, typer.Argument(help="Venue, e.g. binance.")],
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTCUSDT.")],
    timeframe: Annotated[str, typer.Argument(help="Timeframe, e.g. 1h.")],
    store: StoreOption = None,
) -> None:
    """List the missing candles between the first and last stored one (exit code 0 either way)."""
    tf = _parse_timeframe(timeframe)
    from thunes.adapters.datastore.loaders import normalise_symbol
    from thunes.adapters.datastore.store import ParquetStore

    parquet_store = ParquetStore(_existing(_store_root(store)))
    try:
        symbol = normalise_symbol(symbol)
        gaps = parquet_store.gaps(venue, symbol, tf)
    except ValueError as e:  # DataStoreError included
        fail(str(e))
    console = Console()
    if not gaps:
        console.print(f"no gaps in {venue}/{symbol}/{tf.value}")
        return
    table = Table(title=f"gaps in {venue}/{symbol}/{tf.value}")
    for column in ("first missing open (UTC)", "last missing open (UTC)", "missing candles"):
        table.add_column(column, justify="right" if column.startswith("missing") else "left")
    for gap in gaps:
        table.add_row(_when(gap.start_ns), _when(gap.end_ns), str(gap.missing))
    console.print(table)
    console.print(f"{len(gaps)} gaps, {sum(g.missing for g in gaps)} missing candles")
