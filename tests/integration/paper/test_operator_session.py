"""A paper session operated from outside while it trades: Telegram (a local fake of the Bot API),
the control API and the CLI, each reaching the running trader through the control file.

An operator thread acts once the session trades and stops it when done; every wait is on a
condition (a reply, an applied request), never on a sleep.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.integration.alerts.fake_bot_api import TOKEN, FakeBotApi
from thunes.adapters.alerts import TelegramSettings
from thunes.adapters.control import ControlResult, StatusBody
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.app.cli.main import app
from thunes.app.config import load_settings
from thunes.control.client import ControlEndpoint, discover
from thunes.governance.rodage import SESSION_MARKS_FILE, MarkKind, SessionMark
from thunes.risk import RiskSnapshot, utc_day
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

CHAT = 11

WIDE = {"COLUMNS": "200"}  # the status table must not wrap a long temporary path into its cells


@pytest.fixture
def settings(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("THUNES_CONTROL_TOKEN", raising=False)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_STRATEGY__SMA_FAST", "5")
    monkeypatch.setenv("THUNES_STRATEGY__SMA_SLOW", "20")
    return load_settings()


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi().start()
    yield api
    api.stop()


def _until(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met while the session ran")
        time.sleep(0.05)


def _status(endpoint: ControlEndpoint) -> StatusBody:
    return endpoint.call("GET", "/status", StatusBody)


def _unauthenticated(url: str) -> int:
    try:
        urllib.request.urlopen(url + "/status", timeout=10)
    except urllib.error.HTTPError as e:
        return e.code
    return 200


def _crashed_run(data_dir: Path) -> None:
    """A previous run that wrote START and a BEAT, then died (no STOP)."""
    data_dir.mkdir(parents=True)
    marks = [SessionMark(kind=k, ts_ns=i, run_id="old", cadence_ns=3_600_000_000_000, wall_ns=1_700_000_000_000_000_000)
             for i, k in enumerate((MarkKind.START, MarkKind.BEAT))]  # fmt: skip
    (data_dir / SESSION_MARKS_FILE).write_text("".join(m.to_json() + "\n" for m in marks))
    JsonFileRiskStore(data_dir / "risk.json").save(RiskSnapshot(day=utc_day(0)))  # saved by its risk engine at start


def test_running_session_when_operated_by_telegram_api_and_cli_then_the_trader_obeys_each(
    settings: Any, tmp_path: Path, bot_api: FakeBotApi
) -> None:
    data_dir = tmp_path / "session"
    _crashed_run(data_dir)
    telegram = TelegramSettings(bot_token=SecretStr(TOKEN), chat_ids=(CHAT,), api_url=bot_api.url, poll_timeout_s=1,
                                alerts_per_minute=6000, alert_burst=1000, label="T")  # fmt: skip
    config = PaperConfig(duration_s=300.0, speed=36_000.0, data_dir=data_dir, fresh=False, control_port=0,
                         telegram=telegram)  # fmt: skip
    trading, stop = threading.Event(), asyncio.Event()
    seen: dict[str, Any] = {}

    def operate(loop: asyncio.AbstractEventLoop) -> None:
        try:
            assert trading.wait(120)
            endpoint = discover(data_dir)
            assert endpoint is not None
            seen["unauthenticated"] = _unauthenticated(endpoint.url)
            seen["before"] = _status(endpoint)

            asked = bot_api.push(CHAT, "/killswitch on")
            bot_api.wait_for(lambda api: any(r.body.get("reply_parameters", {}).get("message_id") == asked
                                             for r in api.sent()))  # fmt: skip
            seen["after_telegram"] = _status(endpoint)

            body = {"by": "alice"}
            seen["off"] = endpoint.call("POST", "/kill-switch/off", ControlResult, body)
            _until(lambda: not _status(endpoint).kill_switch.active)
            seen["cli_status"] = CliRunner().invoke(app, ["status", "--data-dir", str(data_dir)], env=WIDE)

            seen["on"] = endpoint.call("POST", "/kill-switch/on", ControlResult, {"by": "carol", "reason": "drill"})
            _until(lambda: _status(endpoint).kill_switch.active)
            seen["cli_on"] = CliRunner().invoke(app, ["kill-switch", "on", "--by", "dave", "--data-dir", str(data_dir)])
            seen["refused"] = CliRunner().invoke(app, ["kill-switch", "off", "--by", "risk-engine",
                                                       "--data-dir", str(data_dir)])  # fmt: skip
            seen["last"] = _status(endpoint)
        finally:
            loop.call_soon_threadsafe(stop.set)

    def on_bar(status: PaperStatus) -> None:
        if status.bars >= 3:
            trading.set()

    async def main() -> PaperStatus:
        operator = threading.Thread(target=operate, args=(asyncio.get_running_loop(),))
        operator.start()
        try:
            return await run_paper(settings, config, on_bar, stop)
        finally:
            await asyncio.to_thread(operator.join, 120)

    status = asyncio.run(main())
    after_stop = CliRunner().invoke(app, ["status", "--data-dir", str(data_dir)], env=WIDE)

    # The control API: the token is required, and requests reach the running trader.
    assert seen["unauthenticated"] == 401
    assert seen["before"].kill_switch.active is False
    assert seen["after_telegram"].kill_switch.active is True
    assert seen["after_telegram"].kill_switch.by == "@alice"
    assert seen["after_telegram"].trading_state == "REDUCING"
    assert seen["off"].action == "KILL_SWITCH_OFF"
    assert seen["on"].was_active is False
    assert seen["last"].kill_switch.by == "carol"
    # The CLI used the API while the session ran, and the files once it stopped.
    assert seen["cli_status"].exit_code == 0, seen["cli_status"].output
    assert "running, http://127.0.0.1:" in seen["cli_status"].output
    assert "bars traded" in seen["cli_status"].output
    assert seen["cli_on"].exit_code == 0
    assert "kill-switch ON" in seen["cli_on"].output
    assert "it already was" in seen["cli_on"].output
    assert seen["refused"].exit_code == 2
    assert "automatic actor" in seen["refused"].output
    assert after_stop.exit_code == 0
    assert "(running, http" not in after_stop.output  # read from the files: no API named (the path may say "running")
    assert not (data_dir / "control.json").exists()
    assert not (data_dir / "control.token").exists()
    # The trader applied every request, and the switch it ends with is persisted.
    assert status.kill_switch is True
    assert status.control_requests == 4  # Telegram on, API off, API on, CLI on (already on)
    risk = json.loads((data_dir / "risk.json").read_text())
    assert (risk["kill_switch"]["active"], risk["kill_switch"]["by"]) == (True, "carol")
    # Telegram: the reply, then one alert per change, the restart first.
    replies = [r.body["text"] for r in bot_api.sent() if "reply_parameters" in r.body]
    alerts = [r.body["text"] for r in bot_api.sent() if "reply_parameters" not in r.body]
    assert replies == ["kill-switch ON"]
    assert alerts[0].startswith("T BTCUSDT: restarted after a crash")
    switch_alerts = [a.split(": ", 1)[1].split(".")[0] for a in alerts if "kill-switch" in a.split(": ", 1)[1][:12]]
    assert switch_alerts == ["kill-switch ON by @alice: manual (Telegram)", "kill-switch OFF by alice",
                             "kill-switch ON by carol: drill"]  # fmt: skip
    assert any(": daily summary " in a for a in alerts)
