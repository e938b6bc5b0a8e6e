"""``thunes data``: import, list and gaps through the real CLI, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pa_parquet
import pytest
from typer.testing import CliRunner, Result

from thunes.adapters.datastore.store import ParquetStore
from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.app.cli.data import _store_root, data_app
from thunes.domain.market import Timeframe

runner = CliRunner()


@pytest.fixture(scope="module")
def marketlab_btc_1h(shared_data: Path) -> Path:
    return shared_data / "binance" / "ohlcv" / "marketlab_2024-09_2026-02" / "BTC_USDT-1h.feather"


def _synthetic_file(folder: Path, holes: tuple[int, ...] = ()) -> Path:
    """300 synthetic hourly SYNUSDT candles in the store's own Parquet schema, minus ``holes``."""
    candles = generate_ohlcv("SYNUSDT", Timeframe.H1, 300, seed=11)
    keep = np.ones(len(candles), dtype=bool)
    keep[list(holes)] = False
    columns = ("open_time_ns", "open", "high", "low", "close", "volume")
    path = folder / "SYN_USDT-1h.parquet"
    pa_parquet.write_table(pa.table({c: getattr(candles, c)[keep] for c in columns}), path)
    return path


def _assert_one_line_error(result: Result, *fragments: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_import_when_real_and_synthetic_files_then_stored_and_table_printed(
    tmp_path: Path, marketlab_btc_1h: Path
) -> None:
    # Arrange
    store = tmp_path / "store"
    synthetic = _synthetic_file(tmp_path)

    # Act
    result = runner.invoke(data_app, ["import", str(marketlab_btc_1h), str(synthetic), "--store", str(store)])

    # Assert
    assert result.exit_code == 0, result.stderr
    assert "12556" in result.stdout
    assert "12856" in result.stdout  # total rows written
    assert "SYNUSDT" in result.stdout
    entries = ParquetStore(store).list()
    assert [(e.symbol, e.timeframe, e.rows) for e in entries] == [
        ("BTCUSDT", Timeframe.H1, 12_556),
        ("SYNUSDT", Timeframe.H1, 300),
    ]


def test_import_when_run_twice_then_second_run_adds_nothing(tmp_path: Path) -> None:
    # Arrange
    store, synthetic = tmp_path / "store", _synthetic_file(tmp_path)
    runner.invoke(data_app, ["import", str(synthetic), "--store", str(store)])
    before = ParquetStore(store).read("binance", "SYNUSDT", Timeframe.H1)

    # Act
    result = runner.invoke(data_app, ["import", str(synthetic), "--store", str(store)])

    # Assert
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if "SYNUSDT" in line)
    assert [cell.strip() for cell in row.split("│")[4:6]] == ["300", "0"]  # written, new
    after = ParquetStore(store).read("binance", "SYNUSDT", Timeframe.H1)
    assert np.array_equal(after.close, before.close)


def test_import_when_symbol_and_timeframe_given_then_used_for_any_name(tmp_path: Path) -> None:
    # Arrange
    store = tmp_path / "store"
    renamed = _synthetic_file(tmp_path).rename(tmp_path / "candles.parquet")

    # Act
    result = runner.invoke(
        data_app,
        [
            "import",
            str(renamed),
            "--venue",
            "kraken",
            "--symbol",
            "XBT/USDT",
            "--timeframe",
            "1h",
            "--store",
            str(store),
        ],
    )

    # Assert
    assert result.exit_code == 0, result.stderr
    assert [(e.venue, e.symbol) for e in ParquetStore(store).list()] == [("kraken", "XBTUSDT")]


def test_list_when_store_has_series_then_table_with_extent(tmp_path: Path) -> None:
    # Arrange
    store = tmp_path / "store"
    runner.invoke(data_app, ["import", str(_synthetic_file(tmp_path)), "--store", str(store)])

    # Act
    result = runner.invoke(data_app, ["list", "--store", str(store)])

    # Assert
    assert result.exit_code == 0
    assert "SYNUSDT" in result.stdout
    assert "300" in result.stdout
    assert "2024-01-01 00:00" in result.stdout
    assert "2024-01-13 11:00" in result.stdout  # open of candle 299


def test_list_when_store_empty_then_says_so(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    result = runner.invoke(data_app, ["list", "--store", str(tmp_path / "store")])

    assert result.exit_code == 0
    assert "empty" in result.stdout


def test_list_when_store_missing_then_one_line_error_and_nothing_created(tmp_path: Path) -> None:
    result = runner.invoke(data_app, ["list", "--store", str(tmp_path / "typo")])

    _assert_one_line_error(result, "no candle store at")
    assert not (tmp_path / "typo").exists()


def test_gaps_when_real_data_then_no_gaps(tmp_path: Path, marketlab_btc_1h: Path) -> None:
    # Arrange
    store = tmp_path / "store"
    runner.invoke(data_app, ["import", str(marketlab_btc_1h), "--store", str(store)])

    # Act
    result = runner.invoke(data_app, ["gaps", "binance", "BTCUSDT", "1h", "--store", str(store)])

    # Assert
    assert result.exit_code == 0
    assert "no gaps" in result.stdout


def test_gaps_when_holes_then_table_lists_each(tmp_path: Path) -> None:
    # Arrange
    store = tmp_path / "store"
    runner.invoke(data_app, ["import", str(_synthetic_file(tmp_path, holes=(5, 100, 101))), "--store", str(store)])

    # Act
    result = runner.invoke(data_app, ["gaps", "binance", "synusdt", "1h", "--store", str(store)])

    # Assert
    assert result.exit_code == 0
    assert "2024-01-01 05:00" in result.stdout
    assert "2024-01-05 04:00" in result.stdout  # candle 100
    assert "2024-01-05 05:00" in result.stdout  # candle 101
    assert "2 gaps, 3 missing candles" in result.stdout


def test_import_when_file_missing_then_exit_2_and_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "BTC_USDT-1h.feather"

    result = runner.invoke(data_app, ["import", str(missing), "--store", str(tmp_path / "store")])

    _assert_one_line_error(result, str(missing), "file not found")
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("BTC_USDT-1h.feather", b"\x00garbage\xff" * 50, "not a valid Feather/Arrow file"),
        ("BTC_USDT-1h.csv", b"timestamp,open,high,low,close\n2024-01-01T00:00:00Z,1,2,0.5,1\n", "missing column"),
        ("candles.csv", b"timestamp,open,high,low,close,volume\n", "pass the symbol and timeframe"),
    ],
)
def test_import_when_file_malformed_then_exit_2_and_one_error_line(
    tmp_path: Path, name: str, content: bytes, fragment: str
) -> None:
    # Arrange
    bad = tmp_path / name
    bad.write_bytes(content)

    # Act
    result = runner.invoke(data_app, ["import", str(bad), "--store", str(tmp_path / "store")])

    # Assert
    _assert_one_line_error(result, str(bad), fragment)


def test_import_when_timeframe_unknown_then_exit_2(tmp_path: Path) -> None:
    store = tmp_path / "store"

    result = runner.invoke(
        data_app, ["import", str(_synthetic_file(tmp_path)), "--timeframe", "7h", "--store", str(store)]
    )

    _assert_one_line_error(result, "unknown timeframe '7h'")
    assert not store.exists()


def test_gaps_when_series_absent_then_exit_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    result = runner.invoke(data_app, ["gaps", "binance", "ETHUSDT", "1h", "--store", str(tmp_path / "store")])

    _assert_one_line_error(result, "binance/ETHUSDT/1h")


def test_store_root_when_not_given_then_default_relative_path() -> None:
    assert _store_root(None) == Path("data/store")
    assert _store_root(Path("/x")) == Path("/x")


def test_cli_process_when_file_malformed_then_no_traceback_on_real_stderr(tmp_path: Path) -> None:
    # Arrange: a real process, so nothing is hidden by the test runner
    bad = tmp_path / "BTC_USDT-1h.parquet"
    bad.write_bytes(b"not parquet at all")
    code = "from thunes.app.cli.data import data_app; data_app()"

    # Act
    done = subprocess.run(
        [sys.executable, "-c", code, "import", str(bad), "--store", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Assert
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {bad}: not a valid Parquet file")
    assert "Traceback" not in done.stderr


def _revised_file(folder: Path, rows: slice, scale: float, name: str = "SYN_USDT-1h-revised.parquet") -> Path:
    """Candles ``rows`` of :func:`_synthetic_file`, with volumes scaled by ``scale`` (1.0: identical)."""
    candles = generate_ohlcv("SYNUSDT", Timeframe.H1, 300, seed=11)
    columns = {c: getattr(candles, c)[rows] for c in ("open_time_ns", "open", "high", "low", "close", "volume")}
    columns["volume"] = columns["volume"] * scale
    path = folder / name
    pa_parquet.write_table(pa.table(columns), path)
    return path


def _store_bytes(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}


def test_import_when_overlap_identical_then_idempotent_no_op(tmp_path: Path) -> None:
    # Arrange
    store = tmp_path / "store"
    runner.invoke(data_app, ["import", str(_synthetic_file(tmp_path)), "--store", str(store)])
    before = _store_bytes(store)

    # Act
    result = runner.invoke(
        data_app, ["import", str(_revised_file(tmp_path, slice(100, 200), 1.0)), "--store", str(store)]
    )

    # Assert
    assert result.exit_code == 0, result.stderr
    assert _store_bytes(store) == before


def test_import_when_overlap_differs_then_refused_naming_time_and_field_nothing_written(tmp_path: Path) -> None:
    # Arrange: the revision also brings 50 new candles, which must not be written either
    store = tmp_path / "store"
    runner.invoke(
        data_app, ["import", str(_synthetic_file(tmp_path, holes=tuple(range(250, 300)))), "--store", str(store)]
    )
    before = _store_bytes(store)
    revised = _revised_file(tmp_path, slice(100, 300), 2.0)

    # Act
    result = runner.invoke(data_app, ["import", str(revised), "--store", str(store)])

    # Assert
    _assert_one_line_error(result, str(revised), "150 candles differ", "2024-01-05T04:00:00Z", "volume", "--replace")
    assert _store_bytes(store) == before


def test_import_when_replace_then_overwrites_and_reports_replaced_count(tmp_path: Path) -> None:
    # Arrange
    store = tmp_path / "store"
    runner.invoke(data_app, ["import", str(_synthetic_file(tmp_path)), "--store", str(store)])
    revised = _revised_file(tmp_path, slice(100, 110), 2.0)

    # Act
    result = runner.invoke(data_app, ["import", str(revised), "--replace", "--store", str(store)])

    # Assert
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "SYNUSDT" in line)
    assert [cell.strip() for cell in row.split("│")[4:7]] == ["10", "0", "10"]  # written, new, replaced
    stored = ParquetStore(store).read("binance", "SYNUSDT", Timeframe.H1)
    original = generate_ohlcv("SYNUSDT", Timeframe.H1, 300, seed=11)
    assert np.array_equal(stored.volume[100:110], original.volume[100:110] * 2)
    assert np.array_equal(stored.volume[:100], original.volume[:100])


def test_import_when_two_files_disagree_then_refused_and_first_file_not_written_either(tmp_path: Path) -> None:
    # Arrange
    store = tmp_path / "store"
    first = _synthetic_file(tmp_path)
    second = _revised_file(tmp_path, slice(0, 10), 3.0)

    # Act
    result = runner.invoke(data_app, ["import", str(first), str(second), "--store", str(store)])

    # Assert
    _assert_one_line_error(result, str(second), f"disagrees with {first}", "10 candles differ", "volume")
    assert not store.exists() or not any(store.rglob("*.parquet"))
