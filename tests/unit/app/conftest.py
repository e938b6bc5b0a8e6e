"""Fixtures shared by the CLI tests of this folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with no strategy named by the environment: the CLI reads only what the
    test writes there (its thunes.toml, its strategy files)."""
    monkeypatch.chdir(tmp_path)
    for name in ("THUNES_CONFIG", "THUNES_STRATEGY__NAME", "THUNES_STRATEGY__PARAMS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path
