"""Fail closed by construction: a matrix of damaged safety state x the ways a session starts.

One real paper session leaves a data dir; a person turns the kill-switch on with the CLI (so the
audit trail says ON). Each case copies that dir and damages ``risk.json`` or ``control.jsonl`` the
way a disk, an editor or an operator might. Then each start path must refuse to be ACTIVE:

- a paper session starts REDUCING, the kill-switch on with the problem as its reason, audited;
- the live start checks refuse, naming the problem, before any venue call;
- ``thunes status`` shows REDUCING with the reason (or one ``error:`` line) and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog.testing
from typer.testing import CliRunner

from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.safety_state import inspect_safety, last_audited_switches
from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.cli.main import app
from thunes.app.config import Settings
from thunes.risk import SAFETY_ACTOR, TradingState
from thunes.session.paper import PaperConfig, run_paper

pytestmark = pytest.mark.slow  # a costly module-scoped setup: its tests stay on one xdist worker

KEY, SECRET = "AKlive-key-7777", "live-secret-8888"
LIVE_ENV = {"THUNES_BINANCE_API_KEY": KEY, "THUNES_BINANCE_API_SECRET": SECRET, "THUNES_SECRETS": "env:"}
STALE = "risk.before-on.json"  # risk.json as it was before the kill-switch went on (a valid, stale copy)


def files(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``data_dir``: its bytes and modification time (what "nothing changed" means)."""
    out = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(data_dir))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def settings(module_settings: Settings) -> Settings:
    return module_settings


@pytest.fixture(scope="module")
def baseline(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir a real session used, then the kill-switch turned on by a person (no trader running)
    and a session resumed under it."""
    data_dir = tmp_path_factory.mktemp("baseline") / "session"
    asyncio.run(run_paper(settings, PaperConfig(duration_s=3.0, speed=72_000.0, data_dir=data_dir), lambda s: None))
    shutil.copy2(data_dir / "risk.json", data_dir.parent / STALE)
    on = CliRunner().invoke(
        app, ["kill-switch", "on", "--by", "alice", "--reason", "drill", "--data-dir", str(data_dir)]
    )
    assert on.exit_code == 0, on.output
    assert last_audited_switches(data_dir)["kill_switch"].active  # the CLI audited it
    resumed = PaperConfig(duration_s=1.0, speed=72_000.0, data_dir=data_dir, fresh=False)
    assert asyncio.run(run_paper(settings, resumed, lambda s: None)).kill_switch  # a trader applied the request
    return data_dir


def _write(text: str | bytes) -> Callable[[Path], None]:
    def damage(data_dir: Path) -> None:
        path = data_dir / "risk.json"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    return damage


def _retype(change: Callable[[dict], None]) -> Callable[[Path], None]:  # type: ignore[type-arg]
    def damage(data_dir: Path) -> None:
        path = data_dir / "risk.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return damage


def _missing(data_dir: Path) -> None:
    (data_dir / "risk.json").unlink()


def _truncated(data_dir: Path) -> None:
    path = data_dir / "risk.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _a_directory(data_dir: Path) -> None:
    (data_dir / "risk.json").unlink()
    (data_dir / "risk.json").mkdir()


def _no_permission(data_dir: Path) -> None:
    (data_dir / "risk.json").chmod(0)


def _stale_copy(data_dir: Path) -> None:
    shutil.copy2(data_dir.parent / STALE, data_dir / "risk.json")  # kill-switch off; the audit trail says on


def _control_garbled(data_dir: Path) -> None:
    with (data_dir / "control.jsonl").open("a") as handle:
        handle.write('{"seq": 2, "action": "KILL_SWITCH_\n')


def _set(path: str, value: object) -> Callable[[dict], None]:  # type: ignore[type-arg]
    def change(data: dict) -> None:  # type: ignore[type-arg]
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value

    return change


def _unknown_count(change: Callable[[dict], None]) -> Callable[[dict], None]:  # type: ignore[type-arg]
    def unknown(data: dict) -> None:  # type: ignore[type-arg]
        change(data)
        del data["fills_booked"]

    return unknown


# (name, damage, words the reason must contain, risk.json unreadable)
CASES = [
    ("missing", _missing, "missing although a session ran here", False),
    ("empty", _write(""), "cannot be read", True),
    ("truncated", _truncated, "cannot be read", True),
    ("garbage", _write(b"\x00\xff garbage \xfe"), "cannot be read", True),
    ("not an object", _write("[]"), "cannot be read", True),
    ("active as a string", _retype(_set("kill_switch.active", "false")), "active must be bool", True),
    ("loss as NaN", _retype(_set("realized_pnl_today", "NaN")), "finite", True),
    ("loss as a float", _retype(_set("realized_pnl_today", -12.5)), "must be str", True),
    ("positions as a dict", _retype(_set("positions", {})), "must be list", True),
    ("trading state contradicts", _retype(_set("trading_state", "ACTIVE")), "contradicts", True),
    ("a directory", _a_directory, "cannot be read", True),
    ("no read permission", _no_permission, "cannot be read", True),
    ("contradicts the audit trail", _stale_copy, "audit trail's last record", False),
    ("control.jsonl garbled", _control_garbled, "operator request may be lost", False),
    # A file from before the fill count: judged by the clocks, as then.
    ("older than the ledger, no fill count", _retype(_unknown_count(_set("updated_ns", 1))), "a stale copy", False),
    ("booked more fills than the ledger", _retype(_set("fills_booked", 10**6)), "the ledger holds", False),
]
IDS = [c[0] for c in CASES]


def _damaged(baseline: Path, tmp_path: Path, damage: Callable[[Path], None], name: str) -> Path:
    if name == "no read permission" and os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    data_dir = tmp_path / "session"
    shutil.copytree(baseline, data_dir, symlinks=True)
    shutil.copy2(baseline.parent / STALE, tmp_path / STALE)
    damage(data_dir)
    return data_dir


@pytest.mark.parametrize(("name", "damage", "words", "unreadable"), CASES, ids=IDS)
def test_paper_start_when_safety_state_damaged_then_reducing_with_the_reason(
    settings: Settings, baseline: Path, tmp_path: Path, name: str, damage: Callable[[Path], None], words: str,
    unreadable: bool,
) -> None:  # fmt: skip
    data_dir = _damaged(baseline, tmp_path, damage, name)
    damaged_bytes = None if not unreadable or name == "a directory" else (data_dir / "risk.json").read_bytes()
    seen: list[bool] = []

    with structlog.testing.capture_logs() as logs:  # whatever logging an earlier test configured
        status = asyncio.run(run_paper(settings, PaperConfig(duration_s=2.0, speed=72_000.0, data_dir=data_dir,
                                                             fresh=False), lambda s: seen.append(s.kill_switch)))  # fmt: skip

    stored = JsonFileRiskStore(data_dir / "risk.json").load()
    assert stored is not None
    assert stored.trading_state is TradingState.REDUCING  # never ACTIVE
    assert status.kill_switch is True
    assert all(seen)  # from the first bar on
    assert status.filled == 0  # no BUY passes REDUCING (and the restarted venue holds nothing to sell)
    audited = last_audited_switches(data_dir)["kill_switch"]
    assert audited.active
    logged = [entry for entry in logs if entry["event"] == "safety_state_reducing"]
    assert len(logged) == 1
    assert any(words in problem for problem in logged[0]["problems"])
    if stored.kill_switch.by == SAFETY_ACTOR:  # switched on by the check (not still on by alice, kept as first cause)
        assert words in stored.kill_switch.reason
        assert audited.by == SAFETY_ACTOR
        assert words in audited.reason
    else:
        assert stored.kill_switch.by == "alice"
        assert name in ("control.jsonl garbled", "older than the ledger, no fill count",
                        "booked more fills than the ledger")  # fmt: skip
    if unreadable:  # set aside, kept as it was: never overwritten, never deleted
        kept = list(data_dir.glob("risk.json.damaged-*"))
        assert len(kept) == 1
        if damaged_bytes is not None:
            assert kept[0].read_bytes() == damaged_bytes


@pytest.mark.parametrize(("name", "damage", "words", "unreadable"), CASES, ids=IDS)
def test_live_start_when_safety_state_damaged_then_refused_with_the_reason_and_nothing_written(
    baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, damage: Callable[[Path], None],
    words: str, unreadable: bool,
) -> None:  # fmt: skip
    data_dir = _damaged(baseline, tmp_path, damage, name)
    monkeypatch.chdir(tmp_path)
    before = files(data_dir)

    result = CliRunner().invoke(app, ["trade", "--live", "--confirm-live", "--data-dir", str(data_dir)], env=LIVE_ENV)

    assert result.exit_code == 2
    assert result.output.startswith("error: live trading refused")
    assert result.output.count("\n") == 1
    assert words in result.output
    assert files(data_dir) == before


@pytest.mark.parametrize(("name", "damage", "words", "unreadable"), CASES, ids=IDS)
def test_status_when_safety_state_damaged_then_reducing_or_one_error_line_and_nothing_written(
    baseline: Path, tmp_path: Path, name: str, damage: Callable[[Path], None], words: str, unreadable: bool
) -> None:
    data_dir = _damaged(baseline, tmp_path, damage, name)
    before = files(data_dir)

    result = CliRunner().invoke(app, ["status", "--data-dir", str(data_dir)], terminal_width=400)
    switch = CliRunner().invoke(app, ["kill-switch", "status", "--data-dir", str(data_dir)], terminal_width=400)

    assert files(data_dir) == before
    if unreadable:
        for done in (result, switch):
            assert done.exit_code == 2
            assert done.output.startswith("error: cannot read the risk state")
            assert done.output.count("\n") == 1
        return
    assert result.exit_code == switch.exit_code == 0
    assert "REDUCING" in result.output
    assert words in " ".join(result.output.split())
    assert "the next session starts REDUCING" in switch.output
    assert "kill-switch off" not in switch.output  # an off nobody can vouch for is never shown as off
    assert switch.output.startswith(("kill-switch ON", "kill-switch unknown"))
    assert "ACTIVE" not in result.output


def test_inspect_when_nothing_recorded_yet_then_fresh_and_when_a_trace_left_then_missing(tmp_path: Path) -> None:
    assert inspect_safety(tmp_path / "nothing").fresh
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / ".audit.lock").write_bytes(b"")  # a first run killed before it saved anything
    SqlStore(f"sqlite:///{tmp_path / 'ledger.db'}").close()  # a ledger without a row
    assert inspect_safety(tmp_path).fresh
    (tmp_path / "ledger.db").write_bytes(b"not a database, so maybe one with orders")

    report = inspect_safety(tmp_path)

    assert not report.fresh
    assert "missing although a session ran here (ledger.db)" in report.problems[0]


def _ledger_count(data_dir: Path) -> int:
    store = SqlStore(f"sqlite:///{data_dir / 'ledger.db'}")
    try:
        return len(store.booked_fills())
    finally:
        store.close()


def test_inspect_when_saved_days_before_the_newest_fill_but_booked_every_fill_then_no_problem(
    baseline: Path, tmp_path: Path
) -> None:
    # A restarted paper venue replays ahead of the trader: every fill carries a later clock than
    # risk.json's last save. The count of booked fills, not the clocks, says whether it is whole.
    data_dir = _damaged(baseline, tmp_path, _retype(_set("updated_ns", 1)), "saved long before")
    stored = JsonFileRiskStore(data_dir / "risk.json").load()
    assert stored is not None
    assert stored.fills_booked == _ledger_count(data_dir) > 0

    report = inspect_safety(data_dir)

    assert report.problems == ()


def test_paper_start_when_risk_json_restored_from_before_the_fills_then_they_are_booked_from_the_ledger(
    settings: Settings, baseline: Path, tmp_path: Path
) -> None:
    # risk.json as the first session wrote it at its start: no fill booked, no loss, nothing held;
    # the kill-switch as the audit trail has it (on), so only the fill count is behind.
    def before_the_fills(data: dict) -> None:  # type: ignore[type-arg]
        data.update(fills_booked=0, realized_pnl_today="0", positions=[], reservations=[], cool_down_until_ns=None)

    data_dir = _damaged(baseline, tmp_path, _retype(before_the_fills), "restored from before the fills")
    count = _ledger_count(data_dir)
    assert inspect_safety(data_dir).problems == ()  # nothing a person must clear: the session books them

    with structlog.testing.capture_logs() as logs:
        asyncio.run(run_paper(settings, PaperConfig(duration_s=1.0, speed=72_000.0, data_dir=data_dir, fresh=False),
                              lambda s: None))  # fmt: skip

    caught = [entry for entry in logs if entry["event"] == "risk_caught_up"]
    assert len(caught) == 1
    assert caught[0]["fills"] == count
    stored = JsonFileRiskStore(data_dir / "risk.json").load()
    assert stored is not None
    assert stored.fills_booked == _ledger_count(data_dir)
