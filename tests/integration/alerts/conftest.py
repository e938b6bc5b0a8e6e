"""The fake Bot API, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.alerts.fake_bot_api import FakeBotApi


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi().start()
    yield api
    api.stop()
