"""The control API of a running session never shows a secret: not its own bearer token (in any
answer, error or log line, whatever a caller sends), not the venue keys."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.app.config import load_settings
from thunes.app.logging import configure_logging
from thunes.control.client import discover
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

TOKEN = "ctl-7f3a9c1e5b2d4f6a8c0e"


def _fetch(url: str, method: str = "GET", token: str | None = None, body: bytes | None = None) -> str:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return f"{answer.status} {dict(answer.headers)} {answer.read().decode()}"
    except urllib.error.HTTPError as e:
        return f"{e.code} {dict(e.headers)} {e.read().decode()}"


@pytest.mark.slow
def test_control_api_when_called_every_way_during_a_session_then_no_token_or_key_in_answers_or_logs(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_CONTROL_TOKEN", TOKEN)
    settings = load_settings()
    logs = io.StringIO()
    configure_logging(settings.logging.model_copy(update={"level": "DEBUG"}), stream=logs)
    data_dir = tmp_path / "paper"
    answers: list[str] = []
    done = threading.Event()

    def probe() -> None:  # from another thread, while the session trades
        endpoint = discover(data_dir)
        assert endpoint is not None
        base = endpoint.url
        wrong = [None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), f"{TOKEN} {TOKEN}"]
        for path in ("/status", "/positions", "/orders", "/openapi.json", "/nope"):
            answers.append(_fetch(base + path, token=TOKEN))
            answers.extend(_fetch(base + path, token=t) for t in wrong)
        for path, body in (("/kill-switch/off", b'{"by": ""}'), ("/kill-switch/on", b"not json"),
                           ("/stop-entry", json.dumps({"reason": TOKEN}).encode())):  # fmt: skip
            answers.append(_fetch(base + path, "POST", TOKEN, body))
            answers.append(_fetch(base + path, "POST", TOKEN[::-1], body))
        done.set()

    started: list[bool] = []

    def on_bar(status: PaperStatus) -> None:
        if not started and status.bars >= 5:
            started.append(True)
            threading.Thread(target=probe, daemon=True).start()

    config = PaperConfig(duration_s=10.0, speed=72_000.0, data_dir=data_dir, control_port=0)
    asyncio.run(run_paper(settings, config, on_bar))

    assert done.is_set()
    everything: Any = "\n".join(answers) + logs.getvalue()
    assert sum(a.startswith("401") for a in answers) >= 30  # the wrong tokens really were refused
    assert any(a.startswith("200") and "kill_switch" in a for a in answers)  # and the right one answered
    for secret in (TOKEN, PAPER_API_KEY, PAPER_API_SECRET):
        assert secret not in everything
