"""A Telegram Bot API client: ``sendMessage`` and ``getUpdates`` (long polling), over aiohttp.

Why a client of our own: alerts and commands need two calls, and owning them keeps the bot token
in one place. The token is part of every request URL (``/bot<token>/<method>``), so it must never
reach a log, a repr or an exception text: errors here are built from redacted text and are *not*
chained to aiohttp's (whose text and traceback can carry that URL). Vendor errors are mapped here
and nowhere else, into what the caller must do: retry (after ``retry_after_s`` when Telegram says
so), drop the message (a chat that refuses it), or stop (the token is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

__all__ = [
    "CHAT_IDS_ENV",
    "DEFAULT_API_URL",
    "MAX_TEXT",
    "TOKEN_ENV",
    "FatalTelegramError",
    "IncomingMessage",
    "RejectedTelegramError",
    "RetryableTelegramError",
    "TelegramClient",
    "TelegramError",
    "TelegramSettings",
    "parse_updates",
]

DEFAULT_API_URL = "https://api.telegram.org"
TOKEN_ENV = "THUNES_TELEGRAM_BOT_TOKEN"  # noqa: S105 - the variable's name, not a secret
CHAT_IDS_ENV = "THUNES_TELEGRAM_CHAT_IDS"
MAX_TEXT = 4096  # Bot API: sendMessage text, 1-4096 characters after entity parsing
_REDACTED = "bot<redacted>"
# Any bot token in text (``123456:ABC-def_...``), also one we were not given (defence in depth).
_TOKEN_IN_TEXT = re.compile(r"bot\d+:[A-Za-z0-9_-]+")


class TelegramSettings(BaseModel):
    """Telegram alerts and commands of one session. The token comes from the environment only.

    ``alerts_per_minute`` and ``alert_burst`` shape the token bucket (SPEC §5: alerts never spam);
    ``poll_timeout_s`` is the long-polling wait of ``getUpdates``; a command older than
    ``command_max_age_s`` (sent while the session was down) is refused, never executed late.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bot_token: SecretStr = Field(description="Bot token from @BotFather (secret; env THUNES_TELEGRAM_BOT_TOKEN).")
    chat_ids: tuple[int, ...] = Field(min_length=1, description="Chats that receive alerts and may command.")
    api_url: str = Field(default=DEFAULT_API_URL, description="Bot API base URL (a local fake in tests).")
    alerts_per_minute: float = Field(default=20.0, gt=0, description="Alert rate, messages per minute.")
    alert_burst: int = Field(default=5, ge=1, description="Alerts sent back to back before the rate applies.")
    poll_timeout_s: int = Field(default=25, ge=0, le=50, description="getUpdates long-polling timeout, seconds.")
    request_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one request, seconds.")
    retry_initial_s: float = Field(default=1.0, gt=0, description="First retry delay after a failure, seconds.")
    retry_max_s: float = Field(default=60.0, gt=0, description="Longest retry delay, seconds.")
    command_max_age_s: float = Field(default=120.0, gt=0, description="Older commands are refused, seconds.")
    commands: bool = Field(default=True, description="Answer commands (else alerts only).")
    label: str = Field(default="THUNES", description="Prefix of every alert (tells sessions apart).")

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("api_url must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", value.get_secret_value()):
            raise ValueError("bot_token must look like 123456:ABC-DEF (from @BotFather)")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str], chat_ids: Sequence[int] = (), **overrides: Any) -> Self:
        """The token from ``THUNES_TELEGRAM_BOT_TOKEN``; chats given here, else ``THUNES_TELEGRAM_CHAT_IDS``
        (comma-separated). ``ValueError`` names what is missing, never a value."""
        token = environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise ValueError(f"Telegram needs the bot token in the environment variable {TOKEN_ENV}")
        chats = list(chat_ids)
        if not chats:
            try:
                chats = [int(c) for c in environ.get(CHAT_IDS_ENV, "").replace(" ", "").split(",") if c]
            except ValueError:
                raise ValueError(f"{CHAT_IDS_ENV} must be comma-separated integer chat ids") from None
        if not chats:
            raise ValueError(f"Telegram needs at least one chat id (--telegram-chat or {CHAT_IDS_ENV})")
        try:
            return cls(bot_token=SecretStr(token), chat_ids=tuple(chats), **overrides)
        except ValidationError as e:  # the messages name fields; the token itself is never echoed
            fields = ", ".join(".".join(str(p) for p in err["loc"]) + f": {err['msg']}" for err in e.errors())
            raise ValueError(f"invalid Telegram settings: {fields}") from None


class TelegramError(Exception):
    """A Bot API call failed; the text is redacted (no token) and says what to do."""


class RetryableTelegramError(TelegramError):
    """Try again later: after ``retry_after_s`` when Telegram said so (HTTP 429), else with backoff."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RejectedTelegramError(TelegramError):
    """The Bot API refused this request (bad chat id, bot blocked or not in the chat): drop it and
    check the chat ids in the settings."""


class FatalTelegramError(TelegramError):
    """The token is wrong or revoked (HTTP 401/404): fix THUNES_TELEGRAM_BOT_TOKEN and restart."""


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A text message the bot received; ``sent_s`` is Telegram's ``date`` (Unix seconds)."""

    update_id: int
    message_id: int
    chat_id: int
    text: str
    username: str | None
    sent_s: int


def parse_updates(result: object) -> tuple[int | None, list[IncomingMessage]]:
    """The highest ``update_id`` (the next offset is one more) and the text messages among the
    updates; other updates (edits, joins, callbacks) still move the offset, and are skipped."""
    if not isinstance(result, list):
        raise RetryableTelegramError("getUpdates: the Bot API answered with something other than a list")
    last: int | None = None
    messages = []
    for update in result:
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            continue
        last = update["update_id"] if last is None else max(last, update["update_id"])
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            continue
        chat, sender = message.get("chat") or {}, message.get("from") or {}
        if not isinstance(chat.get("id"), int):
            continue
        username = sender.get("username") if isinstance(sender.get("username"), str) else None
        messages.append(IncomingMessage(update["update_id"], int(message.get("message_id", 0)), chat["id"],
                                        message["text"], username, int(message.get("date", 0))))  # fmt: skip
    return last, messages


def _error(method: str, status: int, body: object) -> TelegramError:
    """The project error for a Bot API failure (``{"ok": false, "error_code", "description", "parameters"}``)."""
    data = body if isinstance(body, dict) else {}
    description = _redact(str(data.get("description", "")))[:200]
    code = data.get("error_code", status)
    text = f"{method}: Bot API error {code}" + (f": {description}" if description else "")
    parameters = data.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if status == 429 or code == 429:
        return RetryableTelegramError(text, float(retry_after) if isinstance(retry_after, int | float) else None)
    if status >= 500:
        return RetryableTelegramError(text)
    if status in (401, 404):  # Telegram answers 404 for an unknown token as well as 401
        return FatalTelegramError(text + "; check THUNES_TELEGRAM_BOT_TOKEN")
    return RejectedTelegramError(text)


def _redact(text: str, token: str | None = None) -> str:
    if token:
        text = text.replace(token, "<redacted>")
    return _TOKEN_IN_TEXT.sub(_REDACTED, text)


class TelegramClient:
    """The two Bot API calls, on a session created in the loop that first uses it."""

    def __init__(self, settings: TelegramSettings) -> None:
        self._settings = settings
        self._token = settings.bot_token.get_secret_value()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"TelegramClient(api_url={self._settings.api_url!r}, chats={len(self._settings.chat_ids)})"

    async def send_message(self, chat_id: int, text: str, *, reply_to: int | None = None) -> None:
        """Send ``text`` (cut to 4096 characters) to ``chat_id``, as plain text."""
        payload: dict[str, Any] = {"chat_id": chat_id, "text": _cut(text), "disable_web_page_preview": True}
        if reply_to is not None:
            payload["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        await self._call("sendMessage", payload, self._settings.request_timeout_s)

    async def get_updates(self, offset: int | None, timeout_s: int) -> tuple[int | None, list[IncomingMessage]]:
        """Long-poll for updates from ``offset`` on (waits up to ``timeout_s`` when there are none)."""
        payload: dict[str, Any] = {"timeout": timeout_s, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        return parse_updates(await self._call("getUpdates", payload, timeout_s + self._settings.request_timeout_s))

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, payload: Mapping[str, Any], timeout_s: float) -> object:
        if self._closed:
            raise RetryableTelegramError(f"{method}: the client is closed (the session is stopping)")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = f"{self._settings.api_url}/bot{self._token}/{method}"
        try:
            async with self._session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=timeout_s)) as answer:
                status = answer.status
                body = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            # Not chained (``from None``): aiohttp's text and traceback may carry the URL, hence the token.
            detail = _redact(str(e), self._token) or "no detail"
            raise RetryableTelegramError(f"{method}: {type(e).__name__}: {detail}") from None
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        raise _error(method, status, body)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
