"""A local OHLCV store: monthly Parquet files in a Hive layout, written atomically, queried with DuckDB.

Layout: ``root/venue=<v>/symbol=<S>/timeframe=<tf>/month=<YYYY-MM>/data.parquet`` (zstd), one file per
month so that an append rewrites at most a month or two, and DuckDB can skip months by path.
A store has a single writer at a time; readers never see a half-written file.
"""

from __future__ import annotations

import builtins
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pa_parquet

from thunes.adapters.datastore.errors import DataStoreError, SeriesNotFoundError
from thunes.adapters.datastore.loaders import format_ns, normalise_symbol
from thunes.adapters.storage.durable import fsync_dir
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV

__all__ = ["DataStoreError", "Gap", "ParquetStore", "SeriesNotFoundError", "StoreEntry", "WriteResult", "find_gaps"]

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
    """``rows_written``: incoming candles; ``rows_new``: those whose open time was not stored yet."""

    rows_written: int
    rows_new: int
    months: tuple[str, ...]


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

    def write(self, venue: str, ohlcv: OHLCV) -> WriteResult:
        """Merge ``ohlcv`` into the store: per month, incoming candles replace stored ones at the same open time.

        Idempotent: writing the same candles again rewrites nothing and reports ``rows_new == 0``.
        """
        series = self.series_dir(venue, ohlcv.symbol, ohlcv.timeframe)
        times = ohlcv.open_time_ns
        if len(times) == 0:
            return WriteResult(0, 0, ())
        off_grid = np.flatnonzero(times % ohlcv.timeframe.nanoseconds != 0)
        if len(off_grid):
            first = format_ns(int(times[off_grid[0]]))
            raise DataStoreError(f"open time {first} is not on the {ohlcv.timeframe.value} grid; refusing to store it")
        month_index = times.astype("datetime64[ns]").astype("datetime64[M]")
        starts = np.flatnonzero(np.concatenate([[True], month_index[1:] != month_index[:-1]]))
        stops = np.append(starts[1:], len(times))
        months: list[str] = []
        rows_new = 0
        for start, stop in zip(starts, stops, strict=True):
            month = str(month_index[start])
            months.append(month)
            rows_new += self._merge_month(series / f"month={month}" / _FILE, ohlcv.slice(int(start), int(stop)))
        return WriteResult(len(times), rows_new, tuple(months))

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
        return OHLCV.from_arrays(normalise_symbol(symbol), Timeframe(timeframe), *(data[name] for name in SCHEMA.names))

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

    def _merge_month(self, path: Path, incoming: OHLCV) -> int:
        """Merge one month into ``path``; returns how many open times were new. Skips no-op rewrites."""
        new_times = incoming.open_time_ns
        new_values = np.vstack([getattr(incoming, c) for c in _VALUE_COLUMNS])
        if not path.exists():
            _write_atomic(path, new_times, new_values)
            return len(new_times)
        old_times, old_values = _read_month(path)
        known = np.isin(new_times, old_times)
        rows_new = int(len(new_times) - known.sum())
        if rows_new == 0:
            at = np.searchsorted(old_times, new_times)
            if np.array_equal(old_values[:, at], new_values):
                return 0
        keep = ~np.isin(old_times, new_times)
        times = np.concatenate([old_times[keep], new_times])
        values = np.concatenate([old_values[:, keep], new_values], axis=1)
        order = np.argsort(times, kind="stable")
        _write_atomic(path, times[order], values[:, order])
        return rows_new


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
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as fh:
            pa_parquet.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
