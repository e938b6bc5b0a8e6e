"""The environment, 0600-file and Fernet-file providers, and the spec factory, on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from thunes.adapters.secrets import (
    InsecureSecretsFileError,
    Secret,
    SecretNotFoundError,
    SecretsConfigError,
    open_provider,
)
from thunes.adapters.secrets.env import EnvProvider
from thunes.adapters.secrets.fernet import (
    KEY_ENV,
    FernetFileProvider,
    encrypt_document,
    generate_key,
)
from thunes.adapters.secrets.file import FileProvider
from thunes.adapters.secrets.files import read_private_file, write_private_file
from thunes.adapters.secrets.vault import VaultProvider

KEY, SECRET = "AKbinance-key-1234567890", "s3cr3t-binance-0987654321"


def private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- environment -------------------------------------------------------------------------------
def test_env_when_variable_set_then_secret_read_and_names_listed() -> None:
    provider = open_provider("env:", {"THUNES_BINANCE_API_KEY": KEY, "OTHER": "x"})

    assert provider.get("binance_api_key").reveal() == KEY
    assert provider.names() == ("binance_api_key",)
    assert isinstance(provider, EnvProvider)


def test_env_when_missing_then_error_names_the_variable() -> None:
    provider = open_provider("env:APP_", {})

    with pytest.raises(SecretNotFoundError, match="APP_BINANCE_API_SECRET"):
        provider.get("binance_api_secret")


# --- 0600 file ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        f'binance_api_key = "{KEY}"\nbinance_api_secret = "{SECRET}"\n',
        f'{{"binance_api_key": "{KEY}", "binance_api_secret": "{SECRET}"}}',
    ],
    ids=["toml", "json"],
)
def test_file_when_private_then_both_formats_read(tmp_path: Path, text: str) -> None:
    path = private(tmp_path / "secrets", text)

    provider = open_provider(f"file:{path}")

    assert provider.get("binance_api_secret").reveal() == SECRET
    assert provider.names() == ("binance_api_key", "binance_api_secret")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_file_when_group_or_world_has_access_then_refused_with_chmod_hint(tmp_path: Path, mode: int) -> None:
    path = private(tmp_path / "secrets.toml", f'binance_api_key = "{KEY}"\n', mode)

    with pytest.raises(InsecureSecretsFileError, match="chmod 600") as caught:
        FileProvider(path).get("binance_api_key")

    assert f"{mode:04o}" in str(caught.value)
    assert KEY not in str(caught.value)


def test_file_when_read_only_for_owner_then_accepted(tmp_path: Path) -> None:
    path = private(tmp_path / "secrets.toml", f'binance_api_key = "{KEY}"\n', 0o400)

    assert FileProvider(path).get("binance_api_key").reveal() == KEY


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_file_when_owned_by_another_user_then_refused(tmp_path: Path) -> None:
    path = private(tmp_path / "secrets.toml", f'binance_api_key = "{KEY}"\n')
    os.chown(path, 54321, -1)

    with pytest.raises(InsecureSecretsFileError, match="owned by uid 54321"):
        FileProvider(path).get("binance_api_key")


def test_file_when_missing_malformed_or_not_text_then_config_errors_without_content(tmp_path: Path) -> None:
    broken = private(tmp_path / "broken.toml", f'binance_api_key = "{KEY}\n')  # unterminated string
    nested = private(tmp_path / "nested.json", f'{{"binance": {{"api_key": "{KEY}"}}}}')

    errors = []
    for path in (tmp_path / "absent.toml", broken, nested):
        with pytest.raises(SecretsConfigError) as caught:
            FileProvider(path).names()
        errors.append(str(caught.value))

    assert "does not exist" in errors[0]
    assert "neither a JSON object nor valid TOML" in errors[1]
    assert "flat table of text values" in errors[2]
    assert all(KEY not in e for e in errors)


def test_file_when_a_directory_or_a_fifo_then_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)  # opening it for reading would wait for a writer forever

    for path in (tmp_path, fifo):
        with pytest.raises(SecretsConfigError, match="not a regular file"):
            read_private_file(path)


def test_write_private_file_when_written_then_0600_and_never_replaced_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key"

    write_private_file(path, b"one")
    with pytest.raises(SecretsConfigError, match="already exists"):
        write_private_file(path, b"two")
    write_private_file(path, b"three", overwrite=True)

    assert path.stat().st_mode & 0o777 == 0o600
    assert read_private_file(path) == b"three"
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temporary file left behind


# --- Fernet file -------------------------------------------------------------------------------
def encrypted(tmp_path: Path, key: Secret) -> Path:
    path = tmp_path / "secrets.enc"
    path.write_bytes(encrypt_document({"binance_api_key": Secret(KEY), "binance_api_secret": Secret(SECRET)}, key))
    return path


def test_fernet_when_key_in_env_then_document_decrypts(tmp_path: Path) -> None:
    key = generate_key()
    path = encrypted(tmp_path, key)

    provider = open_provider(f"fernet:{path}", {KEY_ENV: key.reveal()})

    assert provider.get("binance_api_key").reveal() == KEY
    assert KEY.encode() not in path.read_bytes()
    assert SECRET.encode() not in path.read_bytes()


def test_fernet_when_key_file_private_then_used_and_when_open_then_refused(tmp_path: Path) -> None:
    key = generate_key()
    path = encrypted(tmp_path, key)
    key_file = private(tmp_path / "secrets.key", key.reveal() + "\n")

    provider = open_provider(f"fernet:{path}?key_file={key_file}", {})
    assert provider.get("binance_api_secret").reveal() == SECRET

    key_file.chmod(0o644)
    with pytest.raises(InsecureSecretsFileError, match="key file"):
        FernetFileProvider(path, key_file, {}).names()


def test_fernet_when_key_rotated_then_old_file_still_reads_with_both_keys(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    path = encrypted(tmp_path, old)

    provider = FernetFileProvider(path, None, {KEY_ENV: f"{new.reveal()},{old.reveal()}"})

    assert provider.get("binance_api_key").reveal() == KEY


def test_fernet_when_wrong_malformed_or_absent_key_or_altered_file_then_refused(tmp_path: Path) -> None:
    path = encrypted(tmp_path, generate_key())
    altered = tmp_path / "altered.enc"
    token = bytearray(path.read_bytes())
    token[40] = ord("A") if token[40] != ord("A") else ord("B")
    altered.write_bytes(bytes(token))
    good = generate_key().reveal()

    cases = {
        "wrong key": FernetFileProvider(path, None, {KEY_ENV: good}),
        "altered": FernetFileProvider(altered, None, {KEY_ENV: good}),
        "malformed key": FernetFileProvider(path, None, {KEY_ENV: "not-a-fernet-key"}),
        "no key": FernetFileProvider(path, None, {}),
    }
    messages = {}
    for name, provider in cases.items():
        with pytest.raises(SecretsConfigError) as caught:
            provider.names()
        messages[name] = str(caught.value)

    assert "wrong key, or the file was altered" in messages["wrong key"]
    assert "wrong key, or the file was altered" in messages["altered"]
    assert "malformed" in messages["malformed key"]
    assert KEY_ENV in messages["no key"]
    assert all("not-a-fernet-key" not in m and good not in m for m in messages.values())


# --- factory -----------------------------------------------------------------------------------
def test_factory_when_scheme_unknown_or_option_unknown_then_refused_without_echoing_values() -> None:
    with pytest.raises(SecretsConfigError, match="starts with one of env:, file:, fernet:, vault:, aws:"):
        open_provider("keyring:thunes")
    with pytest.raises(SecretsConfigError, match="credentials never go in a spec") as caught:
        open_provider("vault:https://vault.example:8200/v1/secret/data/thunes?token=hvs.SHOULD-NOT-SHOW")
    assert "SHOULD-NOT-SHOW" not in str(caught.value)
    with pytest.raises(SecretsConfigError, match="unknown option 'mode'"):
        open_provider("fernet:/etc/thunes/secrets.enc?mode=x")


def test_factory_when_vault_spec_then_options_kept_apart_from_vault_query() -> None:
    provider = open_provider(
        "vault:https://vault.example:8200/v1/kv/data/app/thunes?version=3&namespace=team&timeout=5"
    )

    assert isinstance(provider, VaultProvider)
    assert provider.url == "https://vault.example:8200/v1/kv/data/app/thunes?version=3"
    assert provider.source == "vault https://vault.example:8200/v1/kv/data/app/thunes?version=3"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("vault:http://vault.example:8200/v1/secret/data/thunes", "in clear"),
        ("vault:https://user:pw@vault.example/v1/secret/data/thunes", "no credentials in the URL"),
        ("vault:https://vault.example/v1/secret/thunes", "not a KV v2 read path"),
        ("vault:ftp://vault.example/v1/secret/data/thunes", "is not http"),
        ("vault:https://vault.example/v1/secret/data/thunes?timeout=0", "timeout must be in"),
    ],
)
def test_factory_when_vault_spec_unsafe_or_wrong_then_refused(spec: str, message: str) -> None:
    with pytest.raises(SecretsConfigError, match=message) as caught:
        open_provider(spec)

    assert "pw" not in str(caught.value)
