"""Load OHLCV candle files (freqtrade Feather, Parquet, CSV, data.binance.vision klines) into :class:`OHLCV`.

Every problem, whatever library raised it, comes out as one :class:`DataFileError` line naming the
file, so the CLI can print it and a user can fix the file without reading a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from thunes.adapters.datastore.errors import DataFileError
from thunes.adapters.datastore.readers import NUMBER, VALUE_COLUMNS, read_batches
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV, OHLCVError, candle_problem

__all__ = ["DataFileError", "format_ns", "infer_symbol_timeframe", "load_ohlcv", "normalise_symbol"]

#: Accepted names of the candle open-time column, in order of preference.
TIME_COLUMNS = ("open_time_ns", "open_time", "date", "timestamp", "time", "datetime")
#: A file is refused above these: its arrays (48 bytes a candle) must fit in memory beside a backtest.
MAX_ROWS = 10_000_000  # 19 years of 1m candles
MAX_BYTES = 2**30  # 1 GiB: 4.6 years of 1m data.binance.vision CSV rows (~130 bytes each)

_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)-(?P<timeframe>\d+[a-zA-Z])(?:-.*)?$")
_NUMBER = NUMBER
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Source:
    """A block of a file's rows; ``first_line`` maps data rows to CSV line numbers (None: not text)."""

    path: Path
    table: pa.Table
    first_line: int | None = None
    offset: int = 0  # rows of the file before this block

    def row(self, index: int) -> str:
        """Human row label for 0-based row ``index`` of this block."""
        index += self.offset
        if self.first_line is None:
            return f"row {index + 1}"
        return f"row {index + 1} (line {index + self.first_line})"


def format_ns(ns: int) -> str:
    """Unix nanoseconds as ISO-8601 UTC text, for messages and tables."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{rest:09d}Z".replace(".000000000Z", "Z")


def normalise_symbol(symbol: str) -> str:
    """``btc/usdt``, ``BTC_USDT`` and ``BTC-USDT`` all become ``BTCUSDT`` (the Binance spelling)."""
    cleaned = re.sub(r"[/_\-:\s]", "", symbol).upper()
    if not cleaned.isalnum() or not cleaned.isascii():
        raise ValueError(f"invalid symbol {symbol!r}: expected letters and digits like BTCUSDT")
    return cleaned


def infer_symbol_timeframe(path: Path) -> tuple[str | None, Timeframe | None]:
    """Symbol and timeframe from a file name (``BTC_USDT-1h.feather``, ``ADABTC-1m-2021-11-27.csv``).

    A store partition path (``.../symbol=BTCUSDT/timeframe=1h/...``) also works. Returns ``None`` for
    whatever cannot be inferred, so the caller can ask the user for just that.
    """
    symbol: str | None = None
    timeframe: Timeframe | None = None
    for part in Path(path).parts:
        key, _, value = part.partition("=")
        if key == "symbol" and value:
            symbol = _maybe_symbol(value)
        elif key == "timeframe" and value:
            timeframe = _maybe_timeframe(value)
    match = _NAME.match(Path(path).name.split(".", 1)[0])
    if match:
        parts = match["symbol"].split("_")
        if len(parts) == 3 and parts[1] == parts[2]:
            parts = parts[:2]  # freqtrade futures: BTC_USDT_USDT (base_quote_settle)
        symbol = symbol or _maybe_symbol("".join(parts))
        timeframe = timeframe or _maybe_timeframe(match["timeframe"])
    return symbol, timeframe


def load_ohlcv(
    path: Path,
    *,
    symbol: str | None = None,
    timeframe: Timeframe | None = None,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BYTES,
) -> OHLCV:
    """Load one candle file, checked row by row as it streams in.

    Refused (one :class:`DataFileError` line naming the file and row): a candle no market can print
    (see :func:`candle_problem`), open times not strictly increasing (unsorted or duplicated), off the
    ``timeframe`` grid, or never one ``timeframe`` apart (a 1h file read as 5m), and a file above
    ``max_bytes`` or ``max_rows``. Memory stays bounded by the candles read so far plus one block.
    The format comes from the extension, or the content when the extension is unknown. ``symbol``
    and ``timeframe`` default to what the file name says.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    if not path.is_file():
        raise DataFileError(path, "not a regular file")
    symbol, timeframe = _resolve_names(path, symbol, timeframe)
    found: list[tuple[str, dict[str, str]]] = []

    def select(names: list[str]) -> list[str]:
        found.append(_find_columns(path, names))
        return [found[0][0], *found[0][1].values()]

    batches = read_batches(path, select, max_bytes)
    candles = _Candles(path, timeframe, max_rows)
    for table in batches.tables:
        time_name, value_names = found[0]
        candles.add(_Source(path, table, batches.first_line, candles.rows), time_name, value_names)
    return candles.finish(symbol)


def _maybe_symbol(text: str) -> str | None:
    try:
        return normalise_symbol(text)
    except ValueError:
        return None


def _maybe_timeframe(text: str) -> Timeframe | None:
    try:
        return Timeframe.parse(text)
    except ValueError:
        return None


def _resolve_names(path: Path, symbol: str | None, timeframe: Timeframe | None) -> tuple[str, Timeframe]:
    inferred_symbol, inferred_timeframe = infer_symbol_timeframe(path)
    if symbol is not None:
        try:
            symbol = normalise_symbol(symbol)
        except ValueError as e:
            raise DataFileError(path, str(e)) from e
    symbol = symbol or inferred_symbol
    timeframe = timeframe or inferred_timeframe
    if symbol is None or timeframe is None:
        missing = " and ".join(n for n, v in (("symbol", symbol), ("timeframe", timeframe)) if v is None)
        raise DataFileError(
            path,
            f"cannot infer the {missing} from the file name (like BTC_USDT-1h.feather); pass the {missing} explicitly",
        )
    return symbol, timeframe


def _find_columns(path: Path, names: list[str]) -> tuple[str, dict[str, str]]:
    """The actual names of the time column and the five value columns (matched case-insensitively)."""
    by_lower: dict[str, str] = {}
    for name in names:
        by_lower.setdefault(name.strip().lower(), name)
    time_name = next((by_lower[c] for c in TIME_COLUMNS if c in by_lower), None)
    found = ", ".join(names) or "none"
    if time_name is None:
        expected = "one of date, timestamp, open_time, time"
        raise DataFileError(path, f"missing time column ({expected}); found columns: {found}")
    values: dict[str, str] = {}
    for column in VALUE_COLUMNS:
        if column not in by_lower:
            raise DataFileError(path, f"missing column {column!r}; found columns: {found}")
        values[column] = by_lower[column]
    return time_name, values


def _first_null(array: pa.ChunkedArray) -> int | None:
    if array.null_count == 0:
        return None
    return int(np.flatnonzero(array.is_null().to_numpy())[0])


def _float_column(source: _Source, name: str) -> FloatArray:
    array = source.table.column(name)
    null_at = _first_null(array)
    if null_at is not None:
        raise DataFileError(source.path, f"missing value in column {name!r} at {source.row(null_at)}")
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        array = pc.utf8_trim_whitespace(array)
        try:
            array = pc.cast(array, pa.float64())
        except pa.ArrowInvalid as e:
            bad = next((i for i, v in enumerate(array.to_pylist()) if not _NUMBER.match(v or "")), None)
            if bad is None:
                raise DataFileError(source.path, f"column {name!r} is not numeric ({e})") from e
            value = array[bad].as_py()
            raise DataFileError(
                source.path, f"unparsable {source.row(bad)}: non-numeric value {value!r} in column {name!r}"
            ) from e
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise DataFileError(source.path, f"column {name!r} has type {kind}, expected numbers")
    values = np.asarray(array.cast(pa.float64()).to_numpy(), dtype=np.float64)
    not_finite = np.flatnonzero(~np.isfinite(values))
    if len(not_finite):
        raise DataFileError(
            source.path, f"NaN or infinite value in column {name!r} at {source.row(int(not_finite[0]))}"
        )
    return values


def _epoch_to_ns(values: npt.NDArray[np.int64] | FloatArray) -> IntArray:
    """Epoch numbers in s, ms, us or ns, unit guessed per value by magnitude (Binance moved to us in 2025)."""
    magnitude = np.abs(values)
    scale = np.where(magnitude < 1e11, 10**9, np.where(magnitude < 1e14, 10**6, np.where(magnitude < 1e17, 10**3, 1)))
    if values.dtype.kind in "iu":
        return np.asarray(values, dtype=np.int64) * scale.astype(np.int64)
    return np.rint(values * scale).astype(np.int64)


def _time_column_ns(source: _Source, name: str) -> IntArray:
    array = source.table.column(name)
    null_at = _first_null(array)
    if null_at is not None:
        raise DataFileError(source.path, f"missing time in column {name!r} at {source.row(null_at)}")
    kind = array.type
    try:
        if pa.types.is_timestamp(kind):
            return np.asarray(pc.cast(array, pa.timestamp("ns", tz=kind.tz)).cast(pa.int64()).to_numpy())
        if pa.types.is_date(kind):
            return np.asarray(pc.cast(array, pa.timestamp("ns")).cast(pa.int64()).to_numpy())
    except pa.ArrowInvalid as e:
        raise DataFileError(source.path, f"time column {name!r} is out of range ({e})") from e
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        raw = np.asarray(array.to_numpy())
        return raw.astype(np.int64) if name.lower() == "open_time_ns" else _epoch_to_ns(raw)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _text_time_ns(source, name, pc.utf8_trim_whitespace(array))
    raise DataFileError(source.path, f"time column {name!r} has type {kind}, expected timestamps or epoch numbers")


def _text_time_ns(source: _Source, name: str, array: pa.ChunkedArray) -> IntArray:
    """Epoch numbers as text, or ISO-8601 (with or without zone; naive means UTC)."""
    if pc.all(pc.match_substring_regex(array, _NUMBER.pattern)).as_py():
        try:
            raw = np.asarray(pc.cast(array, pa.int64()).to_numpy())
        except pa.ArrowInvalid:
            raw = np.asarray(pc.cast(array, pa.float64()).to_numpy())
        return raw.astype(np.int64) if name.lower() == "open_time_ns" else _epoch_to_ns(raw)
    for tz in ("UTC", None):
        try:
            return np.asarray(pc.cast(array, pa.timestamp("ns", tz=tz)).cast(pa.int64()).to_numpy())
        except pa.ArrowInvalid:
            continue
    # Mixed zone styles, or a bad value: parse row by row to convert or to name the row.
    result = np.empty(len(array), dtype=np.int64)
    for i, text in enumerate(array.to_pylist()):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as e:
            raise DataFileError(source.path, f"unparsable {source.row(i)}: bad time {text!r} in column {name!r}") from e
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        result[i] = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000
    return result


def _span(ns: int) -> str:
    """A time step as a timeframe name when it is one (``1h``), else in hours or minutes."""
    for timeframe in Timeframe:
        if timeframe.nanoseconds == ns:
            return timeframe.value
    minutes = ns / 60e9
    return f"{minutes / 60:g}h" if minutes >= 60 else f"{minutes:g}m"


class _Candles:
    """The checked columns of a file so far: each block is validated as it arrives, then kept."""

    def __init__(self, path: Path, timeframe: Timeframe, max_rows: int) -> None:
        self.path, self.timeframe, self.max_rows = path, timeframe, max_rows
        self.rows = 0
        self._times: list[IntArray] = []
        self._values: list[FloatArray] = []
        self._last: tuple[int, str] | None = None  # open time and row label of the previous row
        self._closest: tuple[int, str] | None = None  # smallest step between rows, and where

    def add(self, source: _Source, time_name: str, value_names: dict[str, str]) -> None:
        n = source.table.num_rows
        if n == 0:
            return
        if self.rows + n > self.max_rows:
            limit = f"more than {self.max_rows:,} candles"
            raise DataFileError(self.path, f"{limit}; split the file (by month or year) and import the parts")
        values = np.vstack([_float_column(source, value_names[c]) for c in VALUE_COLUMNS])
        problem = candle_problem(*values)
        if problem is not None:
            raise DataFileError(self.path, f"impossible candle at {source.row(problem[0])}: {problem[1]}")
        times = _time_column_ns(source, time_name)
        self._check_times(source, times)
        self._times.append(times)
        self._values.append(values)
        self.rows += n

    def _check_times(self, source: _Source, times: IntArray) -> None:
        """Strictly increasing (continuing the previous block), on the grid; track the closest step."""
        steps = np.diff(times)
        if self._last is not None:
            steps = np.concatenate([[times[0] - self._last[0]], steps])
        back = np.flatnonzero(steps <= 0)
        if len(back):
            i = int(back[0]) + (0 if self._last is not None else 1)  # row of times that breaks the order
            before = self._last[1] if i == 0 and self._last is not None else source.row(i - 1)
            what = "duplicates the open time of" if steps[back[0]] == 0 else "goes back in time from"
            raise DataFileError(
                self.path,
                f"open time {format_ns(int(times[i]))} at {source.row(i)} {what} {before}; "
                f"candles must be sorted by open time, one row per candle",
            )
        off_grid = np.flatnonzero(times % self.timeframe.nanoseconds != 0)
        if len(off_grid):
            i = int(off_grid[0])
            raise DataFileError(
                self.path,
                f"open time {format_ns(int(times[i]))} at {source.row(i)} is not on the "
                f"{self.timeframe.value} grid; is the timeframe right?",
            )
        if len(steps):
            j = int(np.argmin(steps))
            if self._closest is None or steps[j] < self._closest[0]:
                i = j + (0 if self._last is not None else 1)
                self._closest = (int(steps[j]), source.row(i))
        self._last = (int(times[-1]), source.row(len(times) - 1))

    def finish(self, symbol: str) -> OHLCV:
        """The candles, once the whole file is read: refuses an empty file and a timeframe mismatch."""
        if self.rows == 0:
            raise DataFileError(self.path, "no candles in file")
        step = self.timeframe.nanoseconds
        if self._closest is not None and self._closest[0] != step:
            spacing, where = _span(self._closest[0]), self._closest[1]
            raise DataFileError(
                self.path,
                f"candles are at least {spacing} apart (closest at {where}) but the timeframe is "
                f"{self.timeframe.value}: this looks like a {spacing} file; pass the right timeframe",
            )
        times = np.concatenate(self._times)
        values = np.concatenate(self._values, axis=1)
        self._times, self._values = [], []
        try:
            return OHLCV.from_arrays(symbol, self.timeframe, times, *values)
        except OHLCVError as e:
            raise DataFileError(self.path, str(e)) from e
