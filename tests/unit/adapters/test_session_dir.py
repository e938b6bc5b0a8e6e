"""A fresh paper session never deletes what it did not create: a matrix of data directories (a home,
a live session's, a previous paper run, empty, missing, a file, read-only, in use...), each asserting
that every file no session wrote survives byte for byte, and that what is refused changes nothing."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from thunes.adapters.storage.session_dir import (
    MARKER_NAME,
    SessionDirError,
    SessionKind,
    foreign_entries,
    prepare_session_dir,
    session_kind,
)

Snapshot = dict[str, bytes | None]  # relative path -> content (None: a directory)


def _snapshot(root: Path) -> Snapshot:
    if not root.exists():
        return {}
    if root.is_file():
        return {".": root.read_bytes()}
    out: Snapshot = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = None if path.is_dir() and not path.is_symlink() else path.read_bytes()
    return out


def _mark(root: Path, kind: str) -> None:
    (root / MARKER_NAME).write_text(json.dumps({"kind": kind, "version": 1}))


def _session_files(root: Path) -> None:
    """What a session leaves: ledger and audit copy, risk state, marks, audit trail, control files."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("ledger.db", "ledger.db-wal", "audit.db", "risk.json", "checkpoint.json", "session.jsonl",
                 "daily_summaries.jsonl", "control.jsonl", "control.applied", "control.json", "control.token"):  # fmt: skip
        (root / name).write_text(f"session {name}")
    audit = root / "audit"
    audit.mkdir()
    for name in ("audit-2024-W01.jsonl", ".audit.lock", "audit-anchor.json", "audit-head.json"):
        (audit / name).write_text(f"audit {name}")


def home(root: Path) -> None:
    root.mkdir()
    (root / ".bashrc").write_text("alias ll='ls -l'")
    (root / "Documents").mkdir()
    (root / "Documents" / "notes.txt").write_text("mine")
    (root / "ledger.db").write_text("my own accounts, not THUNES'")


def live_marked(root: Path) -> None:
    _session_files(root)
    _mark(root, "live")


def live_unmarked(root: Path) -> None:  # a live directory from before the marker existed
    _session_files(root)


def paper_with_foreign_file(root: Path) -> None:
    _session_files(root)
    _mark(root, "paper")
    (root / "notes.txt").write_text("the operator's")


def paper_with_foreign_audit_file(root: Path) -> None:
    _session_files(root)
    _mark(root, "paper")
    (root / "audit" / "audit-2024-W01.jsonl.bak").write_text("a backup")


def paper_with_symlink(root: Path) -> None:
    _session_files(root)
    _mark(root, "paper")
    outside = root.parent / "precious.db"
    outside.write_text("elsewhere")
    (root / "ledger.db").unlink()
    (root / "ledger.db").symlink_to(outside)


def a_file(root: Path) -> None:
    root.write_text("a file, not a directory")


def garbled_marker(root: Path) -> None:
    _session_files(root)
    (root / MARKER_NAME).write_text("{oops")


REFUSED: dict[str, Callable[[Path], None]] = {
    "home": home,
    "live_marked": live_marked,
    "live_unmarked": live_unmarked,
    "paper_with_foreign_file": paper_with_foreign_file,
    "paper_with_foreign_audit_file": paper_with_foreign_audit_file,
    "paper_with_symlink": paper_with_symlink,
    "a_file": a_file,
    "garbled_marker": garbled_marker,
}


@pytest.mark.parametrize("kind", [SessionKind.PAPER, SessionKind.TESTNET])
@pytest.mark.parametrize("build", REFUSED.values(), ids=REFUSED.keys())
def test_fresh_when_directory_is_not_a_paper_runs_own_then_refused_and_nothing_changed(
    tmp_path: Path, build: Callable[[Path], None], kind: SessionKind
) -> None:
    root = tmp_path / "data"
    build(root)
    before, around = _snapshot(root), _snapshot(tmp_path)

    with pytest.raises(SessionDirError) as refused:
        prepare_session_dir(root, kind, fresh=True)

    assert _snapshot(root) == before
    assert _snapshot(tmp_path) == around
    assert "\n" not in str(refused.value)


def test_fresh_when_previous_paper_run_then_only_session_files_removed_and_kept_files_stay(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    _session_files(root)
    _mark(root, "paper")
    (root / "params.db").write_text("parameter history")
    (root / "capital.jsonl").write_text("deposits")
    (root / "reports").mkdir()
    (root / "reports" / "rodage.md").write_text("a report")

    prepare_session_dir(root, SessionKind.PAPER, fresh=True)

    assert sorted(p.name for p in root.iterdir()) == [MARKER_NAME, "capital.jsonl", "params.db", "reports"]
    assert (root / "reports" / "rodage.md").read_text() == "a report"
    assert (root / "params.db").read_text() == "parameter history"
    assert session_kind(root) is SessionKind.PAPER


def test_fresh_when_testnet_run_follows_a_paper_run_then_it_may_discard_it(tmp_path: Path) -> None:
    _session_files(tmp_path / "d")
    _mark(tmp_path / "d", "paper")

    prepare_session_dir(tmp_path / "d", SessionKind.TESTNET, fresh=True)

    assert [p.name for p in (tmp_path / "d").iterdir()] == [MARKER_NAME]
    assert session_kind(tmp_path / "d") is SessionKind.TESTNET


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir(parents=True)], ids=["nonexistent", "empty"])
def test_fresh_when_directory_missing_or_empty_then_ready_and_marked(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    root = tmp_path / "deep" / "paper"
    make(root)

    prepare_session_dir(root, SessionKind.PAPER, fresh=True)

    assert [p.name for p in root.iterdir()] == [MARKER_NAME]
    assert session_kind(root) is SessionKind.PAPER


def test_fresh_twice_in_a_row_then_both_succeed(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    prepare_session_dir(root, SessionKind.PAPER, fresh=True)
    _session_files(root)

    prepare_session_dir(root, SessionKind.PAPER, fresh=True)

    assert [p.name for p in root.iterdir()] == [MARKER_NAME]


def test_fresh_when_a_session_holds_the_audit_lock_then_refused_and_nothing_changed(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    _session_files(root)
    _mark(root, "paper")
    before = _snapshot(root)
    fd = os.open(root / "audit" / ".audit.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(SessionDirError, match="a session is running"):
            prepare_session_dir(root, SessionKind.PAPER, fresh=True)
    finally:
        os.close(fd)

    assert _snapshot(root) == before


def test_fresh_when_directory_read_only_then_refused_in_one_line_or_only_own_files_go(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    _session_files(root)
    _mark(root, "paper")
    (root / "params.db").write_text("kept")
    os.chmod(root, 0o555)
    try:
        if os.geteuid() != 0:
            with pytest.raises(SessionDirError, match="cannot prepare"):
                prepare_session_dir(root, SessionKind.PAPER, fresh=True)
            assert (root / "ledger.db").exists()  # as a user: nothing removed
        else:  # root ignores the mode: then only the session's files go
            prepare_session_dir(root, SessionKind.PAPER, fresh=True)
            assert sorted(p.name for p in root.iterdir()) == [MARKER_NAME, "params.db"]
        assert (root / "params.db").read_text() == "kept"
    finally:
        os.chmod(root, 0o755)


@pytest.mark.parametrize("build", [home, live_marked, paper_with_foreign_file], ids=["home", "live", "paper"])
def test_resume_when_any_directory_then_nothing_removed(tmp_path: Path, build: Callable[[Path], None]) -> None:
    root = tmp_path / "data"
    build(root)
    before = _snapshot(root)
    kind = SessionKind.LIVE if session_kind(root) is SessionKind.LIVE else SessionKind.PAPER

    prepare_session_dir(root, kind, fresh=False)

    after = _snapshot(root)
    assert {k: v for k, v in after.items() if k != MARKER_NAME} == {k: v for k, v in before.items() if k != MARKER_NAME}


@pytest.mark.parametrize(
    ("marked", "kind"),
    [("live", SessionKind.PAPER), ("live", SessionKind.TESTNET), ("paper", SessionKind.LIVE)],
)
def test_resume_when_marker_is_the_other_side_of_real_money_then_refused(
    tmp_path: Path, marked: str, kind: SessionKind
) -> None:
    _session_files(tmp_path / "d")
    _mark(tmp_path / "d", marked)

    with pytest.raises(SessionDirError, match="cannot continue it"):
        prepare_session_dir(tmp_path / "d", kind, fresh=False)


def test_resume_when_live_session_in_unmarked_directory_then_marked_live_and_later_never_discarded(
    tmp_path: Path,
) -> None:
    root = tmp_path / "live"
    live_unmarked(root)

    prepare_session_dir(root, SessionKind.LIVE, fresh=False)

    assert session_kind(root) is SessionKind.LIVE
    with pytest.raises(SessionDirError, match="live session"):
        prepare_session_dir(root, SessionKind.PAPER, fresh=True)
    assert (root / "ledger.db").exists()


def test_foreign_entries_when_only_session_and_kept_files_then_none(tmp_path: Path) -> None:
    _session_files(tmp_path)
    (tmp_path / "params.db").write_text("")
    (tmp_path / ".risk.json.abc123.tmp").write_text("")

    assert foreign_entries(tmp_path) == []
