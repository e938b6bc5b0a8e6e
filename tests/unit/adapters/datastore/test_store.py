"""The partitioned Parquet store: idempotent merges, layout on disk, range reads, listing and gaps."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pa_parquet
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thunes.adapters.datastore.loaders import load_ohlcv
from thunes.adapters.datastore.store import DataConflictError, DataStoreError, Gap, ParquetStore
from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV

H = Timeframe.H1.nanoseconds
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
COLUMNS = ("open_time_ns", "open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def candles() -> OHLCV:
    """1,500 hourly candles from 2024-01-01: January, February and part of March."""
    return generate_ohlcv("BTCUSDT", Timeframe.H1, 1_500, seed=7)


@pytest.fixture
def store(tmp_path: Path) -> ParquetStore:
    return ParquetStore(tmp_path / "store")


def _assert_same(a: OHLCV, b: OHLCV) -> None:
    for column in COLUMNS:
        assert np.array_equal(getattr(a, column), getattr(b, column)), column


def _drop(candles: OHLCV, rows: list[int]) -> OHLCV:
    keep = np.ones(len(candles), dtype=bool)
    keep[rows] = False
    return OHLCV.from_arrays(candles.symbol, candles.timeframe, *(getattr(candles, c)[keep] for c in COLUMNS))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_write_when_months_overlap_then_no_duplicates_and_no_missing_candle(
    store: ParquetStore, candles: OHLCV
) -> None:
    # Act
    first = store.write("binance", candles.slice(0, 1_000))
    second = store.write("binance", candles.slice(500, 1_500))
    third = store.write("binance", candles.slice(500, 1_500))

    # Assert
    assert (first.rows_written, first.rows_new) == (1_000, 1_000)
    assert (second.rows_written, second.rows_new) == (1_000, 500)
    assert (third.rows_written, third.rows_new) == (1_000, 0)
    assert second.months == ("2024-01", "2024-02", "2024-03")
    _assert_same(store.read("binance", "BTCUSDT", Timeframe.H1), candles)


def test_write_when_same_candles_twice_then_nothing_changes_on_disk(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange
    store.write("binance", candles)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.root.rglob("*.parquet")}

    # Act
    result = store.write("binance", candles)

    # Assert
    assert result.rows_new == 0
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.root.rglob("*.parquet")} == before


def test_write_when_stored_candles_differ_then_refused_and_nothing_changes(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange: a revision spanning January and February, plus new candles after the stored ones
    store.write("binance", candles.slice(0, 1_400))
    before = {p: p.read_bytes() for p in store.root.rglob("*.parquet")}
    revised = candles.slice(700, 1_500)
    revised = dataclasses.replace(revised, volume=np.concatenate([revised.volume[:600] * 2, revised.volume[600:]]))

    # Act
    with pytest.raises(DataConflictError) as excinfo:
        store.write("binance", revised)

    # Assert: the first differing open time, the differing field, the count; no file touched
    message = str(excinfo.value)
    assert excinfo.value.conflict.count == 600
    assert excinfo.value.conflict.open_time_ns == int(candles.open_time_ns[700])
    assert "2024-01-30T04:00:00Z" in message
    assert "volume" in message and "close" not in message
    assert store.check("binance", revised) == excinfo.value.conflict
    assert {p: p.read_bytes() for p in store.root.rglob("*.parquet")} == before


def test_write_when_replace_then_incoming_values_win_and_count_reported(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange
    store.write("binance", candles)
    original = candles.slice(100, 110)
    revised = dataclasses.replace(original, volume=original.volume * 2)

    # Act
    result = store.write("binance", revised, replace=True)

    # Assert
    stored = store.read("binance", "BTCUSDT", Timeframe.H1)
    assert (result.rows_new, result.rows_replaced) == (0, 10)
    assert np.array_equal(stored.volume[100:110], candles.volume[100:110] * 2)
    assert np.array_equal(stored.volume[:100], candles.volume[:100])
    assert len(stored) == len(candles)
    assert store.check("binance", revised) is None


def test_write_when_overlap_identical_then_no_op_even_with_replace(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange
    store.write("binance", candles)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.root.rglob("*.parquet")}

    # Act
    result = store.write("binance", candles.slice(200, 900), replace=True)

    # Assert
    assert (result.rows_new, result.rows_replaced) == (0, 0)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.root.rglob("*.parquet")} == before


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [("low", 0.0, "low price 0.0 is not positive"), ("high", 1.0, "below low"), ("volume", -1.0, "negative")],
)
def test_write_or_read_when_impossible_candle_then_refused(
    store: ParquetStore, candles: OHLCV, column: str, value: float, fragment: str
) -> None:
    # Arrange
    bad = dataclasses.replace(candles, **{column: getattr(candles, column).copy()})
    getattr(bad, column)[5] = value
    store.write("binance", candles.slice(0, 10))
    partition = next(store.root.rglob("data.parquet"))
    table = pa_parquet.read_table(partition)
    index = table.schema.get_field_index(column)
    pa_parquet.write_table(table.set_column(index, column, pa.array(getattr(bad, column)[:10])), partition)

    # Act / Assert: a store never hands out what a loader would refuse, whoever wrote the file
    with pytest.raises(DataStoreError, match=fragment):
        store.write("binance", bad)
    with pytest.raises(DataStoreError, match=fragment):
        store.read("binance", "BTCUSDT", Timeframe.H1)


def test_write_then_layout_is_one_zstd_file_per_month(store: ParquetStore, candles: OHLCV) -> None:
    # Act
    store.write("binance", candles)

    # Assert
    series = "venue=binance/symbol=BTCUSDT/timeframe=1h"
    assert _files(store.root) == {f"{series}/month={m}/data.parquet" for m in ("2024-01", "2024-02", "2024-03")}
    january = pa_parquet.ParquetFile(store.root / series / "month=2024-01" / "data.parquet")
    assert january.schema_arrow == pa.schema([("open_time_ns", pa.int64())] + [(c, pa.float64()) for c in COLUMNS[1:]])
    assert january.metadata.num_rows == 31 * 24
    assert january.metadata.row_group(0).column(0).compression == "ZSTD"


def test_write_when_writer_crashes_midway_then_old_file_intact_and_no_temp_left(
    store: ParquetStore, candles: OHLCV, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    store.write("binance", candles.slice(0, 100))
    january = next(store.root.rglob("month=2024-01/data.parquet"))
    before = january.read_bytes()

    def half_write_then_crash(table: pa.Table, where: object, **kwargs: object) -> None:
        where.write(b"PAR1 half a file")  # type: ignore[attr-defined]
        raise OSError("No space left on device")

    monkeypatch.setattr(pa_parquet, "write_table", half_write_then_crash)  # the vendor call, not our code

    # Act
    with pytest.raises(OSError, match="No space left"):
        store.write("binance", candles.slice(50, 200))

    # Assert
    assert january.read_bytes() == before
    assert [p.name for p in january.parent.iterdir()] == ["data.parquet"]


def test_read_when_time_range_then_half_open_interval_across_months(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange
    store.write("binance", candles)
    start, end = T0 + 740 * H, T0 + 760 * H  # straddles 2024-02-01T00:00Z (row 744)

    # Act
    window = store.read("binance", "BTCUSDT", Timeframe.H1, start_ns=start, end_ns=end)

    # Assert
    _assert_same(window, candles.slice(740, 760))
    assert len(store.read("binance", "BTCUSDT", Timeframe.H1, end_ns=T0 + 3 * H)) == 3
    assert len(store.read("binance", "BTCUSDT", Timeframe.H1, start_ns=T0 + 1_497 * H)) == 3
    assert len(store.read("binance", "BTCUSDT", Timeframe.H1, start_ns=0, end_ns=T0)) == 0


def test_read_when_series_absent_then_error_names_it(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange
    store.write("binance", candles.slice(0, 10))

    # Act
    with pytest.raises(DataStoreError) as excinfo:
        store.read("binance", "ETHUSDT", Timeframe.H1)

    # Assert
    assert "binance/ETHUSDT/1h" in str(excinfo.value)
    assert str(store.root) in str(excinfo.value)


@pytest.mark.parametrize("venue", ["../evil", "Binance", "", "a/b"])
def test_write_when_venue_is_not_a_plain_name_then_refused(store: ParquetStore, candles: OHLCV, venue: str) -> None:
    with pytest.raises(DataStoreError, match="invalid venue"):
        store.write(venue, candles.slice(0, 1))
    assert not store.root.exists()


def test_write_when_open_time_off_the_grid_then_refused(store: ParquetStore) -> None:
    shifted = generate_ohlcv(n=3, start_ns=T0 + 60 * 10**9)

    with pytest.raises(DataStoreError, match="not on the 1h grid"):
        store.write("binance", shifted)


def test_list_when_two_series_then_rows_and_extent_of_each(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange
    store.write("binance", candles)
    store.write("kraken", generate_ohlcv("ETHUSDT", Timeframe.M5, 100, start_ns=T0 + 12 * H))

    # Act
    entries = store.list()

    # Assert
    assert [(e.venue, e.symbol, e.timeframe, e.rows) for e in entries] == [
        ("binance", "BTCUSDT", Timeframe.H1, 1_500),
        ("kraken", "ETHUSDT", Timeframe.M5, 100),
    ]
    assert (entries[0].first_open_ns, entries[0].last_open_ns) == (T0, T0 + 1_499 * H)
    assert entries[1].last_open_ns == T0 + 12 * H + 99 * Timeframe.M5.nanoseconds


def test_list_when_store_absent_then_empty(tmp_path: Path) -> None:
    assert ParquetStore(tmp_path / "nothing-here").list() == []


def test_gaps_when_holes_cut_then_each_reported_with_its_extent(store: ParquetStore, candles: OHLCV) -> None:
    # Arrange: one single missing candle, and a run of three that crosses the January/February boundary
    store.write("binance", _drop(candles, [10, 742, 743, 744]))

    # Act
    gaps = store.gaps("binance", "BTCUSDT", Timeframe.H1)

    # Assert
    assert gaps == [Gap(T0 + 10 * H, T0 + 10 * H, 1), Gap(T0 + 742 * H, T0 + 744 * H, 3)]


@settings(max_examples=25, deadline=None)
@given(holes=st.sets(st.integers(min_value=1, max_value=198), max_size=40))
def test_gaps_when_random_holes_then_gaps_cover_exactly_the_missing_candles(holes: set[int]) -> None:
    # Arrange
    candles = generate_ohlcv(n=200, seed=1)
    with tempfile.TemporaryDirectory() as root:
        store = ParquetStore(Path(root))
        store.write("binance", _drop(candles, sorted(holes)))

        # Act
        gaps = store.gaps("binance", "BTCUSDT", Timeframe.H1)

    # Assert
    covered = {t for g in gaps for t in range(g.start_ns, g.end_ns + H, H)}
    assert covered == {T0 + i * H for i in holes}
    assert sum(g.missing for g in gaps) == len(holes)
    assert all(g.missing == (g.end_ns - g.start_ns) // H + 1 for g in gaps)


def test_real_data_when_round_tripped_then_identical_and_without_gaps(store: ParquetStore, shared_data: Path) -> None:
    # Arrange
    original = load_ohlcv(shared_data / "binance" / "ohlcv" / "marketlab_2024-09_2026-02" / "BTC_USDT-1h.feather")

    # Act
    result = store.write("binance", original)

    # Assert
    assert result.rows_new == 12_556
    assert len(result.months) == 18  # 2024-09 .. 2026-02
    _assert_same(store.read("binance", "BTCUSDT", Timeframe.H1), original)
    assert store.gaps("binance", "BTCUSDT", Timeframe.H1) == []


def test_real_data_when_two_sources_overlap_then_union_is_continuous(store: ParquetStore, shared_data: Path) -> None:
    # Arrange: the two freqtrade dumps agree over 244 overlapping hours (see shared/data/README.md)
    ohlcv = shared_data / "binance" / "ohlcv"
    early = load_ohlcv(ohlcv / "ft_userdata_2024-01_2024-09" / "BTC_USDT-1h.feather")
    late = load_ohlcv(ohlcv / "marketlab_2024-09_2026-02" / "BTC_USDT-1h.feather")

    # Act
    store.write("binance", early)
    result = store.write("binance", late)

    # Assert
    assert result.rows_new == len(late) - 244
    [entry] = store.list()
    assert entry.rows == len(early) + len(late) - 244
    assert (entry.first_open_ns, entry.last_open_ns) == (int(early.open_time_ns[0]), int(late.open_time_ns[-1]))
    assert store.gaps("binance", "BTCUSDT", Timeframe.H1) == []
