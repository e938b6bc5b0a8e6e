"""The Bot API client against a local server that answers like Telegram: calls, offsets, errors
mapped to what the caller must do, and the token kept out of every text an error can produce."""

from __future__ import annotations

import asyncio
import socket
import traceback

import pytest
from pydantic import SecretStr

from tests.integration.alerts.fake_bot_api import TOKEN, FakeBotApi
from thunes.adapters.alerts import (
    TOKEN_ENV,
    FatalTelegramError,
    RejectedTelegramError,
    RetryableTelegramError,
    TelegramClient,
    TelegramError,
    TelegramSettings,
)


def _settings(api: FakeBotApi | str, token: str = TOKEN) -> TelegramSettings:
    url = api if isinstance(api, str) else api.url
    return TelegramSettings(bot_token=SecretStr(token), chat_ids=(11,), api_url=url, request_timeout_s=5)


def _texts(error: BaseException) -> str:
    """Everything an error can put in a log: its text, its repr, its formatted traceback."""
    return f"{error}\n{error!r}\n" + "".join(traceback.format_exception(error))


async def _failure(client: TelegramClient, call: str) -> TelegramError:
    with pytest.raises(TelegramError) as caught:
        await (client.send_message(11, "hello") if call == "send" else client.get_updates(None, 0))
    return caught.value


def test_send_message_when_answered_then_posted_to_the_token_path_with_chat_text_and_reply(bot_api: FakeBotApi) -> None:
    async def main() -> None:
        client = TelegramClient(_settings(bot_api))
        await client.send_message(11, "kill-switch ON")
        await client.send_message(11, "ok", reply_to=7)
        await client.close()

    asyncio.run(main())

    first, second = bot_api.sent()
    assert first.token == TOKEN
    assert (first.body["chat_id"], first.body["text"]) == (11, "kill-switch ON")
    assert "reply_parameters" not in first.body
    assert second.body["reply_parameters"]["message_id"] == 7


def test_get_updates_when_polled_from_the_next_offset_then_each_update_comes_once(bot_api: FakeBotApi) -> None:
    bot_api.push(11, "/status")
    bot_api.push(12, "/positions", username=None)

    async def main() -> tuple[int | None, list[str], list[str]]:
        client = TelegramClient(_settings(bot_api))
        last, first = await client.get_updates(None, 0)
        assert last is not None
        _, again = await client.get_updates(last + 1, 0)
        await client.close()
        return last, [f"{m.chat_id} {m.text} {m.username}" for m in first], [m.text for m in again]

    last, first, again = asyncio.run(main())

    assert first == ["11 /status alice", "12 /positions None"]
    assert last == bot_api.updates[-1]["update_id"]
    assert again == []
    assert bot_api.requests[-1].body["offset"] == last + 1


@pytest.mark.parametrize(
    ("status", "retry_after", "raw", "expected"),
    [
        (429, 3, None, RetryableTelegramError),
        (502, None, None, RetryableTelegramError),
        (502, None, "<html>Bad Gateway</html>", RetryableTelegramError),  # a proxy's page, not JSON
        (400, None, None, RejectedTelegramError),  # e.g. chat not found
        (403, None, None, RejectedTelegramError),  # the bot was blocked by the user
    ],
)
def test_call_when_bot_api_fails_then_error_says_what_to_do_without_the_token(
    bot_api: FakeBotApi, status: int, retry_after: int | None, raw: str | None, expected: type[TelegramError]
) -> None:
    bot_api.fail_next("sendMessage", status, retry_after=retry_after, raw=raw)

    async def main() -> TelegramError:
        client = TelegramClient(_settings(bot_api))
        try:
            return await _failure(client, "send")
        finally:
            await client.close()

    error = asyncio.run(main())

    assert type(error) is expected
    if retry_after is not None:
        assert isinstance(error, RetryableTelegramError)
        assert error.retry_after_s == retry_after
    assert TOKEN not in _texts(error)


def test_call_when_token_is_wrong_then_fatal_and_neither_token_is_shown(bot_api: FakeBotApi) -> None:
    wrong = "999999:WRONG-token_zyxwvutsrqponmlkjihgfedcba"

    async def main() -> TelegramError:
        client = TelegramClient(_settings(bot_api, token=wrong))
        try:
            return await _failure(client, "updates")
        finally:
            await client.close()

    error = asyncio.run(main())

    assert isinstance(error, FatalTelegramError)
    assert "THUNES_TELEGRAM_BOT_TOKEN" in str(error)
    assert wrong not in _texts(error)
    assert "WRONG-token" not in _texts(error)


def test_call_when_api_unreachable_then_retryable_and_the_url_token_is_not_in_any_text() -> None:
    async def main(port: int) -> TelegramError:
        client = TelegramClient(_settings(f"http://127.0.0.1:{port}"))
        try:
            return await _failure(client, "send")
        finally:
            await client.close()

    with socket.socket() as s:  # bound, never listening, held meanwhile: refused, and no other test can take it
        s.bind(("127.0.0.1", 0))
        error = asyncio.run(main(s.getsockname()[1]))

    assert isinstance(error, RetryableTelegramError)
    assert error.__cause__ is None  # not chained to aiohttp's error, whose text may carry the URL
    assert TOKEN not in _texts(error)


def test_settings_when_shown_or_invalid_then_the_token_never_appears() -> None:
    settings = TelegramSettings.from_env({TOKEN_ENV: TOKEN}, [11, 12])

    with pytest.raises(ValueError, match="bot_token") as bad:
        TelegramSettings.from_env({TOKEN_ENV: "not a token but secret words"}, [11])
    with pytest.raises(ValueError, match=TOKEN_ENV):
        TelegramSettings.from_env({}, [11])
    with pytest.raises(ValueError, match="chat id"):
        TelegramSettings.from_env({TOKEN_ENV: TOKEN})

    assert settings.chat_ids == (11, 12)
    assert TOKEN not in repr(settings)
    assert TOKEN not in repr(TelegramClient(settings))
    assert "secret words" not in str(bad.value)
    assert TelegramSettings.from_env({TOKEN_ENV: TOKEN, "THUNES_TELEGRAM_CHAT_IDS": "5, -1007"}).chat_ids == (5, -1007)
