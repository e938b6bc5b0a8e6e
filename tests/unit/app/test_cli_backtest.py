"""``thunes backtest`` and ``thunes version`` through the real Typer app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes import __version__
from thunes.app.cli.main import app

runner = CliRunner()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no thunes.toml, no store and no ../shared next to it."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("THUNES_CONFIG", "THUNES_DATA__SHARED_DATA_DIR", "THUNES_RULES__EXCHANGE_INFO_PATH"):
        monkeypatch.delenv(name, raising=False)
    return work


def _assert_clean_error(result: object, needle: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    output = result.output  # type: ignore[attr-defined]
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    assert needle in lines[0]


def test_version_when_called_then_prints_package_version() -> None:
    result = runner.invoke(app, ["version"])

    assert result.exit_code == 0
    assert result.output.strip() == f"thunes {__version__}"


def test_backtest_when_no_data_anywhere_then_synthetic_market_and_builtin_filters(isolated: Path) -> None:
    result = runner.invoke(app, ["backtest"])

    assert result.exit_code == 0, result.output
    assert "synthetic market" in result.output
    assert "built-in instruments" in result.output
    assert "total return" in result.output
    assert "closed trades" in result.output


def test_backtest_when_shared_data_present_then_recorded_candles_and_dump_filters(
    isolated: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    out = isolated / "result.json"

    result = runner.invoke(app, ["backtest", "--strategy", "rsi_reversion", "--json", str(out)])

    assert result.exit_code == 0, result.output
    assert "recorded BTC_USDT-1h.feather" in result.output
    assert "exchangeInfo_spot_full_2023-09-08.json" in result.output
    payload = json.loads(out.read_text())
    assert payload["bars"] == 12_556
    assert payload["parameters"]["period"] == 14
    assert payload["metrics"]["trades"] == sum(1 for t in payload["trades"] if t["pnl"] is not None)


def test_backtest_when_data_file_is_garbage_then_one_line_error(isolated: Path) -> None:
    bad = isolated / "BTCUSDT-1h.csv"
    bad.write_bytes(b"\x00\x01garbage\nnot,a,kline\n")

    _assert_clean_error(runner.invoke(app, ["backtest", "--data", str(bad)]), "BTCUSDT-1h.csv")


def test_backtest_when_exchange_info_malformed_then_one_line_error(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = isolated / "exchangeInfo.json"
    bad.write_text('{"symbols": [ {"symbol": "BTCUSDT", ')
    monkeypatch.setenv("THUNES_RULES__EXCHANGE_INFO_PATH", str(bad))

    _assert_clean_error(runner.invoke(app, ["backtest", "--synthetic", "100"]), "not valid JSON at line 1")


def test_backtest_when_config_value_invalid_then_error_names_the_key(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUNES_BACKTEST__FEE_RATE", "-0.5")

    _assert_clean_error(runner.invoke(app, ["backtest"]), "backtest.fee_rate")


def test_backtest_when_fast_not_below_slow_then_one_line_error(isolated: Path) -> None:
    _assert_clean_error(runner.invoke(app, ["backtest", "--sma-fast", "60", "--sma-slow", "50"]), "sma_fast")


def test_backtest_when_symbol_unknown_then_one_line_error(isolated: Path) -> None:
    _assert_clean_error(runner.invoke(app, ["backtest", "--symbol", "DOGEUSDT", "--synthetic", "100"]), "DOGEUSDT")


def test_entry_point_when_bad_input_then_real_process_exits_2_without_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("thunes")

    done = subprocess.run(
        [str(script), "backtest", "--data", str(tmp_path / "missing.feather")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")


def test_backtest_fast_when_the_kernel_cannot_reproduce_the_engine_then_console_and_json_say_why(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thunes.adapters.exchange_info_file import BUILTIN_SYMBOLS, _symbol_payload

    symbol = _symbol_payload("BTCUSDT", BUILTIN_SYMBOLS["BTCUSDT"])
    symbol["filters"].append({"filterType": "MAX_POSITION", "maxPosition": "100"})  # a filter the kernel does not model
    rules = isolated / "exchangeInfo.json"
    rules.write_text(json.dumps({"rateLimits": [], "symbols": [symbol]}))
    monkeypatch.setenv("THUNES_RULES__EXCHANGE_INFO_PATH", str(rules))
    monkeypatch.setenv("COLUMNS", "200")

    fast = runner.invoke(app, ["backtest", "--fast", "--synthetic", "1500", "--json", str(isolated / "fast.json")])
    event = runner.invoke(app, ["backtest", "--synthetic", "1500", "--json", str(isolated / "event.json")])

    assert fast.exit_code == 0 and event.exit_code == 0, fast.output + event.output
    assert "fast: engine core (MAX_POSITION filter)" in fast.output
    by_fast, by_event = (json.loads((isolated / name).read_text()) for name in ("fast.json", "event.json"))
    assert (by_fast["engine"], by_fast["kernel"], by_fast["fallback_reason"]) == ("fast", False, "MAX_POSITION filter")
    assert by_fast["trades"] == by_event["trades"] and len(by_fast["trades"]) > 5
