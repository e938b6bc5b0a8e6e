"""``thunes trade --paper`` as a user runs it: ``make run`` twice in a row works without flags, and a
fresh session refuses a directory it did not create (a home, a live session's) with one ``error:``
line, exit 2 and nothing on disk changed (it used to ``rmtree`` whatever ``--data-dir`` named)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thunes.adapters.storage.session_dir import MARKER_NAME, foreign_entries

THUNES = str(Path(sys.executable).with_name("thunes"))


def _trade(shared_data: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "THUNES_DATA__SHARED_DATA_DIR": str(shared_data)}
    return subprocess.run([THUNES, "trade", "--paper", "--duration", "2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180, check=False)  # fmt: skip


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


@pytest.mark.slow
def test_make_run_when_twice_in_a_row_without_flags_then_both_run_and_only_session_files_are_there(
    shared_data: Path, tmp_path: Path
) -> None:
    first = _trade(shared_data, tmp_path)
    second = _trade(shared_data, tmp_path)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    data = tmp_path / "data" / "paper"
    assert (data / "ledger.db").is_file() and (data / "audit").is_dir()
    assert json.loads((data / MARKER_NAME).read_text())["kind"] == "paper"
    assert foreign_entries(data) == []  # every file a session writes is one session_dir knows


@pytest.mark.parametrize("marker", [None, "live"], ids=["home", "live"])
def test_trade_paper_when_data_dir_is_not_a_paper_runs_own_then_one_error_line_exit_2_and_nothing_changed(
    shared_data: Path, tmp_path: Path, marker: str | None
) -> None:
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / ".bashrc").write_text("export PATH")
    (home / "Documents" / "thesis.tex").write_text("years of work")
    (home / "ledger.db").write_text("a ledger")
    if marker is not None:
        (home / MARKER_NAME).write_text(json.dumps({"kind": marker, "version": 1}))
    before = _tree(home)

    done = _trade(shared_data, tmp_path, "--data-dir", str(home))

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert _tree(home) == before


def test_parity_when_keep_names_a_foreign_directory_then_refused_and_nothing_changed(
    shared_data: Path, tmp_path: Path
) -> None:
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("not THUNES'")
    env = {**os.environ, "THUNES_DATA__SHARED_DATA_DIR": str(shared_data)}

    done = subprocess.run([THUNES, "parity", "--bars", "30", "--keep", str(keep)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180, check=False)  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert _tree(keep) == {"notes.txt": b"not THUNES'"}
