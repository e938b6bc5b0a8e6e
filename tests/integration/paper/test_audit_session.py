"""A paper session leaves a hash-chained audit trail: one record per decision, verifiable by the
CLI, and a single edited line makes verification fail at that line."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from thunes.adapters.storage.audit_jsonl import AuditLogError
from thunes.app.cli.main import app
from thunes.app.config import load_settings
from thunes.session.paper import PaperConfig, run_paper


@pytest.fixture
def settings(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_STRATEGY__SMA_FAST", "5")
    monkeypatch.setenv("THUNES_STRATEGY__SMA_SLOW", "20")
    return load_settings()


def test_audit_when_session_ran_then_verify_accepts_and_an_edited_line_is_named(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "paper"
    status = asyncio.run(run_paper(settings, PaperConfig(duration_s=6.0, speed=72_000.0, data_dir=data_dir),
                                   lambda s: None))  # fmt: skip
    runner = CliRunner()
    audit_dir = data_dir / "audit"

    ok = runner.invoke(app, ["audit", "verify", "--dir", str(audit_dir)])
    files = sorted(audit_dir.glob("audit-*.jsonl"))
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    events = Counter(r["event"] for r in records)
    with create_engine(f"sqlite:///{data_dir / 'audit.db'}").connect() as db:
        in_db = db.execute(text("SELECT COUNT(*) FROM audit_records")).scalar_one()

    assert ok.exit_code == 0, ok.output
    assert status.submitted > 0
    assert events["TRADE_APPROVED"] == status.submitted  # one approval per order the trader sent
    assert events["ORDER_FILLED"] == status.ledger_fills
    assert events["TRADE_REJECTED"] == sum(status.denied.values())
    assert in_db == len(records)  # the database copy holds every record
    assert all(r["param_hash"] and r["strategy_id"] == "sma_cross" for r in records)

    target = files[-1]
    lines = target.read_text().splitlines(keepends=True)
    victim = next(i for i, line in enumerate(lines) if '"ORDER_FILLED"' in line)
    lines[victim] = lines[victim].replace('"ORDER_FILLED"', '"ORDER_CANCELED"')
    target.write_text("".join(lines))
    tampered = runner.invoke(app, ["audit", "verify", "--dir", str(audit_dir)])

    assert tampered.exit_code == 1
    assert f"{target.name}:{victim + 1}" in tampered.output


def test_audit_when_a_sessions_newest_records_are_cut_then_verify_fails_and_resume_is_refused(
    settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    data_dir = tmp_path / "paper"
    asyncio.run(run_paper(settings, PaperConfig(duration_s=4.0, speed=72_000.0, data_dir=data_dir), lambda s: None))
    audit_dir = data_dir / "audit"
    newest = sorted(audit_dir.glob("audit-*.jsonl"))[-1]
    newest.write_text("".join(newest.read_text().splitlines(keepends=True)[:-1]))  # the last record cut off

    verdict = CliRunner().invoke(app, ["audit", "verify", "--dir", str(audit_dir)])
    config = PaperConfig(duration_s=4.0, speed=72_000.0, data_dir=data_dir, fresh=False)

    assert verdict.exit_code == 1, verdict.output
    assert "TRUNCATED" in verdict.output
    with pytest.raises(AuditLogError, match="cut off"):
        asyncio.run(run_paper(settings, config, lambda s: None))
