"""The operator's commands on a session's safety state: read-only commands write nothing, a folder no
session uses is refused, a garbled control file refuses before anything is changed, and a change
keeps the session's day and loss (issue 15, items 4, 5 and 7)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.adapters.storage.audit_jsonl import read_records
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.safety_state import inspect_safety, last_audited_switches
from thunes.app.audit_setup import open_audit
from thunes.app.cli.main import app
from thunes.app.config import Settings
from thunes.risk import RiskSnapshot
from thunes.risk.state import utc_day
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

pytestmark = pytest.mark.slow  # a costly module-scoped setup: its tests stay on one xdist worker

THUNES = str(Path(sys.executable).with_name("thunes"))
MARKET_DAY = "2024-09-20"  # a replayed day, two years before the wall clock


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its bytes and modification time, and every folder's name."""
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mtime_ns) if path.is_file() else (b"", 0)
    return out


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([THUNES, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "300"})  # fmt: skip


@pytest.fixture(scope="module")
def session(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir a real paper session left, with a loss on its market day stored in risk.json."""
    settings = module_settings
    data_dir = tmp_path_factory.mktemp("session") / "paper"
    asyncio.run(run_paper(settings, PaperConfig(duration_s=3.0, speed=72_000.0, data_dir=data_dir), lambda s: None))
    store = JsonFileRiskStore(data_dir / "risk.json")
    stored = store.load()
    assert stored is not None
    assert stored.day.year < 2025  # the market's day, not the wall's
    return data_dir


def _synthetic(data_dir: Path, loss: str = "-7.5") -> Path:
    """A session's data dir without running one: its risk state on a market day, an audit trail."""
    data_dir.mkdir(parents=True)
    snapshot = RiskSnapshot(day=utc_day(1_726_790_400 * 10**9), realized_pnl_today=Decimal(loss))
    JsonFileRiskStore(data_dir / "risk.json").save(snapshot)
    log, sink = open_audit(data_dir)
    log.close()
    sink.close()
    return data_dir


# --- item 4: read-only commands never write ------------------------------------------------------
READ_ONLY = [
    ("status", "--data-dir", "{d}"),
    ("positions", "--data-dir", "{d}"),
    ("portfolio", "--data-dir", "{d}"),
    ("portfolio", "--data-dir", "{d}", "--json"),
    ("orders", "--data-dir", "{d}"),
    ("kill-switch", "status", "--data-dir", "{d}"),
    ("audit", "verify", "--dir", "{d}/audit"),
    ("audit", "show", "--dir", "{d}/audit"),
]


@pytest.mark.parametrize("command", READ_ONLY, ids=[" ".join(c[:2]) + " --json" * ("--json" in c) for c in READ_ONLY])
def test_read_only_command_when_run_then_data_dir_byte_identical_mtimes_included(
    session: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    before = files(session)

    done = run(*(part.format(d=session) for part in command), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert files(session) == before


def test_status_when_paper_session_then_its_market_day_and_loss_are_shown_not_reset(
    session: Path, tmp_path: Path
) -> None:
    stored = JsonFileRiskStore(session / "risk.json").load()
    assert stored is not None

    done = run("status", "--data-dir", str(session), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert f"{stored.realized_pnl_today:.4f} (day {stored.day.isoformat()})" in done.stdout
    assert JsonFileRiskStore(session / "risk.json").load() == stored


# --- item 5: a folder no session uses -------------------------------------------------------------
def _typo(tmp_path: Path) -> Path:
    return tmp_path / "data" / "papr"


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _home_like(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    return tmp_path / "home"


KILL_SWITCH = [["on"], ["on", "--reason", "drill"], ["off", "--by", "alice"], ["status"]]


@pytest.mark.parametrize("make", [_typo, _empty, _home_like], ids=["typo", "empty dir", "unrelated dir"])
@pytest.mark.parametrize("args", KILL_SWITCH, ids=[" ".join(a) for a in KILL_SWITCH])
def test_kill_switch_when_not_a_session_dir_then_one_error_exit_2_and_nothing_created(
    tmp_path: Path, make: object, args: list[str]
) -> None:
    data_dir = make(tmp_path)  # type: ignore[operator]
    before = files(tmp_path)

    done = CliRunner().invoke(app, ["kill-switch", *args, "--data-dir", str(data_dir)])

    assert done.exit_code == 2
    assert done.output.startswith("error: ")
    assert done.output.count("\n") == 1
    assert "is not a THUNES data directory" in done.output
    assert files(tmp_path) == before


def test_kill_switch_on_when_typo_dir_in_a_process_then_no_folder_and_no_traceback(tmp_path: Path) -> None:
    done = run("kill-switch", "on", "--data-dir", "data/papr", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert not (tmp_path / "data").exists()


# --- item 7: a garbled control file ---------------------------------------------------------------
GARBLED = {
    "not json": b'{"seq": 1, "action": "KILL_SWITCH_ON", "by": "a", "reason": "r", "wall_ns": 1}\nnot json\n',
    "half a line then more": b'{"seq": 1, "action": "KILL_SW\n{"seq": 2, "action": "KILL_SWITCH_ON", "by": "a", '
    b'"reason": "r", "wall_ns": 1}\n',
    "wrong types": b'{"seq": "1", "action": "KILL_SWITCH_ON", "by": "a", "reason": "r", "wall_ns": 1}\n',
    "unknown action": b'{"seq": 1, "action": "SELL_EVERYTHING", "by": "a", "reason": "r", "wall_ns": 1}\n',
    "not utf-8": b"\xff\xfe\xfd\n",
    "applied not a number": None,
}


def _garble(data_dir: Path, garble: str) -> None:
    content = GARBLED[garble]
    if content is None:
        (data_dir / "control.applied").write_text("seven")
    else:
        (data_dir / "control.jsonl").write_bytes(content)


@pytest.mark.parametrize("garble", GARBLED, ids=list(GARBLED))
def test_kill_switch_off_when_control_file_garbled_then_one_error_exit_2_and_nothing_half_applied(
    tmp_path: Path, garble: str
) -> None:
    data_dir = _synthetic(tmp_path / "s")
    runner = CliRunner()
    assert runner.invoke(app, ["kill-switch", "on", "--data-dir", str(data_dir)]).exit_code == 0
    _garble(data_dir, garble)
    before = files(data_dir)

    done = runner.invoke(app, ["kill-switch", "off", "--by", "alice", "--data-dir", str(data_dir)])

    assert done.exit_code == 2, done.output
    assert done.output.startswith("error: ")
    assert done.output.count("\n") == 1
    assert "nothing was changed" in done.output
    assert files(data_dir) == before


@pytest.mark.parametrize("garble", GARBLED, ids=list(GARBLED))
def test_kill_switch_on_when_control_file_garbled_then_still_on_with_a_warning_and_the_garbled_lines_kept(
    tmp_path: Path, garble: str
) -> None:
    """Turning the switch on is never blocked: it is the safe direction (a running trader still gets
    the request); the damage is reported and left for a person."""
    data_dir = _synthetic(tmp_path / "s")
    _garble(data_dir, garble)
    kept = (data_dir / "control.jsonl").read_bytes() if GARBLED[garble] is not None else None

    done = CliRunner().invoke(app, ["kill-switch", "on", "--by", "alice", "--data-dir", str(data_dir)])

    assert done.exit_code == 0, done.output
    assert done.stdout == "kill-switch ON\n"
    assert done.stderr.startswith("warning: ") and "starts REDUCING" in done.stderr
    stored = JsonFileRiskStore(data_dir / "risk.json").load()
    assert stored is not None and stored.kill_switch.active
    if kept is not None:
        assert (data_dir / "control.jsonl").read_bytes().startswith(kept.rstrip(b"\n"))
    assert inspect_safety(data_dir).problems  # the next start is REDUCING until a person fixes the file


def test_kill_switch_when_risk_json_damaged_then_on_posts_without_touching_it_and_off_refuses(tmp_path: Path) -> None:
    data_dir = _synthetic(tmp_path / "s")
    (data_dir / "risk.json").write_text('{"schema_version": 1, "kill_switch": {"active": "no"')
    runner = CliRunner()
    before = files(data_dir)

    refused = runner.invoke(app, ["kill-switch", "off", "--by", "alice", "--data-dir", str(data_dir)])
    unchanged = files(data_dir)
    on = runner.invoke(app, ["kill-switch", "on", "--by", "carol", "--data-dir", str(data_dir)])

    assert refused.exit_code == 2 and refused.output.startswith("error: cannot read the risk state")
    assert unchanged == before
    assert on.exit_code == 0
    assert "left as it is" in on.stderr
    assert (data_dir / "risk.json").read_bytes() == before["risk.json"][0]
    posted = [json.loads(line) for line in (data_dir / "control.jsonl").read_text().splitlines()]
    assert [(r["action"], r["by"]) for r in posted] == [("KILL_SWITCH_ON", "carol")]


def test_control_file_when_applied_mark_past_the_requests_then_a_problem_and_new_requests_numbered_after_it(
    tmp_path: Path,
) -> None:
    data_dir = _synthetic(tmp_path / "s")
    (data_dir / "control.applied").write_text("7")  # control.jsonl lost, its applied mark kept

    report = inspect_safety(data_dir)
    on = CliRunner().invoke(app, ["kill-switch", "on", "--data-dir", str(data_dir)])

    assert any("requests were lost" in p for p in report.problems)
    assert on.exit_code == 0
    posted = [json.loads(line) for line in (data_dir / "control.jsonl").read_text().splitlines()]
    assert [r["seq"] for r in posted] == [8]  # a running trader applies it: 8 > 7


# --- the switch changes; the session's day and loss do not ----------------------------------------
def test_kill_switch_on_then_off_when_no_trader_then_day_and_loss_kept_and_audited(tmp_path: Path) -> None:
    data_dir = _synthetic(tmp_path / "s", loss="-7.5")
    runner = CliRunner()

    on = runner.invoke(app, ["kill-switch", "on", "--by", "alice", "--reason", "drill", "--data-dir", str(data_dir)])
    after_on = JsonFileRiskStore(data_dir / "risk.json").load()
    audited_on = last_audited_switches(data_dir)["kill_switch"]
    off = runner.invoke(app, ["kill-switch", "off", "--by", "bob", "--data-dir", str(data_dir)])
    after_off = JsonFileRiskStore(data_dir / "risk.json").load()

    assert on.exit_code == off.exit_code == 0
    assert after_on is not None and after_off is not None
    assert after_on.kill_switch.active and not after_off.kill_switch.active
    for stored in (after_on, after_off):
        assert stored.day.isoformat() == MARKET_DAY
        assert str(stored.realized_pnl_today) == "-7.5"
    assert audited_on.active and audited_on.by == "alice"
    assert not last_audited_switches(data_dir)["kill_switch"].active
    assert inspect_safety(data_dir).problems == ()  # what a person did agrees with the audit trail
    lines = [json.loads(line) for line in (data_dir / "control.jsonl").read_text().splitlines()]
    assert [(line["action"], line["by"]) for line in lines] == [("KILL_SWITCH_ON", "alice"), ("KILL_SWITCH_OFF", "bob")]


@pytest.mark.parametrize("by", ["", "  ", "risk-engine", "safety-check", "reconciliation"])
def test_kill_switch_off_when_not_a_person_then_refused_and_nothing_written(tmp_path: Path, by: str) -> None:
    data_dir = _synthetic(tmp_path / "s")
    runner = CliRunner()
    runner.invoke(app, ["kill-switch", "on", "--data-dir", str(data_dir)])
    before = files(data_dir)

    done = runner.invoke(app, ["kill-switch", "off", "--by", by, "--data-dir", str(data_dir)])

    assert done.exit_code == 2
    assert done.output.startswith("error: ") and done.output.count("\n") == 1
    assert files(data_dir) == before


def test_kill_switch_off_when_risk_json_missing_then_a_person_sets_it_and_the_next_start_is_clean(
    tmp_path: Path,
) -> None:
    data_dir = _synthetic(tmp_path / "s")
    runner = CliRunner()
    runner.invoke(app, ["kill-switch", "on", "--data-dir", str(data_dir)])
    (data_dir / "risk.json").unlink()
    assert inspect_safety(data_dir).problems  # missing, while the audit trail says on

    done = runner.invoke(app, ["kill-switch", "off", "--by", "alice", "--data-dir", str(data_dir)])

    assert done.exit_code == 0, done.output
    assert inspect_safety(data_dir).problems == ()


# --- a running trader (no control API) holds the audit trail: it audits what it applies -----------
def _until(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_kill_switch_when_a_trader_runs_without_api_then_it_audits_each_request_and_the_next_start_is_clean(
    module_settings: Settings, tmp_path: Path
) -> None:
    data_dir = tmp_path / "running"
    config = PaperConfig(duration_s=300.0, speed=36_000.0, data_dir=data_dir)
    trading, stop = threading.Event(), asyncio.Event()
    seen: dict[str, object] = {}
    statuses: list[PaperStatus] = []

    def operate(loop: asyncio.AbstractEventLoop) -> None:
        try:
            assert trading.wait(120)
            runner = CliRunner()
            seen["on"] = runner.invoke(app, ["kill-switch", "on", "--by", "alice", "--data-dir", str(data_dir)])
            _until(lambda: statuses[-1].control_requests >= 1 and statuses[-1].kill_switch)
            seen["off"] = runner.invoke(app, ["kill-switch", "off", "--by", "bob", "--data-dir", str(data_dir)])
            _until(lambda: statuses[-1].control_requests >= 2 and not statuses[-1].kill_switch)
        finally:
            loop.call_soon_threadsafe(stop.set)

    def on_bar(status: PaperStatus) -> None:
        statuses.append(status)
        if status.bars >= 3:
            trading.set()

    async def main() -> PaperStatus:
        operator = threading.Thread(target=operate, args=(asyncio.get_running_loop(),))
        operator.start()
        try:
            return await run_paper(module_settings, config, on_bar, stop)
        finally:
            await asyncio.to_thread(operator.join, 120)

    asyncio.run(main())

    assert getattr(seen["on"], "exit_code", None) == 0
    assert getattr(seen["off"], "exit_code", None) == 0
    events = [(r.event.value, (r.metadata or {}).get("by")) for _, _, r in read_records(data_dir / "audit")
              if not isinstance(r, Exception) and r.event.value.startswith("KILL_SWITCH")]  # fmt: skip
    assert events == [("KILL_SWITCH_ACTIVATED", "alice"), ("KILL_SWITCH_DEACTIVATED", "bob")]
    assert inspect_safety(data_dir).problems == ()
