"""Fixtures over the real exchangeInfo dump (2,292 symbols, 1,340 TRADING)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thunes.domain import ExchangeInfo, parse_exchange_info


@pytest.fixture(scope="session")
def raw_exchange_info(exchange_info_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(exchange_info_path.read_text())
    return data


@pytest.fixture(scope="session")
def exchange_info(raw_exchange_info: dict[str, Any]) -> ExchangeInfo:
    return parse_exchange_info(raw_exchange_info)


@pytest.fixture(scope="session")
def trading_raw(raw_exchange_info: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in raw_exchange_info["symbols"] if s["status"] == "TRADING"]
