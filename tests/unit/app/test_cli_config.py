from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from thunes.app.cli.config import config_app
from thunes.app.config import MASK, settings_json_schema

SECRET = "sk-LIVE-7f3a9c2e1b8d4f60"
KEY = "ak-PUBLIC-0d9e8c7b6a5f"


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory with no developer ``THUNES_*`` variables."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.upper().startswith("THUNES_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(config_app, name="config")
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_show_when_no_config_then_prints_defaults_as_json(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "show"])

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["risk"]["max_order_notional"] == "15"
    assert shown["risk"]["max_daily_loss"] == "20"
    assert shown["venue"]["mode"] == "paper"
    assert shown["backtest"]["timeframe"] == "1h"


def test_show_when_file_and_env_given_then_prints_merged_settings(
    app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "my.toml"
    path.write_text("[risk]\nmax_open_positions = 2\nmax_daily_loss = 30\n", encoding="utf-8")

    result = runner.invoke(app, ["config", "show", "--config", str(path)], env={"THUNES_RISK__MAX_DAILY_LOSS": "25"})

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["risk"]["max_open_positions"] == 2
    assert shown["risk"]["max_daily_loss"] == "25"


def test_show_when_secrets_in_env_and_file_then_masked(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "thunes.toml"
    path.write_text(f'[venue]\napi_key = "{KEY}"\n', encoding="utf-8")

    result = runner.invoke(app, ["config", "show"], env={"THUNES_VENUE__API_SECRET": SECRET})

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert KEY not in result.output
    shown = json.loads(result.stdout)
    assert shown["venue"]["api_secret"] == MASK
    assert shown["venue"]["api_key"] == MASK


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[risk]\nmax_order_notional = 0\n", "risk.max_order_notional"),
        ("[risk]\nmax_ordr_notional = 1\n", "risk.max_ordr_notional: unknown setting"),
        ("[risk\nmax_order_notional = 1\n", "line 1"),
        (f'[venue]\napi_secret = 42\nmode = "x"\napi_key = ["{KEY}"]\n', "venue.api_secret"),
    ],
)
def test_show_when_config_bad_then_exit_2_one_error_line_no_traceback(
    app: typer.Typer, runner: CliRunner, tmp_path: Path, toml: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")

    result = runner.invoke(app, ["config", "show", "-c", str(path)])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert "bad.toml" in result.stderr
    assert "Traceback" not in result.output
    assert KEY not in result.output


def test_show_when_config_file_missing_then_exit_2(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "show", "--config", str(tmp_path / "absent.toml")])

    assert result.exit_code == 2
    assert "error: " in result.stderr
    assert "absent.toml" in result.stderr


def test_show_when_env_invalid_and_secret_set_then_error_omits_secret(app: typer.Typer, runner: CliRunner) -> None:
    env = {"THUNES_VENUE__API_SECRET": SECRET, "THUNES_VENUE__RECV_WINDOW_MS": "soon"}

    result = runner.invoke(app, ["config", "show"], env=env)

    assert result.exit_code == 2
    assert "venue.recv_window_ms" in result.stderr
    assert "THUNES_VENUE__RECV_WINDOW_MS" in result.stderr
    assert SECRET not in result.output


def test_schema_when_no_output_then_prints_the_schema(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "schema"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == settings_json_schema()


def test_schema_when_output_given_then_writes_file(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "schema.json"

    result = runner.invoke(app, ["config", "schema", "--output", str(target)])

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(target.read_text(encoding="utf-8")) == settings_json_schema()


def test_schema_when_output_unwritable_then_exit_2(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "schema.json"

    result = runner.invoke(app, ["config", "schema", "--output", str(target)])

    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
