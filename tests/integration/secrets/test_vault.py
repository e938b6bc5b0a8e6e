"""The Vault KV v2 provider against a real HTTP server speaking Vault's read API (see vault_server)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.secrets.vault_server import VaultServer
from thunes.adapters.secrets import (
    SecretNotFoundError,
    SecretsAccessDeniedError,
    SecretsConfigError,
    SecretsUnavailableError,
    open_provider,
)
from thunes.adapters.secrets.vault import TOKEN_ENV, VaultProvider

TOKEN = "hvs.CAESIJlU7-vault-token-do-not-print"
KEY, SECRET = "AKvault-key-1111", "vault-secret-2222"
PATH = "thunes/binance"


@pytest.fixture
def vault() -> Iterator[VaultServer]:
    server = VaultServer(TOKEN)
    server.put(PATH, {"binance_api_key": "old-key", "binance_api_secret": "old-secret"})
    server.put(PATH, {"binance_api_key": KEY, "binance_api_secret": SECRET})
    yield server
    server.stop()


def test_vault_when_token_valid_then_latest_version_read_with_token_in_header_only(vault: VaultServer) -> None:
    provider = open_provider(f"vault:{vault.url(PATH)}", {TOKEN_ENV: TOKEN})

    key, secret = provider.get("binance_api_key"), provider.get("binance_api_secret")
    names = provider.names()

    assert (key.reveal(), secret.reveal()) == (KEY, SECRET)
    assert names == ("binance_api_key", "binance_api_secret")
    assert vault.state.seen_tokens == [TOKEN]  # read once, then kept
    assert TOKEN not in provider.source


def test_vault_when_version_asked_then_that_version_read(vault: VaultServer) -> None:
    provider = open_provider(f"vault:{vault.url(PATH)}?version=1", {TOKEN_ENV: TOKEN})

    assert provider.get("binance_api_key").reveal() == "old-key"


def test_vault_when_token_file_private_then_used(vault: VaultServer, tmp_path: Path) -> None:
    token_file = tmp_path / "vault-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)

    provider = open_provider(f"vault:{vault.url(PATH)}?token_file={token_file}", {})

    assert provider.get("binance_api_secret").reveal() == SECRET


def test_vault_when_token_wrong_then_access_denied_naming_the_url_not_the_token(vault: VaultServer) -> None:
    provider = VaultProvider(vault.url(PATH), environ={TOKEN_ENV: "hvs.wrong-token-777"})

    with pytest.raises(SecretsAccessDeniedError, match="403") as caught:
        provider.get("binance_api_key")

    assert vault.url(PATH) in str(caught.value)
    assert "wrong-token-777" not in str(caught.value)


@pytest.mark.parametrize("path", ["thunes/absent", "thunes"])
def test_vault_when_path_unknown_then_not_found(vault: VaultServer, path: str) -> None:
    with pytest.raises(SecretNotFoundError, match="404"):
        VaultProvider(vault.url(path), environ={TOKEN_ENV: TOKEN}).names()


def test_vault_when_latest_version_deleted_then_not_found(vault: VaultServer) -> None:
    vault.delete_latest(PATH)

    with pytest.raises(SecretNotFoundError):
        VaultProvider(vault.url(PATH), environ={TOKEN_ENV: TOKEN}).names()


def test_vault_when_sealed_then_unavailable_retry_later(vault: VaultServer) -> None:
    vault.state.sealed = True

    with pytest.raises(SecretsUnavailableError, match="503"):
        VaultProvider(vault.url(PATH), environ={TOKEN_ENV: TOKEN}).names()


def test_vault_when_redirected_then_refused_and_the_target_never_sees_the_token(vault: VaultServer) -> None:
    elsewhere = VaultServer("another-token")
    vault.state.redirect_to = elsewhere.base_url
    try:
        with pytest.raises(SecretsConfigError, match="redirected"):
            VaultProvider(vault.url(PATH), environ={TOKEN_ENV: TOKEN}).names()
        assert elsewhere.state.seen_tokens == []
    finally:
        elsewhere.stop()


def test_vault_when_unreachable_then_unavailable() -> None:
    with socket.socket() as probe:  # bound, never listening, held meanwhile: refused, and no other test can take it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(SecretsUnavailableError, match="cannot reach Vault"):
            VaultProvider(f"http://127.0.0.1:{port}/v1/secret/data/x", environ={TOKEN_ENV: TOKEN}, timeout_s=2).names()


def test_vault_when_no_token_anywhere_then_config_error_naming_both_ways(vault: VaultServer) -> None:
    with pytest.raises(SecretsConfigError, match="VAULT_TOKEN or add token_file"):
        VaultProvider(vault.url(PATH), environ={}).names()
    assert vault.state.seen_tokens == []  # nothing was sent
