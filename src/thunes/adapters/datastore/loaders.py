"""Load OHLCV candle files (freqtrade Feather, Parquet, CSV, data.binance.vision klines) into :class:`OHLCV`.

Every problem, whatever library raised it, comes out as one :class:`DataFileError` line naming the
file, so the CLI can print it and a user can fix the file without reading a traceback.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.feather as pa_feather
import pyarrow.parquet as pa_parquet

from thunes.adapters.datastore.errors import DataFileError
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV, OHLCVError

__all__ = ["DataFileError", "format_ns", "infer_symbol_timeframe", "load_ohlcv", "normalise_symbol"]

#: Accepted names of the candle open-time column, in order of preference.
TIME_COLUMNS = ("open_time_ns", "open_time", "date", "timestamp", "time", "datetime")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
#: data.binance.vision spot/futures kline CSV layout (headerless for spot).
_KLINE_TAIL = ("close_time", "quote_volume", "count", "taker_buy_base", "taker_buy_quote", "ignore")
BINANCE_KLINE_COLUMNS = ("open_time", *VALUE_COLUMNS, *_KLINE_TAIL)

_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)-(?P<timeframe>\d+[a-zA-Z])(?:-.*)?$")
_NUMBER = re.compile(r"^\s*[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?\s*$")
_SUFFIXES = {".feather": "feather", ".arrow": "feather", ".ipc": "feather", ".parquet": "parquet", ".pq": "parquet"}
_SUFFIXES |= {".csv": "csv", ".txt": "csv", ".zip": "zip"}
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Source:
    """A file read into an Arrow table; ``first_line`` maps data rows to CSV line numbers (None: not text)."""

    path: Path
    table: pa.Table
    first_line: int | None = None

    def row(self, index: int) -> str:
        """Human row label for 0-based data row ``index``."""
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


def load_ohlcv(path: Path, *, symbol: str | None = None, timeframe: Timeframe | None = None) -> OHLCV:
    """Load one candle file, sorted by open time, exact duplicate rows dropped.

    The format comes from the extension, or the content when the extension is unknown. ``symbol``
    and ``timeframe`` default to what the file name says. Raises :class:`DataFileError`.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    if not path.is_file():
        raise DataFileError(path, "not a regular file")
    symbol, timeframe = _resolve_names(path, symbol, timeframe)
    source = _read(path)
    return _to_ohlcv(source, symbol, timeframe)


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


def _detect(path: Path, head: bytes) -> str:
    """Format name from the extension, else from the first bytes."""
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is not None:
        return kind
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"ARROW1", b"FEA1")):
        return "feather"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    first_line = head.split(b"\n", 1)[0]
    if b"\x00" not in head and first_line.count(b",") >= len(VALUE_COLUMNS):
        return "csv"
    raise DataFileError(
        path, f"unknown format (extension {path.suffix!r}); expected .feather, .arrow, .parquet, .csv or .zip"
    )


def _read(path: Path) -> _Source:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as e:
        raise DataFileError(path, f"cannot read file: {e.strerror or e}") from e
    if not head:
        raise DataFileError(path, "file is empty")
    kind = _detect(path, head)
    try:
        if kind == "feather":
            return _Source(path, pa_feather.read_table(path))
        if kind == "parquet":
            return _Source(path, pa_parquet.ParquetFile(path).read())
        if kind == "zip":
            return _read_csv(path, _unzip_single(path))
        return _read_csv(path, path.read_bytes())
    except (pa.ArrowException, OSError, zipfile.BadZipFile) as e:
        label = {"feather": "Feather/Arrow", "parquet": "Parquet", "zip": "zip"}.get(kind, "CSV")
        raise DataFileError(path, f"not a valid {label} file ({e})") from e


def _unzip_single(path: Path) -> bytes:
    """data.binance.vision ships one CSV per zip."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DataFileError(path, f"zip holds {len(names)} files; expected exactly one CSV")
        return archive.read(names[0])


def _read_csv(path: Path, data: bytes) -> _Source:
    """Read every column as text so that bad values are reported by row, not by Arrow block."""
    try:
        text_head = data[:65536].decode("utf-8")
    except UnicodeDecodeError as e:
        if b"\x00" in data[:65536] or e.start < len(data[:65536]) - 4:
            raise DataFileError(path, "not a text CSV file (binary content)") from e
        text_head = data[: e.start].decode("utf-8")
    if "\x00" in text_head:
        raise DataFileError(path, "not a text CSV file (binary content)")
    first = next((row for row in csv.reader(io.StringIO(text_head.lstrip("\ufeff"))) if row), None)
    if first is None:
        raise DataFileError(path, "CSV has no rows")
    if _NUMBER.match(first[0]):
        if len(first) != len(BINANCE_KLINE_COLUMNS):
            raise DataFileError(
                path,
                f"headerless CSV with {len(first)} columns; expected a header row "
                f"(date, open, high, low, close, volume) or the 12-column data.binance.vision kline layout",
            )
        names = list(BINANCE_KLINE_COLUMNS)
        read = pa_csv.ReadOptions(column_names=names)
        first_line = 1
    else:
        names = first  # as Arrow will see them (stripped after reading)
        read = pa_csv.ReadOptions()
        first_line = 2
    convert = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), null_values=[""], strings_can_be_null=True
    )
    try:
        table = pa_csv.read_csv(io.BytesIO(data), read_options=read, convert_options=convert)
    except pa.ArrowInvalid as e:
        raise DataFileError(path, f"malformed CSV: {e}".replace("CSV parse error: ", "")) from e
    return _Source(path, table.rename_columns([n.strip() for n in table.column_names]), first_line)


def _find_columns(source: _Source) -> tuple[str, dict[str, str]]:
    """The actual names of the time column and the five value columns (matched case-insensitively)."""
    by_lower: dict[str, str] = {}
    for name in source.table.column_names:
        by_lower.setdefault(name.strip().lower(), name)
    time_name = next((by_lower[c] for c in TIME_COLUMNS if c in by_lower), None)
    found = ", ".join(source.table.column_names) or "none"
    if time_name is None:
        raise DataFileError(
            source.path, f"missing time column (one of date, timestamp, open_time, time); found columns: {found}"
        )
    values: dict[str, str] = {}
    for column in VALUE_COLUMNS:
        if column not in by_lower:
            raise DataFileError(source.path, f"missing column {column!r}; found columns: {found}")
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


def _to_ohlcv(source: _Source, symbol: str, timeframe: Timeframe) -> OHLCV:
    time_name, value_names = _find_columns(source)
    if source.table.num_rows == 0:
        raise DataFileError(source.path, "no candles in file")
    times = _time_column_ns(source, time_name)
    values = np.vstack([_float_column(source, value_names[c]) for c in VALUE_COLUMNS])
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[:, order]
    same_time = times[1:] == times[:-1]
    if same_time.any():
        conflict = np.flatnonzero(same_time & np.any(values[:, 1:] != values[:, :-1], axis=0))
        if len(conflict):
            i = int(conflict[0])
            raise DataFileError(
                source.path,
                f"conflicting duplicate rows for open time {format_ns(int(times[i]))} "
                f"({source.row(int(order[i]))} and {source.row(int(order[i + 1]))})",
            )
        keep = np.concatenate([[True], ~same_time])
        times, values, order = times[keep], values[:, keep], order[keep]
    off_grid = np.flatnonzero(times % timeframe.nanoseconds != 0)
    if len(off_grid):
        i = int(off_grid[0])
        raise DataFileError(
            source.path,
            f"open time {format_ns(int(times[i]))} at {source.row(int(order[i]))} is not on the "
            f"{timeframe.value} grid; is the timeframe right?",
        )
    try:
        return OHLCV.from_arrays(symbol, timeframe, times, *values)
    except OHLCVError as e:
        raise DataFileError(source.path, str(e)) from e
