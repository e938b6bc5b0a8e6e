"""A short accelerated paper session end to end: venue server, ccxt client, streams, engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.waiting import until
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.app.cli.main import app
from thunes.app.config import load_settings
from thunes.governance.rodage import SESSION_MARKS_FILE
from thunes.risk import RiskSnapshot, utc_day
from thunes.session.paper import PaperConfig, PaperStatus, run_paper


@pytest.fixture
def settings(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_STRATEGY__SMA_FAST", "5")
    monkeypatch.setenv("THUNES_STRATEGY__SMA_SLOW", "20")
    return load_settings()


def test_paper_session_when_run_then_every_venue_fill_is_in_the_ledger_and_nothing_rejected(
    settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    updates: list[int] = []
    config = PaperConfig(duration_s=8.0, speed=72_000.0, data_dir=tmp_path / "paper")

    status: PaperStatus = asyncio.run(run_paper(settings, config, lambda s: updates.append(s.bars)))

    assert status.bars > 100
    assert updates == sorted(updates)
    assert status.filled > 4
    assert status.venue_trades == status.ledger_fills == status.filled
    assert status.reconciliations >= 3  # hourly in market time, at most every 2 wall seconds
    assert status.mismatches == 0  # the ledger position equals the venue balance throughout
    assert -1013 not in status.rejected
    assert sum(status.rejected.values()) == 0
    assert (tmp_path / "paper" / "ledger.db").is_file()
    assert (tmp_path / "paper" / "risk.json").is_file()
    summaries = [json.loads(line) for line in (tmp_path / "paper" / "daily_summaries.jsonl").read_text().splitlines()]
    assert len(summaries) == status.daily_summaries >= 2  # 23:00 UTC in market time, once a day
    assert [s["day"] for s in summaries] == sorted({s["day"] for s in summaries})
    assert summaries[-1]["fills"] <= status.filled


def test_kill_switch_when_turned_on_by_cli_then_next_session_buys_nothing(
    settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    runner = CliRunner()
    data_dir = tmp_path / "session"
    typo = runner.invoke(app, ["kill-switch", "on", "--data-dir", str(data_dir)])  # no session there yet
    JsonFileRiskStore(data_dir / "risk.json").save(RiskSnapshot(day=utc_day(0)))  # a session's dir, nothing traded
    on = runner.invoke(app, ["kill-switch", "on", "--reason", "drill", "--data-dir", str(data_dir)])
    refused = runner.invoke(app, ["kill-switch", "off", "--by", "", "--data-dir", str(data_dir)])
    shown = runner.invoke(app, ["kill-switch", "status", "--data-dir", str(data_dir)])

    config = PaperConfig(duration_s=5.0, speed=72_000.0, data_dir=data_dir, fresh=False)
    status = asyncio.run(run_paper(settings, config, lambda s: None))

    assert typo.exit_code == 2
    assert "is not a THUNES data directory" in typo.output
    assert on.exit_code == 0
    assert refused.exit_code == 2
    assert "kill-switch ON" in shown.output
    assert "drill" in shown.output
    assert status.kill_switch is True
    assert status.denied["KILL_SWITCH"] > 0
    assert status.filled == 0


def test_session_commands_when_a_session_ran_then_status_positions_orders_read_its_ledger(
    settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    data_dir = tmp_path / "s"
    runner = CliRunner()
    missing = runner.invoke(app, ["status", "--data-dir", str(data_dir)])
    asyncio.run(run_paper(settings, PaperConfig(duration_s=6.0, speed=72_000.0, data_dir=data_dir), lambda s: None))

    shown = runner.invoke(app, ["status", "--data-dir", str(data_dir)])
    held = runner.invoke(app, ["positions", "--data-dir", str(data_dir)])
    listed = runner.invoke(app, ["orders", "--data-dir", str(data_dir), "--limit", "3"])

    assert missing.exit_code == 2
    assert "no trading session" in missing.output
    assert shown.exit_code == 0
    assert "orders in doubt" in shown.output
    assert "0" in shown.output.split("orders in doubt")[1].splitlines()[0]
    assert held.exit_code == 0
    assert "BTCUSDT" in held.output
    assert listed.exit_code == 0
    assert listed.output.count("FILLED") == 3


def test_trade_process_when_sigterm_then_stops_gracefully_with_a_summary(shared_data: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "THUNES_DATA__SHARED_DATA_DIR": str(shared_data)}
    script = str(Path(sys.executable).with_name("thunes"))
    process = subprocess.Popen(
        [script, "trade", "--paper", "--duration", "120", "--data-dir", str(tmp_path / "s")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        marks = tmp_path / "s" / SESSION_MARKS_FILE  # START: recovered, reconciled, streaming, trading
        until(lambda: marks.is_file() and '"START"' in marks.read_text(), "the session trades", process=process)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, err.decode()
    assert time.monotonic() - started < 30  # long before the 120 s duration
    assert "Summary" in out.decode()
    assert "venue trades / ledger fills" in out.decode()
