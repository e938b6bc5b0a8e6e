"""Parity: the backtest and a paper session on the venue server (ccxt over loopback, lockstep
replay) place the same orders and get the same fills, on the real BTCUSDT data, and for a portfolio
of the four bundled symbols (both strategies) on one account, symbol by symbol and in booking order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import app
from thunes.app.config import load_settings
from thunes.backtest.parity import run_parity

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
PAIRS = "BTCUSDT:sma_cross,ETHUSDT:rsi_reversion,BNBUSDT:sma_cross,SOLUSDT:rsi_reversion"
PORTFOLIO = [{"symbol": symbol, "strategy": strategy} for symbol, strategy in
             (pair.split(":") for pair in PAIRS.split(","))]  # fmt: skip


# One pair over a long run; the other strategy on each timeframe is the portfolio test's (below).
@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "timeframe", "bars"), [("sma_cross", "1h", 2_500), ("rsi_reversion", "5m", 2_500)]
)
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


def test_parity_command_when_pairs_given_then_a_row_per_symbol_and_identical(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, ["parity", "--pairs", PAIRS, "--timeframe", "5m", "--skip", "70000",
                                      "--bars", "250", "--warmup", "60"])  # fmt: skip

    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.strip("│ ").split("│")] for line in result.output.splitlines()
            if line.strip("│ ").startswith(SYMBOLS)]  # fmt: skip
    assert [row[0] for row in rows] == list(SYMBOLS)
    assert all(row[1] == "250" and row[-1] == "identical" for row in rows), rows
    assert "account" in result.output
    assert "fee (4 symbols)" in " ".join(result.output.split())
    assert re.search(r"IDENTICAL: [1-9]\d* fills", result.output)


# Slices of the recorded data (default parameters) where each symbol trades several times and the
# shared limits bind: some entries are denied because three positions are open, or in a cool-down.
@pytest.mark.slow
@pytest.mark.parametrize(("timeframe", "skip", "bars"), [("1h", 4_000, 500), ("5m", 70_000, 700)])
def test_portfolio_parity_when_four_symbols_trade_one_account_then_every_order_fill_and_denial_identical(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, timeframe: str, skip: int, bars: int
) -> None:
    monkeypatch.chdir(tmp_path)  # away from any ./thunes.toml
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_BACKTEST__TIMEFRAME", timeframe)
    settings = load_settings(overrides={"portfolio": PORTFOLIO})

    report = run_parity(settings, tmp_path / "paper", bars_limit=bars, skip=skip)

    counts = {s.symbol: (len(s.paper_orders), len(s.paper_fills), s.paper_denied) for s in report.symbols}
    print(f"portfolio parity {timeframe} skip={skip} bars={bars}: {counts} {report.differences}")
    assert [s.symbol for s in report.symbols] == list(SYMBOLS)
    assert report.bars == bars
    for side in report.symbols:
        assert len(side.backtest_fills) >= 3, side.symbol  # each symbol traded several times
        assert side.paper_orders == side.backtest_orders, side.symbol
        assert side.paper_fills == side.backtest_fills, side.symbol
        assert side.paper_denied == side.backtest_denied, side.symbol
    assert report.paper_fills == report.backtest_fills  # the account's, in booking order
    assert report.paper_orders == report.backtest_orders
    assert sum(s.backtest_denied.get("POSITION_LIMIT", 0) for s in report.symbols) > 0  # the slots were shared
    assert report.differences == []
