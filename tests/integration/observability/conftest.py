"""``promtool`` (Debian's ``prometheus`` package; ``.ci/run`` installs it): skipped only on a developer
machine without it, a failure in CI, where a missing tool must not pass as a green run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool not found: CI must install Debian's prometheus package (see .ci/run)")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path
