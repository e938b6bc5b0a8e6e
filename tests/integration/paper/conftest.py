"""Fixtures shared by the paper-session tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from thunes.app.config import Settings, load_settings


@pytest.fixture(scope="module")
def module_settings(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The paper settings (fast SMA 5/20, the shared market data) for a module's sessions, loaded
    away from any ./thunes.toml."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        mp.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
        mp.setenv("THUNES_STRATEGY__SMA_FAST", "5")
        mp.setenv("THUNES_STRATEGY__SMA_SLOW", "20")
        return load_settings()
