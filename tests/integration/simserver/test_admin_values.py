"""Bad values for the fault-injection endpoints: HTTP 400 naming the setting, nothing changed (not a 500)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.simserver.live import TIMEOUT, LiveVenue


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


def _post(live: LiveVenue, path: str, body: bytes) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {live.running.admin_token}", "Content-Type": "application/json"}
    request = urllib.request.Request(live.base_url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


BAD_SETTINGS: list[dict[str, Any]] = [
    {"error_count": "abc"},
    {"error_count": None},
    {"error_count": 1.5},
    {"error_count": True},
    {"error_count": -1},
    {"error_count": [1]},
    {"error_status": 200},
    {"error_status": 99999},
    {"latency_ms": -5},
    {"latency_ms": 1e308},
    {"jitter_ms": "NaN"},
    {"retry_after_s": {"a": 1}},
    {"drop_order_responses": 10**30},
    {"error_count": 2, "latency_ms": "slow"},  # one bad value: nothing is applied
]


@pytest.mark.parametrize("body", [json.dumps(b).encode() for b in BAD_SETTINGS]
                         + [b"NaN", b'{"latency_ms": NaN}', b'{"latency_ms": Infinity}', b"\xff\xfe", b"[1]"])  # fmt: skip
def test_admin_faults_when_value_malformed_then_400_and_faults_unchanged(live: LiveVenue, body: bytes) -> None:
    before = live.admin("/admin/faults")

    status, text = _post(live, "/admin/faults", body)

    assert status == 400, text
    assert live.admin("/admin/faults") == before


@pytest.mark.parametrize(
    ("body", "name"), [({"latency_ms": -5}, "latency_ms"), ({"error_count": "abc"}, "error_count")]
)
def test_admin_faults_when_value_out_of_range_then_json_error_names_the_setting(
    live: LiveVenue, body: dict[str, Any], name: str
) -> None:
    status, text = _post(live, "/admin/faults", json.dumps(body).encode())

    answer = json.loads(text)
    assert (status, answer["code"]) == (400, -1130)
    assert f"'{name}'" in answer["msg"]


@pytest.mark.parametrize("seconds", ['"abc"', "null", "-1", "1e308", "NaN", "[1]", "true"])
def test_admin_silence_when_seconds_malformed_then_400_and_not_silenced(live: LiveVenue, seconds: str) -> None:
    status, text = _post(live, "/admin/faults/silence", f'{{"seconds": {seconds}}}'.encode())

    assert status == 400, text
    assert live.admin("/admin/faults")["silent_until_ns"] == 0
