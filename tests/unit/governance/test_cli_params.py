"""``thunes params history|diff|record|snapshot|decay`` through typer's CliRunner, on real stores."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.governance import CONTEXT
from tests.unit.governance.test_rodage import Plan, write_session
from thunes.adapters.storage.audit_jsonl import AuditLog, read_records
from thunes.adapters.storage.audit_verify import verify
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.app.audit_setup import audit_context
from thunes.app.cli.params import params_app
from thunes.app.config import load_settings
from thunes.governance import AuditEvent, AuditRecord
from thunes.governance.params import SharpeSnapshot

runner = CliRunner()
DAY0 = date(2026, 11, 23)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No thunes.toml here; the strategy comes from the environment, as an operator's would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_STRATEGY__SMA_FAST", "5")
    monkeypatch.setenv("THUNES_STRATEGY__SMA_SLOW", "20")
    (tmp_path / "paper").mkdir()  # the session's data dir: record and snapshot never create one
    return tmp_path


def _record(*extra: str) -> str:
    result = runner.invoke(params_app, ["record", "--data-dir", "paper", "--by", "alice", "--why", "tuning", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _audited(data_dir: Path) -> list[AuditRecord]:
    return [item for _, _, item in read_records(data_dir / "audit") if isinstance(item, AuditRecord)]


def test_record_when_run_twice_then_one_version_one_audit_record_and_the_trails_hash(workdir: Path) -> None:
    first = _record("--backtest-sharpe", "1.8", "--wf-sharpe", "1.6")
    second = _record()

    history = runner.invoke(params_app, ["history", "--db", "paper/params.db"])
    expected_hash = audit_context(load_settings()).param_hash
    records = _audited(workdir / "paper")
    assert f"recorded sma_cross v1 (param hash {expected_hash})" in first
    assert f"unchanged: sma_cross v1 already has param hash {expected_hash}" in second
    assert [(r.event, r.param_hash, r.reason) for r in records] == [
        (AuditEvent.PARAMETER_UPDATED, expected_hash, "tuning")]  # fmt: skip
    assert verify(workdir / "paper" / "audit").ok
    assert history.exit_code == 0
    assert expected_hash in history.output
    assert "1.80" in history.output
    assert "1.60" in history.output
    assert "1 versions" in history.output


def test_record_when_a_session_holds_the_audit_trail_then_refused_and_nothing_stored(workdir: Path) -> None:
    with AuditLog(workdir / "paper" / "audit"):
        result = runner.invoke(params_app, ["record", "--data-dir", "paper"])

    assert result.exit_code == 2
    assert "while no session runs" in result.output
    store = SqlParamStore(f"sqlite:///{workdir / 'paper' / 'params.db'}")
    assert store.history() == []
    store.close()


def test_diff_when_a_parameter_changed_then_it_alone_is_marked(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _record()
    before = audit_context(load_settings()).param_hash
    monkeypatch.setenv("THUNES_STRATEGY__SMA_FAST", "7")
    _record()
    after = audit_context(load_settings()).param_hash

    result = runner.invoke(params_app, ["diff", before[:8], after, "--db", "paper/params.db"])

    assert result.exit_code == 0, result.output
    changed = [line for line in result.output.splitlines() if line.lstrip("│ ").startswith("*")]
    assert len(changed) == 1
    assert "sma_fast" in changed[0]
    assert "5" in changed[0]
    assert "7" in changed[0]
    assert "1 of 7 parameters differ" in result.output


def test_diff_when_hash_unknown_then_usage_error(workdir: Path) -> None:
    _record()

    result = runner.invoke(params_app, ["diff", "ffff", "0000", "--db", "paper/params.db"])

    assert result.exit_code == 2
    assert "no version with a param hash starting 'ffff'" in result.output


def test_read_commands_when_no_history_then_usage_error(workdir: Path) -> None:
    for command in (["history"], ["decay"], ["diff", "a", "b"]):
        result = runner.invoke(params_app, [*command, "--db", "missing.db"])

        assert result.exit_code == 2
        assert "no parameter history at missing.db" in result.output


def test_decay_when_three_weak_days_then_warning_shown_with_the_snapshots(workdir: Path) -> None:
    store = SqlParamStore(f"sqlite:///{workdir / 'p.db'}")
    for i, value in enumerate([1.4, 0.9, 0.8, 0.6]):
        store.put_snapshot(SharpeSnapshot("sma_cross", "h1", DAY0 + timedelta(days=i), value, None, 6, 0))
    store.close()

    result = runner.invoke(params_app, ["decay", "--db", "p.db"])

    assert result.exit_code == 0, result.output
    assert "sma_cross h1: WARNING" in result.output
    assert "0.90, 0.80, 0.60" in result.output
    assert "2026-11-26" in result.output


def test_snapshot_when_run_on_a_session_then_daily_snapshots_stored_and_one_alert_per_change(workdir: Path) -> None:
    write_session(workdir / "paper", Plan()).log.close()
    args = ["snapshot", "--data-dir", "paper"]

    first = runner.invoke(params_app, args)
    again = runner.invoke(params_app, args)

    store = SqlParamStore(f"sqlite:///{workdir / 'paper' / 'params.db'}")
    snapshots = store.snapshots(CONTEXT.strategy_id, CONTEXT.param_hash)
    store.close()
    assert first.exit_code == 0, first.output
    assert [s.day for s in snapshots] == [DAY0 + timedelta(days=i) for i in range(8)]
    assert snapshots[-1].closed_trades == 6  # the round trips of the 24th..29th
    assert "decay state changed: INSUFFICIENT_DATA → OK" in first.output
    assert "decay state changed" not in again.output
    assert f"{CONTEXT.strategy_id} {CONTEXT.param_hash}: OK" in again.output


@pytest.mark.parametrize("args", [["record", "--data-dir", "typo"], ["record", "--data-dir", "paper", "--db", ""],
                                  ["snapshot", "--data-dir", "paper", "--db", ""]])  # fmt: skip
def test_record_or_snapshot_when_data_dir_missing_or_db_empty_then_refused_and_nothing_written(
    workdir: Path, args: list[str]
) -> None:
    # record created a missing --data-dir and wrote params.db first; --db "" quietly meant DATA_DIR/params.db.
    if args[0] == "snapshot":
        write_session(workdir / "paper", Plan()).log.close()
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))

    result = runner.invoke(params_app, args)

    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before
