"""A local OHLCV store: monthly Parquet files in a Hive layout, written atomically, queried with DuckDB.

Layout: ``root/venue=<v>/symbol=<S>/timeframe=<tf>/month=<YYYY-MM>/data.parquet`` (zstd), one file per
month so that an append rewrites at most a month or two, and DuckDB can skip months by path.
A store has a single writer at a time; readers never see a half-written file.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pa_parquet

from thunes.adapters.datastore.errors import DataStoreError, SeriesNotFoundError
from thunes.adapters.datastore.loaders import format_ns, normalise_symbol
from thunes.adapters.storage.durable import write_atomically
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV, candle_problem

__all__ = [
    "Conflict",
    "DataConflictError",
    "DataStoreError",
    "Gap",
    "ParquetStore",
    "SeriesNotFoundError",
    "StoreEntry",
    "WriteResult",
    "conflict_between",
    "find_conflict",
    "find_gaps",
]

_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
SCHEMA = pa.schema([("open_time_ns", pa.int64())] + [(c, pa.float64()) for c in _VALUE_COLUMNS])
_FILE = "data.parquet"
_VENUE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_MONTH = re.compile(r"^month=(\d{4}-\d{2})$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_READ_SQL = (
    "SELECT open_time_ns, open, high, low, close, volume FROM read_parquet($files) "
    "WHERE open_time_ns >= $start AND open_time_ns < $end ORDER BY open_time_ns"
)
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """``rows_written``: incoming candles; ``rows_new``: those whose open time was not stored yet;
    ``rows_replaced``: stored candles overwritten with other values (only with ``replace=True``)."""

    rows_written: int
    rows_new: int
    months: tuple[str, ...]
    rows_replaced: int = 0


@dataclass(frozen=True, slots=True)
class Conflict:
    """Candles present on both sides with other values: the first one, its differing fields, how many."""

    open_time_ns: int
    fields: tuple[tuple[str, float, float], ...]  # (column, stored/first value, incoming value)
    count: int

    def describe(self, first: str = "stored", second: str = "in the file") -> str:
        diffs = ", ".join(f"{name} {a!r} {first} vs {b!r} {second}" for name, a, b in self.fields)
        plural = "candle differs" if self.count == 1 else "candles differ"
        return f"{self.count} {plural}, first at open time {format_ns(self.open_time_ns)} ({diffs})"


class DataConflictError(DataStoreError):
    """A write would change stored candles and ``replace`` was not asked for; nothing was written."""

    def __init__(self, conflict: Conflict) -> None:
        self.conflict = conflict
        super().__init__(f"{conflict.describe()}; nothing written (replace them explicitly to overwrite)")


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One stored series and its extent (open times in Unix ns, inclusive)."""

    venue: str
    symbol: str
    timeframe: Timeframe
    rows: int
    first_open_ns: int
    last_open_ns: int


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of ``missing`` absent candles, opening from ``start_ns`` to ``end_ns`` (both inclusive)."""

    start_ns: int
    end_ns: int
    missing: int


class ParquetStore:
    """Partitioned Parquet candles under ``root``; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    def series_dir(self, venue: str, symbol: str, timeframe: Timeframe) -> Path:
        """Directory of one series (validates the names, since they become path components)."""
        if not _VENUE.match(venue):
            raise DataStoreError(f"invalid venue {venue!r}: expected lower-case letters, digits or _ like 'binance'")
        try:
            symbol = normalise_symbol(symbol)
        except ValueError as e:
            raise DataStoreError(str(e)) from e
        return self._root / f"venue={venue}" / f"symbol={symbol}" / f"timeframe={Timeframe(timeframe).value}"

    def write(self, venue: str, ohlcv: OHLCV, *, replace: bool = False) -> WriteResult:
        """Merge ``ohlcv`` into the store, month by month.

        Candles at new open times are added; identical ones are a no-op (writing the same candles again
        rewrites nothing, ``rows_new == 0``). Stored candles with other values are history being
        rewritten: refused with :class:`DataConflictError` before any file changes, unless ``replace``.
        """
        series = self.series_dir(venue, ohlcv.symbol, ohlcv.timeframe)
        times = ohlcv.open_time_ns
        if len(times) == 0:
            return WriteResult(0, 0, ())
        _check_candles(ohlcv, "refusing to store it")
        plan = self._plan(series, ohlcv)
        conflicts = [c for *_, c in plan if c is not None]
        replaced = sum(c.count for c in conflicts)
        if conflicts and not replace:
            raise DataConflictError(Conflict(conflicts[0].open_time_ns, conflicts[0].fields, replaced))
        rows_new = 0
        for path, incoming, old, conflict in plan:
            rows_new += self._merge_month(path, incoming, old, changed=conflict is not None)
        return WriteResult(
            len(times), rows_new, tuple(p.parent.name.removeprefix("month=") for p, *_ in plan), replaced
        )

    def check(self, venue: str, ohlcv: OHLCV) -> Conflict | None:
        """What :meth:`write` would refuse without ``replace`` (all months counted), without writing."""
        if len(ohlcv) == 0:
            return None
        series = self.series_dir(venue, ohlcv.symbol, ohlcv.timeframe)
        conflicts = [c for *_, c in self._plan(series, ohlcv) if c is not None]
        if not conflicts:
            return None
        return Conflict(conflicts[0].open_time_ns, conflicts[0].fields, sum(c.count for c in conflicts))

    def _plan(self, series: Path, ohlcv: OHLCV) -> builtins.list[_MonthPlan]:
        """Per month: its file, the incoming slice, the stored columns (None: new file), and any conflict."""
        times = ohlcv.open_time_ns
        month_index = times.astype("datetime64[ns]").astype("datetime64[M]")
        starts = np.flatnonzero(np.concatenate([[True], month_index[1:] != month_index[:-1]]))
        stops = np.append(starts[1:], len(times))
        plan: builtins.list[_MonthPlan] = []
        for start, stop in zip(starts, stops, strict=True):
            path = series / f"month={month_index[start]}" / _FILE
            incoming = ohlcv.slice(int(start), int(stop))
            old = _read_month(path) if path.exists() else None
            conflict = None if old is None else find_conflict(*old, incoming.open_time_ns, _values(incoming))
            plan.append((path, incoming, old, conflict))
        return plan

    def read(
        self,
        venue: str,
        symbol: str,
        timeframe: Timeframe,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> OHLCV:
        """Candles with ``start_ns <= open time < end_ns`` (either bound optional), sorted."""
        files = self._month_files(venue, symbol, timeframe, start_ns, end_ns)
        bounds = {
            "start": _INT64_MIN if start_ns is None else int(start_ns),
            "end": _INT64_MAX if end_ns is None else int(end_ns),
        }
        data = self._query(_READ_SQL, files, bounds)
        ohlcv = OHLCV.from_arrays(normalise_symbol(symbol), Timeframe(timeframe), *(data[n] for n in SCHEMA.names))
        _check_candles(ohlcv, f"in store {self._root}; re-import the month with replace")
        return ohlcv

    def list(self) -> builtins.list[StoreEntry]:
        """Every stored series with its row count and first/last open time, sorted by name."""
        files = sorted(str(p) for p in self._root.glob(f"venue=*/symbol=*/timeframe=*/month=*/{_FILE}"))
        if not files:
            return []
        data = self._query(
            "SELECT venue, symbol, timeframe, count(*) AS n, min(open_time_ns) AS first, max(open_time_ns) AS last "
            "FROM read_parquet($files, hive_partitioning = true, hive_types_autocast = false) "
            "GROUP BY venue, symbol, timeframe ORDER BY venue, symbol, timeframe",
            files,
            {},
        )
        entries = []
        for i in range(len(data["n"])):
            try:
                timeframe = Timeframe.parse(str(data["timeframe"][i]))
            except ValueError as e:
                raise DataStoreError(f"store {self._root} holds an unknown timeframe: {e}") from e
            entries.append(
                StoreEntry(
                    str(data["venue"][i]),
                    str(data["symbol"][i]),
                    timeframe,
                    int(data["n"][i]),
                    int(data["first"][i]),
                    int(data["last"][i]),
                )
            )
        return entries

    def gaps(self, venue: str, symbol: str, timeframe: Timeframe) -> builtins.list[Gap]:
        """Holes in the open-time grid between the first and the last stored candle."""
        files = self._month_files(venue, symbol, timeframe, None, None)
        times = self._query("SELECT open_time_ns FROM read_parquet($files) ORDER BY open_time_ns", files, {})
        return find_gaps(np.asarray(times["open_time_ns"], dtype=np.int64), Timeframe(timeframe))

    def _month_files(
        self, venue: str, symbol: str, timeframe: Timeframe, start_ns: int | None, end_ns: int | None
    ) -> builtins.list[str]:
        """Partition files of a series, skipping months wholly outside ``[start_ns, end_ns)``."""
        series = self.series_dir(venue, symbol, timeframe)
        files: builtins.list[str] = []
        first = None if start_ns is None else _month_of(start_ns)
        last = None if end_ns is None else _month_of(end_ns - 1)
        for month_dir in sorted(series.glob("month=*")):
            match = _MONTH.match(month_dir.name)
            path = month_dir / _FILE
            if match is None or not path.is_file():
                continue
            month = match.group(1)
            if (first is None or month >= first) and (last is None or month <= last):
                files.append(str(path))
        if not files and not any(series.glob(f"month=*/{_FILE}")):
            raise SeriesNotFoundError(
                f"no data for {venue}/{normalise_symbol(symbol)}/{Timeframe(timeframe).value} in store {self._root}; "
                f"import some first"
            )
        return files

    def _query(self, sql: str, files: builtins.list[str], params: dict[str, int]) -> dict[str, npt.NDArray[Any]]:
        """Run ``sql`` over ``files`` in a throwaway DuckDB; an empty file list yields empty columns."""
        if not files:
            return {field.name: np.empty(0, dtype=field.type.to_pandas_dtype()) for field in SCHEMA}
        import duckdb  # 27 MB: loaded only when a query runs, not by every process

        try:
            with duckdb.connect() as con:
                result: dict[str, npt.NDArray[Any]] = con.execute(sql, {"files": files, **params}).fetchnumpy()
        except duckdb.Error as e:
            raise DataStoreError(f"cannot query store {self._root}: {str(e).splitlines()[0]}") from e
        return result

    def _merge_month(self, path: Path, incoming: OHLCV, old: _Columns | None, *, changed: bool) -> int:
        """Merge one month into ``path``; returns how many open times were new. Skips no-op rewrites."""
        new_times, new_values = incoming.open_time_ns, _values(incoming)
        if old is None:
            _write_atomic(path, new_times, new_values)
            return len(new_times)
        old_times, old_values = old
        keep = ~np.isin(old_times, new_times)
        rows_new = int(len(new_times) - (len(old_times) - keep.sum()))
        if rows_new == 0 and not changed:
            return 0
        times = np.concatenate([old_times[keep], new_times])
        values = np.concatenate([old_values[:, keep], new_values], axis=1)
        order = np.argsort(times, kind="stable")
        _write_atomic(path, times[order], values[:, order])
        return rows_new


_Columns = tuple[IntArray, npt.NDArray[np.float64]]
_MonthPlan = tuple[Path, OHLCV, _Columns | None, Conflict | None]


def _values(ohlcv: OHLCV) -> npt.NDArray[np.float64]:
    return np.vstack([getattr(ohlcv, c) for c in _VALUE_COLUMNS])


def _check_candles(ohlcv: OHLCV, context: str) -> None:
    """Grid and candle invariants: a store never holds what a loader would refuse."""
    times = ohlcv.open_time_ns
    off_grid = np.flatnonzero(times % ohlcv.timeframe.nanoseconds != 0)
    if len(off_grid):
        first = format_ns(int(times[off_grid[0]]))
        raise DataStoreError(f"open time {first} is not on the {ohlcv.timeframe.value} grid; {context}")
    problem = candle_problem(ohlcv.open, ohlcv.high, ohlcv.low, ohlcv.close, ohlcv.volume)
    if problem is not None:
        series = f"{ohlcv.symbol}/{ohlcv.timeframe.value}"
        when = format_ns(int(times[problem[0]]))
        raise DataStoreError(f"impossible {series} candle at open time {when}: {problem[1]}; {context}")


def conflict_between(first: OHLCV, second: OHLCV) -> Conflict | None:
    """:func:`find_conflict` of two candle series (of the same symbol and timeframe)."""
    return find_conflict(first.open_time_ns, _values(first), second.open_time_ns, _values(second))


def find_conflict(
    old_times: IntArray, old_values: npt.NDArray[np.float64], new_times: IntArray, new_values: npt.NDArray[np.float64]
) -> Conflict | None:
    """Open times on both sides (sorted, unique) whose five values differ; None when all agree."""
    _, old_at, new_at = np.intersect1d(old_times, new_times, assume_unique=True, return_indices=True)
    if len(old_at) == 0:
        return None
    differ = np.any(old_values[:, old_at] != new_values[:, new_at], axis=0)
    if not differ.any():
        return None
    first = int(np.argmax(differ))
    i, j = int(old_at[first]), int(new_at[first])
    fields = tuple(
        (name, float(old_values[k, i]), float(new_values[k, j]))
        for k, name in enumerate(_VALUE_COLUMNS)
        if old_values[k, i] != new_values[k, j]
    )
    return Conflict(int(old_times[i]), fields, int(differ.sum()))


def find_gaps(times: IntArray, timeframe: Timeframe) -> list[Gap]:
    """Gaps in sorted, grid-aligned open times ``times`` (Unix ns) for candles of ``timeframe``."""
    step = timeframe.nanoseconds
    if len(times) < 2:
        return []
    deltas = np.diff(times)
    holes = np.flatnonzero(deltas > step)
    return [Gap(int(times[i]) + step, int(times[i + 1]) - step, int(deltas[i] // step) - 1) for i in holes]


def _month_of(ns: int) -> str:
    return str(np.datetime64(int(ns), "ns").astype("datetime64[M]"))


def _read_month(path: Path) -> tuple[IntArray, npt.NDArray[np.float64]]:
    try:
        table = pa_parquet.ParquetFile(path).read(columns=SCHEMA.names)
    except (pa.ArrowException, OSError) as e:
        raise DataStoreError(f"cannot read partition {path}: {str(e).splitlines()[0]}") from e
    times = np.asarray(table.column("open_time_ns").to_numpy(), dtype=np.int64)
    values = np.vstack([np.asarray(table.column(c).to_numpy(), dtype=np.float64) for c in _VALUE_COLUMNS])
    return times, values


def _write_atomic(path: Path, times: IntArray, values: npt.NDArray[np.float64]) -> None:
    """Write to a hidden temp file in the same directory, fsync, then ``os.replace`` over ``path``.

    A crash leaves either the old file or the new one (plus, at worst, a stray ``.*.tmp`` that readers
    ignore), never a truncated ``data.parquet``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_arrays(
        [pa.array(times, pa.int64()), *(pa.array(v, pa.float64()) for v in values)], schema=SCHEMA
    )
    write_atomically(path, lambda fh: pa_parquet.write_table(table, fh, compression="zstd"))
