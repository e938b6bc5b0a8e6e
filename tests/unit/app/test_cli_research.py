"""``thunes lookahead`` and ``thunes report`` through a real Typer app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.unit.research.test_lookahead import NextBarPeeker
from thunes.app.cli import research as cli_research
from thunes.app.cli.research import EXIT_LOOKAHEAD, lookahead, report
from thunes.backtest.report_files import RUN_FILES

# Mounted as the main CLI mounts them (``app.command("lookahead")(lookahead)``).
app = typer.Typer(pretty_exceptions_enable=False)
app.command("lookahead")(lookahead)
app.command("report")(report)
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


def test_report_when_synthetic_market_then_run_directory_with_every_file(isolated: Path) -> None:
    result = runner.invoke(app, ["report", "--synthetic", "600", "--strategy", "rsi_reversion", "--out", "out"])

    assert result.exit_code == 0, result.output
    (directory,) = (isolated / "out").iterdir()
    assert sorted(p.name for p in directory.iterdir()) == sorted(RUN_FILES)
    config = json.loads((directory / "config.json").read_text())
    assert config["strategy"] == "rsi_reversion"
    assert config["data"]["source"] == "synthetic market (seed 0)"
    assert "sharpe" in result.output
    assert f"run written to {Path('out') / directory.name}" in result.output.replace("\n", "")


def test_report_when_recorded_data_then_uses_it_and_honours_sma_windows(
    isolated: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))

    result = runner.invoke(app, ["report", "--sma-fast", "10", "--sma-slow", "30", "--out", str(isolated / "runs")])

    assert result.exit_code == 0, result.output
    (directory,) = (isolated / "runs").iterdir()
    config = json.loads((directory / "config.json").read_text())
    assert config["parameters"] == {"fast": 10, "slow": 30}
    assert config["data"]["source"] == "recorded BTC_USDT-1h.feather"
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["trades"] > 50


def test_lookahead_when_shipped_strategy_on_recorded_data_then_passes_exit_zero(
    isolated: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))

    result = runner.invoke(app, ["lookahead", "--strategy", "rsi_reversion", "--cuts", "4"])

    assert result.exit_code == 0, result.output
    assert "passed" in result.output
    assert "recorded BTC_USDT-1h.feather" in result.output
    assert EXIT_LOOKAHEAD != 0


def test_lookahead_when_synthetic_market_then_reports_cuts_and_comparisons(isolated: Path) -> None:
    result = runner.invoke(
        app, ["lookahead", "--synthetic", "300", "--cuts", "3", "--sma-fast", "5", "--sma-slow", "20"]
    )

    assert result.exit_code == 0, result.output
    # 3 evenly spaced from the warm-up (slow + 1) to the last bar but one, 3 right after signals.
    assert "6: 21, 26, 140, 160, 290, 299" in result.output
    assert "signals compared" in result.output


@pytest.mark.parametrize("command", ["report", "lookahead"])
def test_command_when_unknown_symbol_then_one_line_error_exit_2(isolated: Path, command: str) -> None:
    result = runner.invoke(app, [command, "--symbol", "NOPEUSDT", "--synthetic", "300"])

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "NOPEUSDT" in result.output


def test_report_when_too_few_bars_for_warm_up_then_clean_error(isolated: Path) -> None:
    result = runner.invoke(app, ["report", "--synthetic", "50", "--out", "out"])

    assert result.exit_code == 2
    assert "too few" in result.output
    assert not (isolated / "out").exists()


def test_lookahead_when_strategy_peeks_then_lists_changed_signals_and_exits_1(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI builds strategies from settings, which hold no cheater: hand the real check one.
    real_check = cli_research.check_lookahead
    monkeypatch.setattr(cli_research, "check_lookahead", lambda _, bars, **kw: real_check(NextBarPeeker, bars, **kw))

    result = runner.invoke(app, ["lookahead", "--synthetic", "300", "--cuts", "30"])

    assert result.exit_code == EXIT_LOOKAHEAD, result.output
    assert "signal(s) changed" in result.output
    assert "ENTER_LONG" in result.output or "EXIT_LONG" in result.output
    assert "more" in result.output  # 2 faces x up to 30 cuts: more than the 20 rows shown


def test_import_when_cli_module_loaded_then_no_plotting_library_is_imported() -> None:
    # A core install (no 'report' extra) must still load the whole CLI.
    code = "import sys, thunes.app.cli.research; print(sorted(m for m in ('plotly', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"


def test_report_when_report_extra_missing_then_says_how_to_install_it(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "thunes.backtest.report_files", raising=False)
    monkeypatch.setitem(sys.modules, "plotly", None)  # what an absent package looks like to import

    result = runner.invoke(app, ["report", "--synthetic", "300", "--out", "out"])

    assert result.exit_code == 2
    assert "pip install 'thunes[report]'" in result.output
    assert "plotly" in result.output
    assert not (isolated / "out").exists()
