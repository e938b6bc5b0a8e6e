"""``thunes trade`` input checks: venue choice, testnet keys from the environment, never printed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import app
from thunes.app.cli.trade import TESTNET_KEY_ENV, TESTNET_SECRET_ENV
from thunes.session.paper import Credentials, PaperConfig


def test_trade_when_testnet_without_keys_then_one_line_naming_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TESTNET_KEY_ENV, raising=False)
    monkeypatch.setenv(TESTNET_SECRET_ENV, "s3cr3t-value")

    result = CliRunner().invoke(app, ["trade", "--venue", "binance-testnet"])

    assert result.exit_code == 2
    assert result.output.strip().startswith("error: --venue binance-testnet needs")
    assert TESTNET_KEY_ENV in result.output
    assert "s3cr3t-value" not in result.output


def test_trade_when_unknown_venue_or_testnet_with_url_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TESTNET_KEY_ENV, "k")
    monkeypatch.setenv(TESTNET_SECRET_ENV, "s")
    runner = CliRunner()

    unknown = runner.invoke(app, ["trade", "--venue", "kraken"])
    mixed = runner.invoke(app, ["trade", "--venue", "binance-testnet", "--venue-url", "http://127.0.0.1:1"])

    assert unknown.exit_code == 2
    assert "--venue must be one of embedded, binance-testnet" in unknown.output
    assert mixed.exit_code == 2
    assert "cannot be combined" in mixed.output


def test_credentials_when_printed_in_a_config_then_keys_absent() -> None:
    config = PaperConfig(credentials=Credentials("AKIA-public-key-123", "very-secret-456"))

    text = repr(config) + str(config)

    assert "AKIA-public-key-123" not in text
    assert "very-secret-456" not in text
    assert "Credentials" in text
