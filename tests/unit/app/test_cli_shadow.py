"""``thunes shadow``'s bad input: one ``error:`` line and exit 2, before any venue starts or any file is
written; and ``thunes shadow report`` on a log it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import ENGINE_COMMANDS, app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the whitelisted policy with --policy ID"),
        (["--policy", "bad id!"], "--policy 'bad id!' is not a policy id"),
        (["--policy", "p", "--start", "06/01/2025"], "--start expects a date like 2025-01-06"),
        (["--policy", "p", "--symbols", "BTCUSDT,BTCUSDT"], "--symbols expects distinct symbols"),
        (["--policy", "p", "--symbols", "FOOUSDT"], "unknown symbol FOOUSDT"),
        (["--policy-stub", "--input", "actions.jsonl"], "give --policy-stub or --input, not both"),
        (["--policy", "p", "--input", "missing.jsonl"], "missing.jsonl: No such file or directory"),
        (["--policy", "p", "--venue-url", "ftp://x"], "--venue-url must be an http(s) URL"),
        (["--policy", "p", "--venue-url", "http://127.0.0.1:8765", "--days", "7"], "--days and --start choose"),
    ],
)
def test_shadow_when_input_is_bad_then_one_error_line_and_nothing_written(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["shadow", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_report_when_log_missing_then_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["shadow", "report", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and not (tmp_path / "none.html").exists()


def test_shadow_is_an_engine_command() -> None:
    assert "shadow" in ENGINE_COMMANDS
