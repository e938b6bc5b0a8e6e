"""The commands that backtest, given a portfolio (``--pairs`` or ``[[portfolio]]``): ``thunes backtest``
reports each symbol and the total beside buy-and-hold, on screen and in JSON, and ``report backtest``
stores it with each symbol's chart; what a portfolio cannot take (``--data``, one symbol's file;
``optimize``, ``walk-forward`` and ``lookahead``, which run one pair) is refused in one line, exit 2."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import app
from thunes.backtest.report_portfolio import PORTFOLIO_RUN_FILES

runner = CliRunner()
FOUR = "BTCUSDT:sma_cross,ETHUSDT:rsi_reversion,BNBUSDT:sma_cross,SOLUSDT:rsi_reversion"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: no thunes.toml, no store, no shared data unless a test points to it."""
    monkeypatch.chdir(tmp_path)
    for name in ("THUNES_CONFIG", "THUNES_DATA__SHARED_DATA_DIR", "THUNES_RULES__EXCHANGE_INFO_PATH"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _one_error_line(output: str, exit_code: int, needle: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert exit_code == 2, output
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert needle in lines[0], lines[0]


def test_backtest_when_four_pairs_on_bundled_data_then_each_symbol_the_total_and_buy_and_hold(
    workdir: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    out = workdir / "result.json"

    # Act
    result = runner.invoke(app, ["backtest", "--pairs", FOUR, "--warmup", "100", "--json", str(out)],
                           env={"COLUMNS": "100"})  # fmt: skip

    # Assert: the console shows every symbol's row, the total row and buy-and-hold beside the account
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for symbol, strategy in (("BTCUSDT", "sma_cross"), ("ETHUSDT", "rsi_reversion"), ("SOLUSDT", "rsi_reversion")):
        assert any(line.split()[:2] == [symbol, strategy] for line in lines), symbol
    assert any(line.split()[:3] == ["total", "4", "pairs"] for line in lines)
    assert any("buy & hold" in line and "equal weights, same fee" in line for line in lines)
    assert "recorded BNB_USDT-1h.feather" in result.output
    assert "cut to the common range" in result.output  # the four files do not end on the same hour
    # the JSON holds the same: per symbol, the total (their sum) and buy-and-hold
    doc = json.loads(out.read_text())
    assert [s["symbol"] for s in doc["symbols"]] == ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
    assert all(s["trades"] > 50 and s["bars"] == doc["symbols"][0]["bars"] for s in doc["symbols"])
    pnl = sum(Decimal(s["pnl"]) for s in doc["symbols"])
    assert pnl == Decimal(doc["total"]["pnl"]) == Decimal(doc["final_equity"]) - Decimal(doc["initial_cash"])
    assert doc["total"]["trades"] == sum(s["trades"] for s in doc["symbols"]) == doc["metrics"]["trades"]
    assert doc["total"]["return"] == doc["metrics"]["total_return"]
    assert set(doc["buy_and_hold"]["symbols"]) == {s["symbol"] for s in doc["symbols"]}
    assert doc["buy_and_hold"]["fee_rate"] == doc["fee_rate"] == "0.001"
    assert {t["symbol"] for t in doc["trades"]} == {s["symbol"] for s in doc["symbols"]}
    assert doc["engine"] == "event" and doc["cut"].startswith("cut to the common range")


def test_backtest_when_fast_with_several_pairs_then_engine_core_and_the_reason_printed(workdir: Path) -> None:
    out = workdir / "result.json"

    result = runner.invoke(app, ["backtest", "--synthetic", "400", "--pairs", "BTCUSDT,ETHUSDT", "--fast",
                                 "--json", str(out)])  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "--fast: the compiled kernel trades one pair; a portfolio runs on the engine core" in result.output
    doc = json.loads(out.read_text())
    assert (doc["engine"], doc["kernel"]) == ("fast", False)
    assert "kernel trades one pair" in doc["fallback_reason"]
    assert [p["symbol"] for p in doc["pairs"]] == ["BTCUSDT", "ETHUSDT"]


def test_backtest_when_symbol_names_a_pair_of_the_portfolio_then_that_pair_alone(workdir: Path) -> None:
    out = workdir / "result.json"

    result = runner.invoke(app, ["backtest", "--synthetic", "400", "--pairs", "BTCUSDT:sma_cross,ETHUSDT:rsi_reversion",
                                 "--symbol", "ETHUSDT", "--json", str(out)])  # fmt: skip

    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert (doc["symbol"], doc["strategy_id"].split("-")[0]) == ("ETHUSDT", "rsi_reversion")


def test_backtest_when_data_file_with_several_pairs_then_one_error_line(workdir: Path) -> None:
    candles = workdir / "BTCUSDT-1h.csv"
    candles.write_text("1704067200000,42000.1,42100.5,41900.0,42050.0,12.5\n")

    result = runner.invoke(app, ["backtest", "--data", str(candles), "--pairs", "BTCUSDT,ETHUSDT"])

    _one_error_line(result.output, result.exit_code, "--data")
    assert "pick one pair with --symbol" in result.output


@pytest.mark.parametrize("command", ["optimize", "walk-forward"])
def test_research_command_when_the_portfolio_has_several_pairs_then_asks_for_one_with_symbol(
    workdir: Path, command: str
) -> None:
    config = workdir / "thunes.toml"
    config.write_text(
        '[[portfolio]]\nsymbol = "BTCUSDT"\n\n[[portfolio]]\nsymbol = "ETHUSDT"\nstrategy = "rsi_reversion"\n'
    )

    result = runner.invoke(app, [command, "--config", str(config), "--synthetic", "400"])

    _one_error_line(result.output, result.exit_code, f"{command} runs one pair")
    assert "(BTCUSDT, ETHUSDT): pick one with --symbol" in result.output
    assert not (workdir / "data").exists()  # refused before anything was written


def test_report_backtest_when_several_pairs_then_run_directory_with_each_symbol_and_buy_and_hold(workdir: Path) -> None:
    # Act
    result = runner.invoke(app, ["report", "backtest", "--synthetic", "600", "--pairs",
                                 "BTCUSDT:sma_cross,ETHUSDT:rsi_reversion,SOLUSDT", "--out", str(workdir / "runs")])  # fmt: skip

    # Assert: the portfolio's files, each symbol in them, and the chart marks each symbol's trades
    assert result.exit_code == 0, result.output
    (directory,) = (workdir / "runs").iterdir()
    assert sorted(p.name for p in directory.iterdir()) == sorted(PORTFOLIO_RUN_FILES)
    config = json.loads((directory / "config.json").read_text())
    assert [p["symbol"] for p in config["pairs"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert config["pairs"][1]["strategy"].startswith("rsi_reversion")
    doc = json.loads((directory / "portfolio.json").read_text())
    assert [s["symbol"] for s in doc["symbols"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert sum(Decimal(s["pnl"]) for s in doc["symbols"]) == Decimal(doc["total"]["pnl"])
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["trades"] == doc["total"]["trades"] > 0
    trades = (directory / "trades.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in trades[1:]} <= {"BTCUSDT", "ETHUSDT", "SOLUSDT"} and len(trades) > 3
    header = (directory / "equity.csv").read_text().splitlines()[0]
    assert header == "time,time_ns,equity,drawdown,buy_and_hold"
    page = (directory / "report.html").read_text()
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert f"{symbol}: close and trades" in page
    traded = sum(1 for s in doc["symbols"] if s["trades"] + s["open_trades"] > 0)
    assert page.count('"name":"entry"') == 3 and page.count('"name":"exit"') == 3 and traded >= 2
    assert "buy &amp; hold" in page and "Per symbol" in page


def test_lookahead_when_the_portfolio_has_several_pairs_then_asks_for_one_with_symbol(workdir: Path) -> None:
    config = workdir / "thunes.toml"
    config.write_text('[[portfolio]]\nsymbol = "BTCUSDT"\n\n[[portfolio]]\nsymbol = "ETHUSDT"\n')

    result = runner.invoke(app, ["lookahead", "--config", str(config), "--synthetic", "300"])

    _one_error_line(result.output, result.exit_code, "lookahead runs one pair")
