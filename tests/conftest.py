"""Shared fixtures: where the real market data lives, and a skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_SHARED = Path(os.environ.get("THUNES_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real Binance dumps); skipped only when it is truly absent and not in CI."""
    if not _SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {_SHARED} (CI must have it)")
        pytest.skip(f"shared data not found at {_SHARED}")
    return _SHARED


@pytest.fixture(scope="session")
def exchange_info_path(shared_data: Path) -> Path:
    return shared_data / "binance" / "exchange_info" / "exchangeInfo_spot_full_2023-09-08.json"
