"""``thunes report rodage`` through typer's CliRunner, on session directories written by the real writers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.unit.governance.test_rodage import Plan, write_session
from thunes.app.cli.report import report_app
from thunes.governance.rodage import GATES

runner = CliRunner()
END_DAY = "2026-11-30"  # the last market day the default session covers


def md_rows(text: str) -> list[list[str]]:
    """The criterion rows of the report's Markdown table, cells stripped."""
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| criterion")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_rodage_when_session_passes_everything_then_go_exit_0_and_agreeing_files(tmp_path: Path) -> None:
    write_session(tmp_path / "paper").log.close()

    result = runner.invoke(report_app, ["rodage", "--days", "7", "--data-dir", str(tmp_path / "paper"),
                                        "--out", str(tmp_path / "out")])  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-2] == "GO"
    data = json.loads((tmp_path / "out" / f"rodage-{END_DAY}.json").read_text())
    markdown = (tmp_path / "out" / f"rodage-{END_DAY}.md").read_text()
    assert data["verdict"] == "GO"
    assert "**Verdict: GO**" in markdown
    assert [c["key"] for c in data["criteria"]] == [c.metric for c in GATES[1].criteria]
    assert [[c["criterion"], c["threshold"], c["measured"], c["verdict"]] for c in data["criteria"]] == [
        row[:4] for row in md_rows(markdown)
    ]
    for criterion in data["criteria"]:
        assert criterion["criterion"] in result.output
    assert data["window"] == {"start": "2026-11-23T10:00:00+00:00", "end": "2026-11-30T10:00:00+00:00",
                              "start_ns": data["window"]["start_ns"], "end_ns": data["window"]["end_ns"]}  # fmt: skip


def test_rodage_when_session_wrote_no_marks_then_no_go_exit_1_with_not_measured(tmp_path: Path) -> None:
    write_session(tmp_path, Plan(marks=False)).log.close()

    result = runner.invoke(report_app, ["rodage", "--data-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "NOT MEASURED" in result.output
    assert result.output.strip().splitlines()[-2] == "NO-GO"
    data = json.loads((tmp_path / "reports" / f"rodage-{END_DAY}.json").read_text())
    assert data["verdict"] == "NO-GO"
    assert {c["key"] for c in data["criteria"] if c["verdict"] == "NOT MEASURED"} == {
        "uptime", "crashes", "ws_recovered", "peak_rss"}  # fmt: skip
    assert all(c["value"] is None for c in data["criteria"] if c["verdict"] == "NOT MEASURED")


def test_rodage_gate_2_when_only_7_days_reported_then_no_go_although_every_criterion_passes(tmp_path: Path) -> None:
    write_session(tmp_path, Plan(kill_switch=())).log.close()

    result = runner.invoke(report_app, ["rodage", "--gate", "2", "--days", "7", "--data-dir", str(tmp_path)])

    data = json.loads((tmp_path / "reports" / f"rodage-{END_DAY}-gate2.json").read_text())
    assert data["gate"] == 2
    assert [c["key"] for c in data["criteria"]] == [c.metric for c in GATES[2].criteria]
    assert {c["verdict"] for c in data["criteria"]} == {"PASS"}
    assert any("a 7-day report cannot give GO" in n for n in data["notes"])
    assert data["verdict"] == "NO-GO"
    assert result.exit_code == 1


def test_rodage_when_data_dir_missing_then_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(report_app, ["rodage", "--data-dir", str(tmp_path / "nope")])

    assert result.exit_code == 2
    assert "no session data directory" in result.output
