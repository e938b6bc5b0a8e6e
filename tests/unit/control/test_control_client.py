"""The CLI finds a running session's API through ``control.json`` and falls back to the files
when there is none, or when the one it names does not answer (a crash left it behind)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from thunes.control.client import discover, live_request, live_status
from thunes.control.operator import CONTROL_TOKEN_ENV, DISCOVERY_FILE


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound and never listening for the whole test: refused, and no other test can take it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def test_discover_when_no_control_json_then_none(tmp_path: Path) -> None:
    assert discover(tmp_path, {}) is None


def test_discover_when_control_json_names_a_token_file_then_token_read_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / "control.token").write_text("file-token-of-enough-length\n")
    found = {"url": "http://127.0.0.1:1", "token_file": str(tmp_path / "control.token")}
    (tmp_path / DISCOVERY_FILE).write_text(json.dumps(found))

    from_file = discover(tmp_path, {})
    from_env = discover(tmp_path, {CONTROL_TOKEN_ENV: "env-token-of-enough-length"})

    assert from_file is not None and from_file.token == "file-token-of-enough-length"
    assert from_env is not None and from_env.token == "env-token-of-enough-length"
    assert "file-token" not in repr(from_file)


def test_live_calls_when_the_named_api_does_not_answer_then_none_and_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], closed_port: int
) -> None:
    (tmp_path / "control.token").write_text("file-token-of-enough-length")
    (tmp_path / DISCOVERY_FILE).write_text(json.dumps(
        {"url": f"http://127.0.0.1:{closed_port}", "token_file": str(tmp_path / "control.token")}
    ))  # fmt: skip

    status = live_status(tmp_path)
    request = live_request(tmp_path, "/kill-switch/on", {"by": "ops"})

    assert status is None
    assert request is None
    assert capsys.readouterr().err.count("did not answer") == 2
