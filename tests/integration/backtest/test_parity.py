"""Parity: the backtest and a paper session on the venue server (ccxt over loopback, lockstep
replay) place the same orders and get the same fills, on the real BTCUSDT data."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import app
from thunes.app.config import load_settings
from thunes.backtest.parity import run_parity


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "timeframe", "bars"), [("sma_cross", "1h", 2_500), ("rsi_reversion", "1h", 2_500),
                                                             ("sma_cross", "5m", 2_500), ("rsi_reversion", "5m", 2_500)])  # fmt: skip
def test_parity_when_backtest_and_paper_session_trade_the_same_candles_then_identical_fills(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, strategy: str, timeframe: str, bars: int
) -> None:
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_STRATEGY__NAME", strategy)
    monkeypatch.setenv("THUNES_BACKTEST__TIMEFRAME", timeframe)

    report = run_parity(load_settings(), tmp_path / "paper", bars_limit=bars)

    print(f"parity {strategy} {timeframe}: bars={report.bars} fills={len(report.paper_fills)} {report.differences}")
    assert report.bars == bars
    assert len(report.backtest_fills) >= 5  # something was traded
    assert report.differences == []
    assert report.paper_fills == report.backtest_fills
    assert report.paper_orders == report.backtest_orders


def test_parity_command_when_run_then_prints_identical_and_exit_0(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, ["parity", "--bars", "600", "--keep", str(tmp_path / "kept")])
    bad = CliRunner().invoke(app, ["parity", "--bars", "1"])

    assert result.exit_code == 0, result.output
    assert "IDENTICAL" in result.output
    assert (tmp_path / "kept" / "ledger.db").is_file()
    assert bad.exit_code == 2
    assert "--bars must be at least 2" in bad.output
