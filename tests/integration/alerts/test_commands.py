"""Commands over the fake Bot API: answered in reply, once each, from allowed chats only; other
chats ignored and logged without their text; a command queued for too long refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
from pydantic import SecretStr

from tests.integration.alerts.fake_bot_api import TOKEN, FakeBotApi, Recorded
from thunes.adapters.alerts import Command, CommandPoller, TelegramClient, TelegramSettings

ALLOWED = 11


class Handlers:
    """Command handlers that record what they were asked."""

    def __init__(self) -> None:
        self.calls: list[Command] = []

    async def status(self, command: Command) -> str:
        self.calls.append(command)
        return "ACTIVE, kill-switch off"

    async def killswitch(self, command: Command) -> str:
        self.calls.append(command)
        if command.args[:1] == ("off",) and command.username is None:
            raise ValueError("set a Telegram username first")
        return f"kill-switch {command.args[0].upper()} by @{command.username}"


def _run(bot_api: FakeBotApi, handlers: Handlers, until: Callable[[FakeBotApi], bool]) -> CommandPoller:
    settings = TelegramSettings(bot_token=SecretStr(TOKEN), chat_ids=(ALLOWED,), api_url=bot_api.url,
                                poll_timeout_s=1, retry_initial_s=0.05)  # fmt: skip
    client = TelegramClient(settings)
    poller = CommandPoller(client, client, settings, {"status": handlers.status, "killswitch": handlers.killswitch})

    async def main() -> None:
        task = asyncio.ensure_future(poller.run())
        try:
            await asyncio.to_thread(bot_api.wait_for, until)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    asyncio.run(main())
    return poller


def _polls(api: FakeBotApi) -> list[Recorded]:
    return [r for r in api.requests if r.method == "getUpdates"]


def _replies(api: FakeBotApi) -> list[tuple[int, int, str]]:
    return [(r.body["chat_id"], r.body["reply_parameters"]["message_id"], r.body["text"]) for r in api.sent()]


def test_commands_when_sent_from_an_allowed_chat_then_each_answered_once_in_reply(bot_api: FakeBotApi) -> None:
    handlers = Handlers()
    first = bot_api.push(ALLOWED, "/status")
    second = bot_api.push(ALLOWED, "/killswitch@thunes_bot on drill now")
    third = bot_api.push(ALLOWED, "/killswitch off", username=None)
    fourth = bot_api.push(ALLOWED, "/nonsense")

    poller = _run(bot_api, handlers, lambda api: len(api.sent()) == 4 and len(_polls(api)) >= 2)

    assert _replies(bot_api) == [
        (ALLOWED, first, "ACTIVE, kill-switch off"),
        (ALLOWED, second, "kill-switch ON by @alice"),
        (ALLOWED, third, "/killswitch refused: set a Telegram username first"),
        (ALLOWED, fourth, "commands: /status /killswitch"),
    ]
    assert [(c.name, c.args, c.username) for c in handlers.calls] == [
        ("status", (), "alice"), ("killswitch", ("on", "drill", "now"), "alice"), ("killswitch", ("off",), None),
    ]  # fmt: skip
    assert poller.handled == 4
    assert [r.body.get("offset") for r in _polls(bot_api)][:2] == [None, poller.offset]  # confirmed: not resent


def test_message_when_from_an_unknown_chat_then_ignored_and_logged_without_its_text(bot_api: FakeBotApi) -> None:
    handlers = Handlers()
    bot_api.push(666, "/killswitch off my-secret-words", username="mallory")
    asked = bot_api.push(ALLOWED, "/status")

    with structlog.testing.capture_logs() as logs:
        poller = _run(bot_api, handlers, lambda api: len(api.sent()) == 1)

    assert _replies(bot_api) == [(ALLOWED, asked, "ACTIVE, kill-switch off")]
    assert [c.name for c in handlers.calls] == ["status"]
    assert poller.ignored == 1
    ignored = [e for e in logs if e["event"] == "telegram_message_ignored"]
    assert len(ignored) == 1
    assert ignored[0]["chat_id"] == 666
    assert "my-secret-words" not in repr(logs)
    assert "mallory" not in repr(logs)


def test_command_when_queued_longer_than_max_age_then_refused_and_not_executed(bot_api: FakeBotApi) -> None:
    handlers = Handlers()
    stale = bot_api.push(ALLOWED, "/killswitch off", sent_s=int(time.time()) - 3600)

    _run(bot_api, handlers, lambda api: len(api.sent()) == 1)

    ((chat, reply_to, text),) = _replies(bot_api)
    assert (chat, reply_to) == (ALLOWED, stale)
    assert text.startswith("/killswitch ignored: sent 60 min ago")
    assert handlers.calls == []


def test_polling_when_getupdates_is_rate_limited_then_resumes_after_retry_after(bot_api: FakeBotApi) -> None:
    handlers = Handlers()
    bot_api.fail_next("getUpdates", 429, retry_after=1)
    bot_api.push(ALLOWED, "/status")

    _run(bot_api, handlers, lambda api: len(api.sent()) == 1)

    polls = _polls(bot_api)
    assert polls[0].status == 429
    assert polls[1].at - polls[0].at >= 1.0
    assert len(handlers.calls) == 1
