"""Candle files as a stream of Arrow tables, so that a big or bad file never sits whole in memory.

CSV (plain or the one file of a data.binance.vision zip) is read block by block with every column as
text (bad values are then reported by row, not by Arrow block); Parquet by record batch; Feather/Arrow
IPC by record batch from a memory map. Only the columns the caller selects are converted. A file above
the size limit is refused before a byte of it is parsed, and a bad header before the first block.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.feather as pa_feather
import pyarrow.parquet as pa_parquet

from thunes.adapters.datastore.errors import DataFileError

__all__ = ["BINANCE_KLINE_COLUMNS", "NUMBER", "VALUE_COLUMNS", "Batches", "read_batches"]

VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
#: data.binance.vision spot/futures kline CSV layout (headerless for spot).
_KLINE_TAIL = ("close_time", "quote_volume", "count", "taker_buy_base", "taker_buy_quote", "ignore")
BINANCE_KLINE_COLUMNS = ("open_time", *VALUE_COLUMNS, *_KLINE_TAIL)
NUMBER = re.compile(r"^\s*[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?\s*$")
_SUFFIXES = {".feather": "feather", ".arrow": "feather", ".ipc": "feather", ".parquet": "parquet", ".pq": "parquet"}
_SUFFIXES |= {".csv": "csv", ".txt": "csv", ".zip": "zip"}
_HEAD = 65_536
# 512 KiB of text per block (~5k kline rows), parsed on this thread: Arrow's pools grow with the block size
# and its read-ahead threads, and a bad row in a 200 MB file must not cost 200 MB (tested).
_CSV_BLOCK = 1 << 19
_PARQUET_BATCH = 65_536
_LABELS = {"feather": "Feather/Arrow", "parquet": "Parquet", "zip": "zip"}

#: Picks the columns to convert from the file's (stripped) column names; raises DataFileError if lacking.
Selector = Callable[[list[str]], list[str]]


@dataclass(frozen=True, slots=True)
class Batches:
    """Consecutive row blocks of the selected columns; ``first_line`` maps rows to CSV lines (None: binary)."""

    tables: Iterator[pa.Table]
    first_line: int | None


def read_batches(path: Path, select: Selector, max_bytes: int) -> Batches:
    """Open ``path`` for streaming; see the module docstring. Raises :class:`DataFileError`."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as e:
        raise DataFileError(path, f"cannot read file: {e.strerror or e}") from e
    if not head:
        raise DataFileError(path, "file is empty")
    _check_size(path, size, max_bytes)
    kind = _detect(path, head)
    try:
        if kind == "feather":
            return Batches(_guard(path, kind, _feather(path, select)), None)
        if kind == "parquet":
            return Batches(_guard(path, kind, _parquet(path, select)), None)
        if kind == "zip":
            return _zip(path, select, max_bytes)
        with path.open("rb") as fh:
            text_head = fh.read(_HEAD)
        return _csv(path, text_head, lambda: pa.input_stream(str(path)), select)
    except (pa.ArrowException, OSError, zipfile.BadZipFile) as e:
        raise DataFileError(path, f"not a valid {_LABELS.get(kind, 'CSV')} file ({e})") from e


def _check_size(path: Path, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DataFileError(
            path,
            f"file holds {size / 2**20:,.0f} MiB, above the {max_bytes / 2**20:,.0f} MiB limit for one candle "
            f"file; split it (by month or year) and import the parts",
        )


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


def _guard(path: Path, kind: str, tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Errors raised while streaming become one DataFileError line, like errors at open."""
    try:
        yield from tables
    except pa.ArrowInvalid as e:
        if kind == "csv":
            raise DataFileError(path, f"malformed CSV: {e}".replace("CSV parse error: ", "")) from e
        raise DataFileError(path, f"not a valid {_LABELS.get(kind, 'CSV')} file ({e})") from e
    except (pa.ArrowException, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataFileError(path, f"not a valid {_LABELS.get(kind, 'CSV')} file ({e})") from e


def _feather(path: Path, select: Selector) -> Iterator[pa.Table]:
    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
    except pa.ArrowInvalid:  # Feather V1 (pre-2020): no batches to stream; such files are small
        table = pa_feather.read_table(path)
        yield table.select(select(table.column_names))
        return
    columns = select(reader.schema.names)
    if reader.num_record_batches == 0:
        yield reader.schema.empty_table().select(columns)
    for i in range(reader.num_record_batches):
        yield pa.Table.from_batches([reader.get_batch(i).select(columns)])


def _parquet(path: Path, select: Selector) -> Iterator[pa.Table]:
    parquet = pa_parquet.ParquetFile(path)
    columns = select(parquet.schema_arrow.names)
    if parquet.metadata.num_rows == 0:
        yield parquet.schema_arrow.empty_table().select(columns)
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=columns):
        yield pa.Table.from_batches([batch])


def _zip(path: Path, select: Selector, max_bytes: int) -> Batches:
    """data.binance.vision ships one CSV per zip; its unpacked size counts against the limit."""
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) != 1:
            raise DataFileError(path, f"zip holds {len(infos)} files; expected exactly one CSV")
        _check_size(path, infos[0].file_size, max_bytes)
        with archive.open(infos[0]) as member:
            text_head = member.read(_HEAD)

    def reopen() -> pa.NativeFile:
        archive = zipfile.ZipFile(path)  # closed with the member: ZipExtFile keeps its own handle
        member = archive.open(infos[0])
        archive.close()
        return pa.PythonFile(member, mode="r")

    return _csv(path, text_head, reopen, select)


def _csv(path: Path, data: bytes, reopen: Callable[[], pa.NativeFile], select: Selector) -> Batches:
    """Check the header in the first block, then stream the whole file as text columns."""
    try:
        text_head = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if b"\x00" in data or e.start < len(data) - 4:
            raise DataFileError(path, "not a text CSV file (binary content)") from e
        text_head = data[: e.start].decode("utf-8")
    if "\x00" in text_head:
        raise DataFileError(path, "not a text CSV file (binary content)")
    first = next((row for row in csv.reader(io.StringIO(text_head.lstrip("\ufeff"))) if row), None)
    if first is None:
        raise DataFileError(path, "CSV has no rows")
    if NUMBER.match(first[0]):
        if len(first) != len(BINANCE_KLINE_COLUMNS):
            raise DataFileError(
                path,
                f"headerless CSV with {len(first)} columns; expected a header row "
                f"(date, open, high, low, close, volume) or the 12-column data.binance.vision kline layout",
            )
        raw_names = list(BINANCE_KLINE_COLUMNS)
        read = pa_csv.ReadOptions(column_names=raw_names, block_size=_CSV_BLOCK, use_threads=False)
        first_line = 1
    else:
        raw_names = first  # as Arrow will see them; the caller sees them stripped
        read = pa_csv.ReadOptions(block_size=_CSV_BLOCK, use_threads=False)
        first_line = 2
    stripped = [n.strip() for n in raw_names]
    if stripped and stripped[0].startswith("\ufeff"):
        stripped[0] = stripped[0].lstrip("\ufeff")
    wanted = select(stripped)
    raw_of = {s: r for s, r in zip(stripped, raw_names, strict=True)}
    convert = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(raw_names, pa.string()),
        null_values=[""],
        strings_can_be_null=True,
        include_columns=[raw_of[n] for n in wanted],
    )
    return Batches(_guard(path, "csv", _csv_tables(reopen, read, convert, wanted)), first_line)


def _csv_tables(
    reopen: Callable[[], pa.NativeFile], read: pa_csv.ReadOptions, convert: pa_csv.ConvertOptions, names: list[str]
) -> Iterator[pa.Table]:
    with reopen() as stream:
        reader = pa_csv.open_csv(stream, read_options=read, convert_options=convert)
        try:
            empty = True
            for batch in reader:
                empty = False
                yield pa.Table.from_batches([batch]).rename_columns(names)
            if empty:
                yield pa.table({n: pa.array([], pa.string()) for n in names})
        finally:
            reader.close()
