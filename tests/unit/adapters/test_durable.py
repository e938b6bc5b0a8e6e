"""Atomic file replacement: the one helper every store and token file writes through."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from thunes.adapters.storage.durable import create_atomically, replace_atomically, write_atomically


def test_replace_when_mode_given_then_the_file_has_it_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old")
    os.chmod(path, 0o644)
    previous = os.umask(0)
    try:
        replace_atomically(path, b"secret", mode=0o600)
    finally:
        os.umask(previous)

    assert path.read_bytes() == b"secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # an older file's mode is not kept
    assert [p.name for p in tmp_path.iterdir()] == ["token"]  # no temp file left


def test_write_when_the_writer_fails_then_the_old_content_stays_and_no_temp_is_left(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")

    def torn(handle: object) -> None:
        handle.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        write_atomically(path, torn)

    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_replace_when_no_mode_then_the_umask_decides_as_for_any_new_file(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        replace_atomically(tmp_path / "risk.json", b"{}")
    finally:
        os.umask(previous)

    assert stat.S_IMODE((tmp_path / "risk.json").stat().st_mode) == 0o644


def test_create_when_the_file_exists_then_refused_content_kept_and_no_temp_left(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    create_atomically(path, b"first", mode=0o600)

    with pytest.raises(FileExistsError):
        create_atomically(path, b"second")

    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["mine.py"]
