"""A calm console (issue 16 item 9): a paper session or ``parity`` shows the live view, warnings and the
summary, with money at the instrument's precision; every log line goes to the session's rotating
JSON-lines file; progress bars go to stderr only when it is a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from thunes.adapters.storage.session_dir import foreign_entries

THUNES = str(Path(sys.executable).with_name("thunes"))


def _env(shared_data: Path) -> dict[str, str]:
    quiet = ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR")
    env = {k: v for k, v in os.environ.items() if k not in quiet}
    return env | {"THUNES_DATA__SHARED_DATA_DIR": str(shared_data), "TERM": "xterm", "COLUMNS": "120"}


def _log_lines(data_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (data_dir / "logs" / "thunes.jsonl").read_text().splitlines()]


def test_paper_session_when_run_then_console_calm_money_at_instrument_precision_and_lines_in_log_file(
    shared_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "s"
    done = subprocess.run([THUNES, "trade", "--paper", "--duration", "4", "--data-dir", str(data)], cwd=tmp_path,
                          env=_env(shared_data), capture_output=True, text=True, timeout=180, check=False)  # fmt: skip

    assert done.returncode == 0, done.stderr
    console = done.stdout + done.stderr
    assert "daily_summary" not in console and "level='info'" not in console  # no per-day lines
    assert done.stderr == ""  # nothing worth a warning happened
    # BTCUSDT: tick 0.01, lot step 0.00001, USDT precision 8 (the recorded exchangeInfo)
    assert re.search(r"last close\s+\d{1,3}(,\d{3})*\.\d{2}\s", done.stdout), done.stdout
    assert re.search(r"position\s+-?\d+\.\d{5}\s", done.stdout), done.stdout
    for row in ("realised PnL \\(net of fees\\)", "fees"):
        assert re.search(rf"{row}\s+-?[\d,]+\.\d{{8}}\s", done.stdout), done.stdout
    assert re.search(r"equity start → end\s+[\d,]+\.\d{8} → [\d,]+\.\d{8}\s", done.stdout), done.stdout
    lines = _log_lines(data)
    assert any(line["event"] == "daily_summary" for line in lines)  # the audit trail keeps them
    assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)
    assert foreign_entries(data) == []  # a later fresh session knows every file this one wrote


def _run_with_stderr_on(stderr_tty: bool, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``thunes args`` with stdout on a pipe and stderr on a pty (a terminal) or a pipe."""
    if not stderr_tty:
        done = subprocess.run([THUNES, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                              check=False)  # fmt: skip
        return done.returncode, done.stdout, done.stderr
    parent, child = pty.openpty()
    process = subprocess.Popen([THUNES, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=child)
    os.close(child)
    seen = bytearray()
    while True:  # drain the terminal until the process closes it (EOF or EIO)
        ready, _, _ = select.select([parent], [], [], 300)
        if not ready:
            process.kill()
            raise AssertionError("no output from the terminal within 300 s")
        try:
            chunk = os.read(parent, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(parent)
    out, _ = process.communicate(timeout=300)
    return process.returncode, out.decode(), seen.decode(errors="replace")


def test_parity_when_stderr_is_a_terminal_then_progress_there_and_never_on_a_pipe(
    shared_data: Path, tmp_path: Path
) -> None:
    env = _env(shared_data)
    args = ["parity", "--bars", "300", "--keep"]

    on_tty = _run_with_stderr_on(True, [*args, str(tmp_path / "tty")], tmp_path, env)
    on_pipe = _run_with_stderr_on(False, [*args, str(tmp_path / "pipe")], tmp_path, env)

    for code, out, _ in (on_tty, on_pipe):
        assert code == 0, out
        assert "IDENTICAL" in out and "paper session" not in out  # stdout: the result only
        assert "daily_summary" not in out
    assert "paper session" in on_tty[2]  # the bar, drawn on the terminal
    assert on_pipe[2] == ""  # a pipe gets neither the bar nor the session's info lines
    assert any(line["event"] == "daily_summary" for line in _log_lines(tmp_path / "pipe"))
