"""Telegram commands: long-poll ``getUpdates``, answer allowed chats, ignore everyone else.

Only the chats in the settings may command; a message from any other chat is dropped and logged
with its chat id only, never its text. A command older than ``command_max_age_s`` (queued at
Telegram while the session was down) is refused with a reply, not executed late: an hour-old
``/killswitch off`` must not lift a switch someone turned on since. What each command does is the
session's business (``handlers``); this module parses, routes and replies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from thunes.adapters.alerts.alerter import RetryPolicy, Sender, deliver
from thunes.adapters.alerts.telegram import FatalTelegramError, IncomingMessage, RetryableTelegramError

__all__ = ["Command", "CommandHandler", "CommandPoller", "Updates", "parse_command"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Command:
    """``/killswitch on`` from ``@alice`` → name ``killswitch``, args ``("on",)``, username ``alice``."""

    name: str
    args: tuple[str, ...]
    chat_id: int
    username: str | None


CommandHandler = Callable[[Command], Awaitable[str]]


class Updates(Protocol):
    """The polling half of the client (``TelegramClient`` satisfies it)."""

    async def get_updates(self, offset: int | None, timeout_s: int) -> tuple[int | None, list[IncomingMessage]]: ...


class PollSettings(RetryPolicy, Protocol):
    @property
    def chat_ids(self) -> tuple[int, ...]: ...

    @property
    def poll_timeout_s(self) -> int: ...

    @property
    def command_max_age_s(self) -> float: ...


def parse_command(message: IncomingMessage) -> Command | None:
    """The command in ``message`` (``/status``, ``/status@thunes_bot``), or None for plain text."""
    words = message.text.strip().split()
    if not words or not words[0].startswith("/") or len(words[0]) < 2:
        return None
    name = words[0][1:].split("@", 1)[0].lower()
    return Command(name, tuple(words[1:]), message.chat_id, message.username)


class CommandPoller:
    """Polls for commands and answers each with the text its handler returns."""

    def __init__(self, client: Updates, sender: Sender, settings: PollSettings,
                 handlers: Mapping[str, CommandHandler], *,
                 wall_s: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._client, self._sender, self._settings = client, sender, settings
        self._handlers, self._wall_s = dict(handlers), wall_s
        self._allowed = frozenset(settings.chat_ids)
        self.offset: int | None = None
        self.handled = 0
        self.ignored = 0

    async def run(self) -> None:
        """Poll until cancelled; failures back off (a 429 waits its ``retry_after``)."""
        delay = self._settings.retry_initial_s
        while True:
            try:
                last, messages = await self._client.get_updates(self.offset, self._settings.poll_timeout_s)
                delay = self._settings.retry_initial_s
                if last is not None:
                    self.offset = last + 1  # confirms these updates: Telegram will not send them again
                for message in messages:
                    await self.handle(message)
            except RetryableTelegramError as e:
                wait = e.retry_after_s if e.retry_after_s is not None else delay
                _log.warning("telegram_poll_retry", retry_in_s=wait, error=str(e))
                await asyncio.sleep(wait)
                delay = min(delay * 2, self._settings.retry_max_s)
            except FatalTelegramError as e:
                _log.error("telegram_commands_disabled", error=str(e))
                return

    async def handle(self, message: IncomingMessage) -> None:
        """Answer one message from an allowed chat; anything else is counted and dropped."""
        if message.chat_id not in self._allowed:
            self.ignored += 1
            _log.warning("telegram_message_ignored", chat_id=message.chat_id, update_id=message.update_id)
            return
        command = parse_command(message)
        if command is None:
            return
        age_s = self._wall_s() - message.sent_s
        if age_s > self._settings.command_max_age_s:
            reply = (
                f"/{command.name} ignored: sent {age_s / 60:.0f} min ago, before the session could act; send it again."
            )
        else:
            reply = await self._answer(command)
        self.handled += 1
        _log.info("telegram_command", command=command.name, chat_id=message.chat_id, by=command.username)
        await deliver(self._sender, message.chat_id, reply, self._settings, reply_to=message.message_id, attempts=3)

    async def _answer(self, command: Command) -> str:
        handler = self._handlers.get(command.name)
        if handler is None:
            return "commands: " + " ".join(f"/{name}" for name in self._handlers)
        try:
            return await handler(command)
        except ValueError as e:  # a refusal the handler explains (e.g. no username to turn it off)
            return f"/{command.name} refused: {e}"
        except Exception:
            _log.exception("telegram_command_failed", command=command.name)
            return f"/{command.name} failed (see the session log)"
