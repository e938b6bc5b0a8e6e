"""The service files in ``deploy/``: the systemd unit as systemd reads it (``systemd-analyze``), its
command line as the real CLI parses it, and the logrotate rules run by logrotate in a temporary
directory, proving they rotate the logs and leave the self-rotating audit trail alone."""

from __future__ import annotations

import fnmatch
import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from thunes.app.cli.main import app

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
UNIT = DEPLOY / "systemd" / "thunes.service"
LOGROTATE = DEPLOY / "logrotate" / "thunes"
SETTLE_TIMEOUT_S = 10  # run_paper's graceful stop settles orders in doubt for at most this long


def unit_entries(text: str) -> dict[str, list[tuple[str, str]]]:
    """``[Section]`` -> (key, value) in order; repeated keys kept (systemd accumulates some)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def service() -> dict[str, str]:
    return dict(unit_entries(UNIT.read_text(encoding="utf-8"))["Service"])


def exec_lines() -> list[str]:
    """The active ExecStart and the commented-out live one: both must stay valid."""
    found = re.findall(r"^#?\s*ExecStart=(.+)$", UNIT.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert len(found) == 2, found
    return found


def thunes_argv(exec_start: str) -> tuple[str, list[str], str]:
    """(binary, arguments, log file) from ``/bin/sh -c 'exec BINARY ARGS >>LOG 2>&1'``."""
    shell, flag, script = shlex.split(exec_start)
    assert (shell, flag) == ("/bin/sh", "-c")
    words = shlex.split(script)
    assert words[0] == "exec"  # thunes replaces the shell: SIGTERM reaches it, not sh
    assert words[-1] == "2>&1"
    assert words[-2].startswith(">>")
    return words[1], words[2:-2], words[-2].removeprefix(">>")


def trade_command() -> Any:
    """``thunes trade`` as the CLI builds it (typer's click command; typer vendors its own click)."""
    group: Any = typer.main.get_command(app)
    return group.commands["trade"]


# --- systemd -----------------------------------------------------------------------------------
def test_unit_when_read_then_restart_memory_stop_and_hardening_as_spec_says() -> None:
    s = service()

    assert s["Type"] in ("simple", "notify")
    assert (s["Restart"], s["RestartSec"], s["MemoryMax"], s["KillSignal"]) == ("on-failure", "30", "1G", "SIGTERM")
    assert int(s["TimeoutStopSec"]) >= 3 * SETTLE_TIMEOUT_S  # room for the graceful stop, and a slow venue
    assert s["User"] not in ("root", "0") and s["User"] == s["Group"]
    hardening = {"NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true",
                 "StateDirectory": "thunes", "LogsDirectory": "thunes"}  # fmt: skip
    assert {k: s.get(k) for k in hardening} == hardening


def test_unit_when_hardened_then_still_writes_where_the_session_keeps_state_and_logs() -> None:
    writable = service()["ReadWritePaths"].split()
    for exec_start in exec_lines():
        _, args, log_file = thunes_argv(exec_start)
        data_dir = args[args.index("--data-dir") + 1]

        assert any(Path(data_dir).is_relative_to(w) for w in writable), data_dir
        assert any(Path(log_file).is_relative_to(w) for w in writable), log_file
        assert Path(data_dir).is_relative_to("/var/lib/thunes")  # StateDirectory=thunes
        assert Path(log_file).parent == Path("/var/log/thunes")  # LogsDirectory=thunes, where logrotate looks


@pytest.mark.parametrize("index", [0, 1], ids=["testnet", "live"])
def test_exec_start_when_parsed_by_the_real_cli_then_every_option_accepted(index: int) -> None:
    binary, args, _ = thunes_argv(exec_lines()[index])
    command = trade_command()
    context = command.make_context(args[0], args[1:])  # parses and validates, runs nothing

    assert Path(binary).name == "thunes"
    assert args[0] == "trade"
    assert context.params["resume"] is True
    assert context.params["duration"] >= 30 * 86_400
    assert context.params["metrics_port"] == 9108
    assert context.params["paper"] is (index == 0)
    if index == 1:
        assert context.params["live_confirmed"] is True  # no terminal under systemd: the flag is required


def test_exec_start_when_an_unknown_option_is_passed_then_the_parse_check_would_fail() -> None:
    with pytest.raises(Exception, match="No such option") as caught:
        trade_command().make_context("trade", ["--resume", "--no-such-option"])

    assert type(caught.value).__name__ == "NoSuchOption"


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    return path


def test_unit_when_verified_by_systemd_then_no_error_and_no_warning(systemd_analyze: str) -> None:
    done = subprocess.run([systemd_analyze, "verify", "--man=no", str(UNIT)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert UNIT.name not in output, output  # systemd only *warns* about an unknown key or a bad value


def test_unit_when_scored_by_systemd_security_then_exposure_ok(systemd_analyze: str, tmp_path: Path) -> None:
    done = subprocess.run([systemd_analyze, "security", "--offline=true", str(UNIT)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    if "--offline" in done.stderr and done.returncode != 0:
        pytest.skip("this systemd-analyze cannot score a unit file offline (systemd < 252)")

    score = re.search(r"Overall exposure level for thunes\.service: ([\d.]+)", done.stdout)

    assert score is not None, done.stdout + done.stderr
    assert float(score.group(1)) <= 2.0  # systemd calls < 2.0 "OK"; an unhardened service scores 9.6


# --- logrotate ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def logrotate() -> str:
    path = shutil.which("logrotate")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("logrotate not found: CI must install Debian's logrotate package (see .ci/run)")
        pytest.skip("logrotate not installed (apt-get install logrotate)")
    return path


def local_rules(tmp_path: Path) -> tuple[Path, Path]:
    """The rules with the log directory moved into ``tmp_path`` and ``su`` to this user; (rules, logs)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    user, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    text = LOGROTATE.read_text(encoding="utf-8").replace("/var/log/thunes", str(logs))
    text = text.replace("su thunes thunes", f"su {user} {group}")
    rules = tmp_path / "thunes.logrotate"
    rules.write_text(text, encoding="utf-8")
    rules.chmod(0o644)  # logrotate ignores rules others may write
    return rules, logs


def test_logrotate_when_debugged_then_rules_valid_daily_90(logrotate: str, tmp_path: Path) -> None:
    rules, logs = local_rules(tmp_path)
    (logs / "thunes.log").write_text("line\n")

    done = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"), str(rules)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "error" not in output.lower(), output
    assert f"rotating pattern: {logs}/*.log  after 1 days (90 rotations)" in output


def test_logrotate_when_forced_then_log_rotated_in_place_and_audit_chain_untouched(
    logrotate: str, tmp_path: Path
) -> None:
    rules, logs = local_rules(tmp_path)
    (logs / "thunes.log").write_text("event=one\nevent=two\n")
    audit = logs / "audit-2026-W48.jsonl"  # even if an audit file sat next to the logs...
    audit.write_text('{"event":"ORDER_FILLED","hash":"ab"}\n')
    before = (audit.read_bytes(), audit.stat().st_mtime_ns, audit.stat().st_ino)

    done = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(rules)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip

    rotated = sorted(p.name for p in logs.iterdir() if p.name.startswith("thunes.log-"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (logs / "thunes.log").read_text() == ""  # copytruncate: same file, emptied, still appended to
    assert len(rotated) == 1
    assert (logs / rotated[0]).read_text() == "event=one\nevent=two\n"
    assert (audit.read_bytes(), audit.stat().st_mtime_ns, audit.stat().st_ino) == before  # ...it is left alone


def test_logrotate_rules_when_read_then_no_pattern_reaches_the_audit_trail() -> None:
    patterns = re.findall(r"^(/\S+)\s*\{", LOGROTATE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    audit_files = ["/var/lib/thunes/live/audit/audit-2026-W48.jsonl", "/var/lib/thunes/testnet/audit/audit-anchor.json",
                   "/var/log/thunes/audit-2026-W48.jsonl"]  # fmt: skip

    assert patterns == ["/var/log/thunes/*.log"]
    assert not [f for f in audit_files for p in patterns if fnmatch.fnmatch(f, p)]
    assert re.search(r"^\s*daily$", LOGROTATE.read_text(), re.MULTILINE)
    assert re.search(r"^\s*rotate 90$", LOGROTATE.read_text(), re.MULTILINE)
    assert re.search(r"^\s*compress$", LOGROTATE.read_text(), re.MULTILINE)
