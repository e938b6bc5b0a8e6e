"""Loading candle files: every supported format, name inference, and one-line errors for bad files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as pa_feather
import pyarrow.parquet as pa_parquet
import pytest

from thunes.adapters.datastore.loaders import DataFileError, infer_symbol_timeframe, load_ohlcv
from thunes.domain.market import Timeframe

H = 3_600 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
HEADER = "timestamp,open,high,low,close,volume\n"


def _ohlcv_rows(n: int) -> list[str]:
    """``n`` hourly rows from 2024-01-01 as ISO text, prices 100+i."""
    return [f"2024-01-01T{i:02d}:00:00Z,{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i}" for i in range(n)]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _assert_one_line_error(excinfo: pytest.ExceptionInfo[DataFileError], path: Path, *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope="module")
def marketlab_btc_1h(shared_data: Path) -> Path:
    return shared_data / "binance" / "ohlcv" / "marketlab_2024-09_2026-02" / "BTC_USDT-1h.feather"


@pytest.fixture(scope="module")
def adabtc_csv(shared_data: Path) -> Path:
    return shared_data / "binance" / "nautilus_test_data" / "ADABTC-1m-2021-11-27.csv"


def test_load_when_freqtrade_feather_then_every_row_with_names_from_file(marketlab_btc_1h: Path) -> None:
    # Arrange
    raw = pa_feather.read_table(marketlab_btc_1h)

    # Act
    candles = load_ohlcv(marketlab_btc_1h)

    # Assert
    assert len(candles) == 12_556
    assert (candles.symbol, candles.timeframe) == ("BTCUSDT", Timeframe.H1)
    assert candles.open_time_ns[0] == 1_726_272_000 * 10**9  # 2024-09-14T00:00Z
    assert np.array_equal(candles.open_time_ns, raw.column("date").cast(pa.int64()).to_numpy())
    assert np.array_equal(candles.close, raw.column("close").to_numpy())
    assert np.array_equal(candles.volume, raw.column("volume").to_numpy())


def test_load_when_binance_vision_kline_csv_then_ms_times_become_ns(adabtc_csv: Path) -> None:
    # Act
    candles = load_ohlcv(adabtc_csv)

    # Assert
    assert (candles.symbol, candles.timeframe, len(candles)) == ("ADABTC", Timeframe.M1, 10)
    assert candles.open_time_ns[0] == 1_637_971_200_000 * 10**6
    assert np.all(np.diff(candles.open_time_ns) == 60 * 10**9)
    assert (candles.open[0], candles.high[0], candles.low[0], candles.close[0]) == (
        0.00002853,
        0.00002854,
        0.00002851,
        0.00002854,
    )
    assert candles.volume[0] == 36304.2


def test_load_when_binance_vision_uses_microseconds_then_same_times_as_ms(adabtc_csv: Path, tmp_path: Path) -> None:
    # Arrange: the 2025+ spot dumps carry open/close times in microseconds
    lines = adabtc_csv.read_text().splitlines()
    as_us = [
        ",".join([str(int(f[0]) * 1000), *f[1:6], str(int(f[6]) * 1000), *f[7:]]) for f in (x.split(",") for x in lines)
    ]
    path = _write(tmp_path / "ADABTC-1m-2025-01-01.csv", "\n".join(as_us) + "\n")

    # Act
    candles = load_ohlcv(path)

    # Assert
    assert np.array_equal(candles.open_time_ns, load_ohlcv(adabtc_csv).open_time_ns)


def test_load_when_binance_vision_zip_then_reads_the_csv_inside(adabtc_csv: Path, tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "ADABTC-1m-2021-11-27.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(adabtc_csv, adabtc_csv.name)

    # Act
    candles = load_ohlcv(path)

    # Assert
    assert np.array_equal(candles.close, load_ohlcv(adabtc_csv).close)


@pytest.mark.parametrize(
    ("order", "fragments"),
    [
        ((3, 0, 4, 1, 2), ("row 2 (line 3)", "goes back in time from row 1 (line 2)", "sorted")),
        ((0, 1, 1, 2), ("row 3 (line 4)", "duplicates the open time of row 2 (line 3)")),
    ],
    ids=["unsorted", "exact-duplicate"],
)
def test_load_when_csv_unsorted_or_duplicated_then_refused_naming_the_row(
    tmp_path: Path, order: tuple[int, ...], fragments: tuple[str, ...]
) -> None:
    # Arrange: a file out of order is two files pasted together or a corrupt copy; sorting it would hide that
    rows = _ohlcv_rows(5)
    path = _write(tmp_path / "ETH_USDT-1h.csv", HEADER + "\n".join(rows[i] for i in order))

    # Act
    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(path)

    # Assert
    _assert_one_line_error(excinfo, path, *fragments)


def test_load_when_csv_with_header_then_rows_in_order(tmp_path: Path) -> None:
    # Arrange
    path = _write(tmp_path / "ETH_USDT-1h.csv", HEADER + "\n".join(_ohlcv_rows(5)))

    # Act
    candles = load_ohlcv(path)

    # Assert
    assert (candles.symbol, candles.timeframe) == ("ETHUSDT", Timeframe.H1)
    assert list(candles.open_time_ns) == [T0 + i * H for i in range(5)]
    assert list(candles.open) == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert list(candles.volume) == [10.0, 11.0, 12.0, 13.0, 14.0]


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000, 1_000_000_000], ids=["s", "ms", "us", "ns"])
def test_load_when_csv_epoch_in_any_unit_then_ns(tmp_path: Path, scale: int) -> None:
    # Arrange
    seconds = [T0 // 10**9 + i * 3600 for i in range(3)]
    body = "".join(f"{s * scale},1,2,0.5,1.5,3\n" for s in seconds)
    path = _write(tmp_path / "BTCUSDT-1h.csv", "open_time,open,high,low,close,volume\n" + body)

    # Act
    candles = load_ohlcv(path)

    # Assert
    assert list(candles.open_time_ns) == [T0, T0 + H, T0 + 2 * H]


def test_load_when_csv_iso_times_mix_zone_styles_then_naive_is_utc(tmp_path: Path) -> None:
    # Arrange
    body = "2024-01-01 00:00:00,1,2,0.5,1.5,3\n2024-01-01T02:00:00+01:00,1,2,0.5,1.5,3\n"
    path = _write(tmp_path / "x.csv", "Date,Open,High,Low,Close,Volume\n" + body)

    # Act
    candles = load_ohlcv(path, symbol="btc/usdt", timeframe=Timeframe.H1)

    # Assert
    assert candles.symbol == "BTCUSDT"
    assert list(candles.open_time_ns) == [T0, T0 + H]


def test_load_when_parquet_with_freqtrade_columns_then_loads(tmp_path: Path) -> None:
    # Arrange
    table = pa.table(
        {
            "date": pa.array([T0, T0 + H], pa.timestamp("ns", tz="UTC")),
            **{c: pa.array([1.0, 2.0]) for c in ("open", "high", "low", "close", "volume")},
        }
    )
    path = tmp_path / "SOL_USDT-1h.parquet"
    pa_parquet.write_table(table, path)

    # Act
    candles = load_ohlcv(path)

    # Assert
    assert (candles.symbol, len(candles)) == ("SOLUSDT", 2)
    assert list(candles.open_time_ns) == [T0, T0 + H]
    assert list(candles.close) == [1.0, 2.0]


def test_load_when_parquet_in_store_layout_then_names_from_partition_path(tmp_path: Path) -> None:
    # Arrange
    folder = tmp_path / "venue=binance" / "symbol=ETHUSDT" / "timeframe=5m" / "month=2024-01"
    folder.mkdir(parents=True)
    step = 5 * 60 * 10**9
    table = (
        pa.table(
            {"open_time_ns": pa.array([T0, T0 + step], pa.int64()), **{c: [1.0, 1.0] for c in ("open", "high", "low")}}
        )
        .append_column("close", pa.array([1.0, 1.0]))
        .append_column("volume", pa.array([5.0, 6.0]))
    )
    pa_parquet.write_table(table, folder / "data.parquet")

    # Act
    candles = load_ohlcv(folder / "data.parquet")

    # Assert
    assert (candles.symbol, candles.timeframe) == ("ETHUSDT", Timeframe.M5)
    assert list(candles.open_time_ns) == [T0, T0 + step]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTC_USDT-1h.feather", ("BTCUSDT", Timeframe.H1)),
        ("ADABTC-1m-2021-11-27.csv", ("ADABTC", Timeframe.M1)),
        ("ETHUSDT-5m-2024-01.zip", ("ETHUSDT", Timeframe.M5)),
        ("BTC_USDT_USDT-4h-futures.feather", ("BTCUSDT", Timeframe.H4)),
        ("BTC_USDT-1w.feather", ("BTCUSDT", None)),
        ("candles.csv", (None, None)),
    ],
)
def test_infer_symbol_timeframe_when_named_file_then_parts(
    name: str, expected: tuple[str | None, Timeframe | None]
) -> None:
    assert infer_symbol_timeframe(Path("/any/dir") / name) == expected


def test_load_when_timeframe_cannot_be_inferred_then_error_says_to_pass_it(tmp_path: Path) -> None:
    # Arrange
    path = _write(tmp_path / "candles.csv", HEADER + "\n".join(_ohlcv_rows(2)))

    # Act
    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(path, symbol="BTCUSDT")

    # Assert
    _assert_one_line_error(excinfo, path, "cannot infer the timeframe from the file name", "pass the timeframe")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("BTC_USDT-1h.feather", "not a valid Feather/Arrow file"),
        ("BTC_USDT-1h.parquet", "not a valid Parquet file"),
        ("BTC_USDT-1h.csv", "not a text CSV file"),
        ("BTC_USDT-1h.bin", "unknown format"),
    ],
)
def test_load_when_garbage_bytes_then_one_line_error(tmp_path: Path, name: str, fragment: str) -> None:
    # Arrange
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 8)

    # Act
    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(path)

    # Assert
    _assert_one_line_error(excinfo, path, fragment)


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ("timestamp,open,high,low,close\n2024-01-01T00:00:00Z,1,2,0.5,1.5\n", ("missing column 'volume'",)),
        ("open,high,low,close,volume\n1,2,0.5,1.5,3\n", ("missing time column",)),
        (HEADER + "\n".join([*_ohlcv_rows(2), "2024-01-01T02:00:00Z,1,2,0.5,abc,3"]), ("row 3", "'abc'", "'close'")),
        (
            HEADER + "\n".join([*_ohlcv_rows(2), "2024-01-01T01:00:00Z,1,2,0.5,1.5,3"]),
            ("duplicates the open time", "row 3"),
        ),
        (HEADER + "2024-01-01T00:00:00Z,1,2,0.5,nan,3\n", ("NaN", "'close'")),
        (HEADER + "2024-01-01T00:00:00Z,1,2,0.5,,3\n", ("missing value", "'close'", "row 1")),
        (HEADER + "yesterday,1,2,0.5,1.5,3\n", ("row 1", "bad time 'yesterday'")),
        (HEADER + "2024-01-01T00:00:00Z,1,2,0.5,1.5,3,7\n", ("malformed CSV", "Expected 6 columns")),
        ("1637971200000,1,2,0.5,1.5,3\n", ("headerless CSV with 6 columns",)),
        (HEADER + "2024-01-01T00:30:00Z,1,2,0.5,1.5,3\n", ("not on the 1h grid",)),
        (HEADER, ("no candles",)),
    ],
    ids=[
        "missing-column",
        "no-time-column",
        "non-numeric",
        "conflicting-duplicate",
        "nan",
        "empty-value",
        "bad-time",
        "ragged-row",
        "headerless-wrong-width",
        "off-grid",
        "no-rows",
    ],
)
def test_load_when_malformed_csv_then_one_line_error_naming_problem(
    tmp_path: Path, body: str, fragments: tuple[str, ...]
) -> None:
    # Arrange
    path = _write(tmp_path / "BTC_USDT-1h.csv", body)

    # Act
    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(path)

    # Assert
    _assert_one_line_error(excinfo, path, *fragments)


def test_load_when_file_missing_then_error_says_not_found(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT-1h.feather"

    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(path)

    _assert_one_line_error(excinfo, path, "file not found")


def test_load_when_timeframe_wrong_for_real_file_then_grid_error(adabtc_csv: Path) -> None:
    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(adabtc_csv, timeframe=Timeframe.H1)

    _assert_one_line_error(excinfo, adabtc_csv, "not on the 1h grid", "line 2")


def test_load_when_symbol_and_timeframe_given_then_any_file_name_works(tmp_path: Path) -> None:
    path = _write(tmp_path / "candles.csv", HEADER + "\n".join(_ohlcv_rows(2)))

    candles = load_ohlcv(path, symbol="eth-usdt", timeframe=Timeframe.H1)

    assert (candles.symbol, candles.timeframe, len(candles)) == ("ETHUSDT", Timeframe.H1, 2)


def test_load_when_excel_csv_with_bom_and_crlf_then_loads(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT-1h.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n".join(_ohlcv_rows(2)) + "\n").replace("\n", "\r\n").encode())

    candles = load_ohlcv(path)

    assert list(candles.open_time_ns) == [T0, T0 + H]
    assert list(candles.volume) == [10.0, 11.0]


@pytest.mark.parametrize("timeframe", [Timeframe.M5, Timeframe.M30])
def test_load_when_real_1h_file_read_as_shorter_timeframe_then_refused(
    marketlab_btc_1h: Path, timeframe: Timeframe
) -> None:
    # Every 1h open time is also on the 5m grid: only the spacing tells (a backtest reported +536,815,214 %/year)
    with pytest.raises(DataFileError) as excinfo:
        load_ohlcv(marketlab_btc_1h, timeframe=timeframe)

    _assert_one_line_error(excinfo, marketlab_btc_1h, "at least 1h apart", f"timeframe is {timeframe.value}")


def test_load_when_gaps_between_candles_then_spacing_still_the_timeframe(tmp_path: Path) -> None:
    rows = _ohlcv_rows(12)
    path = _write(tmp_path / "BTC_USDT-1h.csv", HEADER + "\n".join([rows[0], rows[1], rows[5], rows[11]]))

    candles = load_ohlcv(path)

    assert list(candles.open_time_ns) == [T0, T0 + H, T0 + 5 * H, T0 + 11 * H]
