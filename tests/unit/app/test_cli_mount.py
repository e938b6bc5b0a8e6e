"""The command line mounts only the sub-command asked for, and every sub-command still works alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from thunes.app.cli import main as cli

_PROBE = """
import json, sys
from thunes.app.cli.main import main
sys.argv = ["thunes", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "heavy": sorted(m for m in ("ccxt", "optuna", "aiohttp") if m in sys.modules)}))
"""


def _probe(*argv: str) -> tuple[dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], check=True, capture_output=True, text=True, timeout=120
    )
    *shown, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(shown)


def test_backtest_when_run_then_none_of_the_other_commands_heavy_imports_are_loaded() -> None:
    result, shown = _probe("backtest", "--help")

    assert result == {"code": 0, "heavy": []}
    assert "--synthetic" in shown


def test_top_level_help_when_asked_then_every_command_is_mounted_and_listed() -> None:
    result, shown = _probe("--help")

    assert result["code"] == 0
    assert "ccxt" in result["heavy"]  # the whole set was imported: the probe can tell
    for name in cli.COMMANDS:
        assert name in shown


def test_whole_app_when_built_then_it_holds_exactly_the_registry_and_version() -> None:
    app = cli.build_app()
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}

    assert names == set(cli.COMMANDS) | {"version"}


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_command_when_mounted_alone_then_it_answers_under_its_own_name(name: str) -> None:
    result = CliRunner().invoke(cli.build_app(name), [name, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and name in result.output


def test_report_group_when_mounted_twice_then_report_backtest_appears_once() -> None:
    cli.build_app("report")
    app = cli.build_app("report")
    (report,) = app.registered_groups
    assert report.typer_instance is not None
    assert [c.name for c in report.typer_instance.registered_commands].count("backtest") == 1


def test_asked_when_options_come_first_then_the_first_word_names_the_command() -> None:
    assert cli._asked(["--help"]) is None
    assert cli._asked(["backtest", "--synthetic", "10"]) == "backtest"
    assert cli._asked(["nope"]) is None  # unknown: everything is mounted and typer says so
