"""``thunes trade`` operator options: the Telegram token only from the environment, and a session
that cannot start its operator side says why in one line, before trading."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from thunes.adapters.alerts import CHAT_IDS_ENV, TOKEN_ENV
from thunes.app.cli.main import app


def test_trade_when_telegram_without_token_then_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)

    result = CliRunner().invoke(app, ["trade", "--telegram", "--telegram-chat", "11"])

    assert result.exit_code == 2
    assert result.output.strip().startswith("error: Telegram needs the bot token")
    assert TOKEN_ENV in result.output


def test_trade_when_telegram_without_chat_then_refused_without_echoing_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "123:secret-token-value")
    monkeypatch.delenv(CHAT_IDS_ENV, raising=False)

    no_chat = CliRunner().invoke(app, ["trade", "--telegram"])
    monkeypatch.setenv(TOKEN_ENV, "not-a-bot-token secret-words")
    bad_token = CliRunner().invoke(app, ["trade", "--telegram", "--telegram-chat", "11"])

    assert no_chat.exit_code == 2
    assert "chat id" in no_chat.output
    assert bad_token.exit_code == 2
    assert "bot_token" in bad_token.output
    assert "secret" not in no_chat.output + bad_token.output


def test_trade_help_when_shown_then_offers_the_operator_options_but_no_token_option() -> None:
    result = CliRunner().invoke(app, ["trade", "--help"], env={"COLUMNS": "200"})

    assert "--control-port" in result.output
    assert "--telegram-chat" in result.output
    assert "--telegram-token" not in result.output
