"""The operator wiring's file contracts: the control token (0600) and crash detection from the
session marks, read before this run writes its START."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from thunes.control.operator import CONTROL_TOKEN_ENV, TOKEN_FILE, control_token, previous_run_crashed
from thunes.governance.rodage import SESSION_MARKS_FILE, MarkKind, SessionMark


def _marks(path: Path, *kinds: MarkKind, run_id: str = "a") -> None:
    with (path / SESSION_MARKS_FILE).open("a", encoding="utf-8") as handle:
        for i, kind in enumerate(kinds):
            mark = SessionMark(kind=kind, ts_ns=i, run_id=run_id, cadence_ns=60, wall_ns=1_700_000_000_000_000_000)
            handle.write(mark.to_json() + "\n")


def test_control_token_when_none_in_env_then_a_new_one_in_a_0600_file_even_over_an_old_file(tmp_path: Path) -> None:
    old = tmp_path / TOKEN_FILE
    old.write_text("old")
    old.chmod(0o644)

    token, path = control_token(tmp_path, {})
    again, _ = control_token(tmp_path, {})

    assert path == old
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600
    assert old.read_text() == again != token  # one per session
    assert len(token) >= 32


def test_control_token_when_given_in_env_then_used_and_no_file_written(tmp_path: Path) -> None:
    token, path = control_token(tmp_path, {CONTROL_TOKEN_ENV: "  a-long-enough-operator-token  "})

    with pytest.raises(ValueError, match="at least 16"):
        control_token(tmp_path, {CONTROL_TOKEN_ENV: "short"})
    assert (token, path) == ("a-long-enough-operator-token", None)
    assert not (tmp_path / TOKEN_FILE).exists()


def test_previous_run_when_it_ended_without_stop_then_reported_as_a_crash(tmp_path: Path) -> None:
    absent = previous_run_crashed(tmp_path)
    _marks(tmp_path, MarkKind.START, MarkKind.BEAT, MarkKind.STOP)
    graceful = previous_run_crashed(tmp_path)
    _marks(tmp_path, MarkKind.START, MarkKind.BEAT, MarkKind.BEAT, run_id="b")
    with (tmp_path / SESSION_MARKS_FILE).open("a") as handle:
        handle.write('{"kind": "BEAT", "ts_')  # killed mid-write
    crashed = previous_run_crashed(tmp_path)

    assert absent is None
    assert graceful is None
    assert crashed is not None
    assert (crashed.run_id, crashed.kind, crashed.ts_ns) == ("b", MarkKind.BEAT, 2)
