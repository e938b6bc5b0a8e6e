"""Alerts and commands over Telegram (SPEC §5): the Bot API client, the rate-limited alerter, what
deserves an alert (one per change of state) and the command poller.

aiohttp is used here for the Bot API; the bot token never leaves :mod:`.telegram` unredacted.
"""

from thunes.adapters.alerts.alerter import Alerter, RetryPolicy, Sender, TokenBucket, deliver
from thunes.adapters.alerts.commands import Command, CommandHandler, CommandPoller, parse_command
from thunes.adapters.alerts.telegram import (
    CHAT_IDS_ENV,
    DEFAULT_API_URL,
    TOKEN_ENV,
    FatalTelegramError,
    IncomingMessage,
    RejectedTelegramError,
    RetryableTelegramError,
    TelegramClient,
    TelegramError,
    TelegramSettings,
)
from thunes.adapters.alerts.watch import RiskWatch, decay_text, mismatch_text

__all__ = [
    "CHAT_IDS_ENV",
    "DEFAULT_API_URL",
    "TOKEN_ENV",
    "Alerter",
    "Command",
    "CommandHandler",
    "CommandPoller",
    "FatalTelegramError",
    "IncomingMessage",
    "RejectedTelegramError",
    "RetryPolicy",
    "RetryableTelegramError",
    "RiskWatch",
    "Sender",
    "TelegramClient",
    "TelegramError",
    "TelegramSettings",
    "TokenBucket",
    "decay_text",
    "deliver",
    "mismatch_text",
    "parse_command",
]
