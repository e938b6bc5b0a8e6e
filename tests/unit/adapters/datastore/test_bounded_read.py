"""Candle files stream in: a big bad file is refused without being read whole, and checks hold across blocks.

The memory tests run the real ``thunes data import`` in a subprocess and read its peak RSS from
``wait4``; they compare it with the same command refusing a tiny file, so the interpreter's own
footprint cancels out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as pa_feather
import pyarrow.parquet as pa_parquet
import pytest

from thunes.adapters.datastore import readers
from thunes.adapters.datastore.loaders import DataFileError, load_ohlcv
from thunes.domain.market import Timeframe

T0_MS = 1_704_067_200_000
HOUR_MS = 3_600_000
HEADER = b"timestamp,open,high,low,close,volume\n"
THUNES = Path(sys.executable).with_name("thunes")


def _rows(start: int, stop: int, *, zero_price_at: int | None = None) -> bytes:
    rows = [f"{T0_MS + i * HOUR_MS},{0 if i == zero_price_at else 100},101,99,100.5,10\n" for i in range(start, stop)]
    return "".join(rows).encode()


def _peak_rss_mib(args: list[str], cwd: Path) -> tuple[int, str, int]:
    """Exit code, stderr and peak RSS (MiB) of ``thunes <args>``."""
    proc = subprocess.Popen([str(THUNES), *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, stderr, usage.ru_maxrss // 1024


def test_import_when_200mb_file_bad_early_then_refused_in_bounded_memory(tmp_path: Path) -> None:
    # Arrange: 2,000 good rows, a zero price, then ~200 MB of rows the loader must never hold
    big = tmp_path / "BIG_USDT-1h.csv"
    filler = _rows(3_000, 13_000)
    with big.open("wb") as fh:
        fh.write(HEADER + _rows(0, 2_000, zero_price_at=1_999))
        while fh.tell() < 200 * 2**20:
            fh.write(filler)
    tiny = tmp_path / "TINY_USDT-1h.csv"
    tiny.write_bytes(HEADER + _rows(0, 3, zero_price_at=2))

    # Act
    code, stderr, big_rss = _peak_rss_mib(["data", "import", str(big), "--store", "store"], tmp_path)
    _, _, tiny_rss = _peak_rss_mib(["data", "import", str(tiny), "--store", "store"], tmp_path)

    # Assert: reading the file whole (as before) costs its 200 MB and more; streaming costs a few blocks
    assert code == 2
    assert stderr.strip() == f"error: {big}: impossible candle at row 2000 (line 2001): open price 0.0 is not positive"
    assert big_rss - tiny_rss < 80, (big_rss, tiny_rss)
    assert not (tmp_path / "store").exists()
    big.unlink()


def test_import_when_2gib_file_then_refused_by_size_before_reading(tmp_path: Path) -> None:
    # Arrange: a sparse 2 GiB file (no disk used), the size of the example
    huge = tmp_path / "HUGE_USDT-1h.csv"
    with huge.open("wb") as fh:
        fh.write(HEADER)
        fh.truncate(2 * 2**30 + 1)
    tiny = tmp_path / "TINY_USDT-1h.csv"
    tiny.write_bytes(HEADER + _rows(0, 3, zero_price_at=2))

    # Act
    code, stderr, huge_rss = _peak_rss_mib(["data", "import", str(huge), "--store", "store"], tmp_path)
    _, _, tiny_rss = _peak_rss_mib(["data", "import", str(tiny), "--store", "store"], tmp_path)

    # Assert
    assert code == 2
    assert stderr.startswith(f"error: {huge}: file holds 2,048 MiB, above the 1,024 MiB limit"), stderr
    assert huge_rss - tiny_rss < 40, (huge_rss, tiny_rss)


def test_load_when_more_rows_than_limit_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT-1h.csv"
    path.write_bytes(HEADER + _rows(0, 50))

    with pytest.raises(DataFileError, match="more than 49 candles; split the file"):
        load_ohlcv(path, max_rows=49)
    assert len(load_ohlcv(path, max_rows=50)) == 50


def test_load_when_zip_unpacks_above_limit_then_refused_before_unpacking(tmp_path: Path) -> None:
    # Arrange: 3 MB of rows that deflate to a few KB
    path = tmp_path / "BTCUSDT-1h-2024-01.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-1h-2024-01.csv", HEADER + _rows(0, 1, zero_price_at=None) * 60_000)

    # Act / Assert
    with pytest.raises(DataFileError, match="above the 1 MiB limit"):
        load_ohlcv(path, max_bytes=2**20)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few rows, so that every check meets block boundaries."""
    monkeypatch.setattr(readers, "_CSV_BLOCK", 256)
    monkeypatch.setattr(readers, "_PARQUET_BATCH", 7)


def _columns(n: int) -> dict[str, np.ndarray]:
    times = T0_MS + HOUR_MS * np.arange(n, dtype=np.int64)
    price = 100.0 + np.arange(n)
    return {"timestamp": times, "open": price, "high": price + 1, "low": price - 1, "close": price, "volume": price}


def _write(kind: str, folder: Path, columns: dict[str, np.ndarray]) -> Path:
    path = folder / f"BTC_USDT-1h.{kind}"
    table = pa.table(columns)
    if kind == "csv":
        lines = [",".join(table.column_names)] + [",".join(map(repr, row.values())) for row in table.to_pylist()]
        path.write_text("\n".join(lines) + "\n")
    elif kind == "parquet":
        pa_parquet.write_table(table, path, row_group_size=11)
    else:
        pa_feather.write_feather(table, path, chunksize=9)
    return path


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("kind", ["csv", "parquet", "feather"])
def test_load_when_many_blocks_then_same_candles_as_the_columns(tmp_path: Path, kind: str) -> None:
    columns = _columns(200)

    candles = load_ohlcv(_write(kind, tmp_path, columns))

    assert (candles.timeframe, len(candles)) == (Timeframe.H1, 200)
    assert np.array_equal(candles.open_time_ns, columns["timestamp"] * 10**6)
    assert np.array_equal(candles.close, columns["close"])


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("kind", ["csv", "parquet", "feather"])
@pytest.mark.parametrize("at", [1, 6, 7, 8, 9, 10, 63, 64, 65, 150, 199])
@pytest.mark.parametrize(
    ("defect", "fragment"),
    [("duplicate", "duplicates the open time of row {at}"), ("zero", "impossible candle at row {row}")],
)
def test_load_when_defect_anywhere_then_its_row_named_across_blocks(
    tmp_path: Path, kind: str, at: int, defect: str, fragment: str
) -> None:
    # Arrange: row ``at`` (0-based) repeats the time of the row before it, or has a zero low
    columns = _columns(200)
    if defect == "duplicate":
        columns["timestamp"][at] = columns["timestamp"][at - 1]
    else:
        columns["low"][at] = 0.0
    path = _write(kind, tmp_path, columns)

    # Act
    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(path)

    # Assert
    assert fragment.format(at=at, row=at + 1) in str(excinfo.value)
    assert f"row {at + 1}" in str(excinfo.value)
