"""The stored run directory: every file exists, parses, and says what the performance module said."""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import matplotlib.image
import pytest
from pyarrow import feather

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.app.audit_setup import audit_context
from thunes.app.config import Settings, load_settings
from thunes.backtest.report_files import RUN_FILES, ResearchRun, evaluate, metrics_json, run_id, write_run
from thunes.domain import ExchangeInfo, Timeframe, parse_exchange_info
from thunes.engine.performance import compute_performance, equity_arrays, periods_per_year
from thunes.features import OHLCV

NOW = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)


def _settings(name: str) -> Settings:
    return load_settings(env={}, overrides={"strategy": {"name": name}})


@pytest.fixture(scope="module")
def real_run(shared_data: Path, exchange_info_path: Path) -> ResearchRun:
    info = parse_exchange_info(json.loads(exchange_info_path.read_text()))
    table = feather.read_table(shared_data / "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather")
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    bars = OHLCV.from_arrays("BTCUSDT", Timeframe.H1, table.column("date").cast("int64").to_numpy(), *cols)
    return evaluate(_settings("sma_cross"), info.get("BTCUSDT"), bars, info, "recorded BTC_USDT-1h.feather")


@pytest.fixture(scope="module")
def written(real_run: ResearchRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(real_run, tmp_path_factory.mktemp("runs"), NOW)


def test_write_run_when_real_backtest_then_every_file_exists_in_a_timestamped_hashed_directory(written: Path) -> None:
    assert re.fullmatch(r"20260301T123005Z-[0-9a-f]{8}", written.name)
    assert sorted(p.name for p in written.iterdir()) == sorted(RUN_FILES)
    assert all((written / name).stat().st_size > 0 for name in RUN_FILES)


def test_metrics_json_when_written_then_equals_the_performance_module_output(
    written: Path, real_run: ResearchRun
) -> None:
    stored = json.loads((written / "metrics.json").read_text())
    # Recompute from the stored curve, independently of what evaluate() kept in memory.
    with (written / "equity.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    times = [int(r["time_ns"]) for r in rows]
    values = [float(Decimal(r["equity"])) for r in rows]
    recomputed = compute_performance(times, values, real_run.trips, periods_per_year(Timeframe.H1.nanoseconds))

    assert stored == metrics_json(real_run.performance)
    # The run's float view of its exact curve is vectorised: equal to the CSV's to the last bits only.
    expected = metrics_json(recomputed)
    assert stored.keys() == expected.keys()
    for key, value in stored.items():
        assert value == (pytest.approx(expected[key], rel=1e-12) if isinstance(value, float) else expected[key]), key
    assert stored["trades"] > 50
    assert all(v is None or isinstance(v, int | float | dict) for v in stored.values())
    assert isinstance(stored["sharpe"], float) and math.isfinite(stored["sharpe"])


def test_config_json_when_written_then_names_strategy_params_hash_data_range_and_run_id(
    written: Path, real_run: ResearchRun
) -> None:
    config = json.loads((written / "config.json").read_text())

    assert config["run_id"] == written.name
    assert config["strategy"] == "sma_cross"
    assert config["parameters"] == {"fast": 20, "slow": 50}
    assert config["param_hash"] == audit_context(_settings("sma_cross")).param_hash
    assert (config["symbol"], config["timeframe"]) == ("BTCUSDT", "1h")
    assert config["data"]["bars"] == len(real_run.bars) == 12_556
    assert config["data"]["start_ns"] == int(real_run.bars.open_time_ns[0])
    assert config["data"]["end_ns"] == int(real_run.bars.open_time_ns[-1]) + Timeframe.H1.nanoseconds
    assert config["data"]["start"] == "2024-09-14T00:00:00Z"
    assert written.name.endswith(run_id(real_run.config, NOW)[-8:])


def test_trades_and_equity_csv_when_written_then_one_row_per_trip_and_per_point_exactly(
    written: Path, real_run: ResearchRun
) -> None:
    with (written / "trades.csv").open() as handle:
        trades = list(csv.DictReader(handle))
    with (written / "equity.csv").open() as handle:
        equity = list(csv.DictReader(handle))

    assert len(trades) == len(real_run.trips)
    assert [Decimal(t["pnl"]) for t in trades] == [t.pnl for t in real_run.trips]
    assert [int(t["entry_ns"]) for t in trades] == [t.entry_ns for t in real_run.trips]
    assert [(int(r["time_ns"]), Decimal(r["equity"])) for r in equity] == list(real_run.equity)
    assert min(float(r["drawdown"]) for r in equity) == real_run.performance.max_drawdown


def test_summary_png_when_written_then_opens_as_a_real_image(written: Path) -> None:
    image = matplotlib.image.imread(written / "summary.png")

    height, width = image.shape[:2]
    assert (width, height) == (1100, 700)
    assert image.std() > 0.05  # charts and text, not a blank canvas


def test_report_html_when_written_then_self_contained_with_charts_and_metrics(written: Path) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")

    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # no script fetched from anywhere: works offline
    assert len(page) > 1_000_000  # plotly.js itself is embedded
    for needle in ("Plotly.newPlot", "Close and trades", "Drawdown", "sharpe", "max drawdown duration", "entry"):
        assert needle in page


def test_write_run_when_same_config_same_second_then_second_directory_does_not_overwrite(tmp_path: Path) -> None:
    info: ExchangeInfo = builtin_exchange_info()
    bars = generate_ohlcv("BTCUSDT", Timeframe.H1, 400, seed=3)
    run = evaluate(_settings("rsi_reversion"), info.get("BTCUSDT"), bars, info, "synthetic market (seed 3)")

    first = write_run(run, tmp_path, NOW)
    second = write_run(run, tmp_path, NOW)

    assert second.name == f"{first.name}-1"
    assert json.loads((second / "config.json").read_text())["run_id"] == second.name
    times, _ = equity_arrays(run.equity)
    assert len(times) == 300  # 400 bars less the 100-bar warm-up
    assert run.performance.periods == 299


def test_evaluate_when_data_shorter_than_warm_up_then_value_error() -> None:
    info = builtin_exchange_info()
    bars = generate_ohlcv("BTCUSDT", Timeframe.H1, 50, seed=3)

    with pytest.raises(ValueError, match="too few"):
        evaluate(_settings("sma_cross"), info.get("BTCUSDT"), bars, info, "synthetic")
