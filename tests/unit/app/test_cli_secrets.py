"""``thunes secrets keygen|encrypt|decrypt|check`` on real files: values reach the terminal only with --show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.adapters.secrets import open_provider
from thunes.adapters.secrets.fernet import KEY_ENV
from thunes.app.cli.secrets import SECRETS_ENV, secrets_app

KEY, SECRET = "AKcli-key-5555", "cli-secret-6666"


@pytest.fixture
def plaintext(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"binance_api_key": KEY, "binance_api_secret": SECRET}))
    path.chmod(0o600)
    return path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(secrets_app, list(args), env=env)
    return result.exit_code, result.output


def test_keygen_encrypt_decrypt_when_chained_then_file_reads_back_and_values_stay_hidden(
    tmp_path: Path, plaintext: Path
) -> None:
    key_file, encrypted = tmp_path / "secrets.key", tmp_path / "secrets.enc"

    made = run("keygen", str(key_file))
    done = run("encrypt", str(plaintext), "--output", str(encrypted), "--key-file", str(key_file))
    listed = run("decrypt", str(encrypted), "--key-file", str(key_file))
    shown = run("decrypt", str(encrypted), "--key-file", str(key_file), "--show")

    key = key_file.read_text().strip()
    assert made[0] == done[0] == listed[0] == shown[0] == 0
    assert key_file.stat().st_mode & 0o777 == encrypted.stat().st_mode & 0o777 == 0o600
    assert key not in made[1]  # keygen writes the key, never prints it
    assert "binance_api_key, binance_api_secret" in done[1]
    assert KEY not in done[1] + listed[1]
    assert SECRET not in done[1] + listed[1]
    assert "values hidden" in listed[1]
    assert shown[1].splitlines() == [f"binance_api_key={KEY}", f"binance_api_secret={SECRET}"]
    provider = open_provider(f"fernet:{encrypted}?key_file={key_file}", {})
    assert provider.get("binance_api_secret").reveal() == SECRET


def test_encrypt_when_key_in_env_then_used_and_when_output_exists_then_kept_unless_force(
    tmp_path: Path, plaintext: Path
) -> None:
    key_file = tmp_path / "k"
    run("keygen", str(key_file))
    env = {KEY_ENV: key_file.read_text().strip()}
    encrypted = tmp_path / "secrets.enc"

    first = run("encrypt", str(plaintext), "-o", str(encrypted), env=env)
    before = encrypted.read_bytes()
    again = run("encrypt", str(plaintext), "-o", str(encrypted), env=env)
    forced = run("encrypt", str(plaintext), "-o", str(encrypted), "--force", env=env)

    assert first[0] == 0
    assert again[0] == 2
    assert "already exists; pass --force" in again[1]
    assert forced[0] == 0
    assert encrypted.read_bytes() != before  # a fresh token (Fernet tokens carry a random IV)


def test_encrypt_when_plaintext_readable_by_others_then_refused_without_its_content(
    tmp_path: Path, plaintext: Path
) -> None:
    plaintext.chmod(0o644)
    run("keygen", str(tmp_path / "k"))

    code, output = run("encrypt", str(plaintext), "-o", str(tmp_path / "e"), "-k", str(tmp_path / "k"))

    assert code == 2
    assert "chmod 600" in output
    assert KEY not in output
    assert not (tmp_path / "e").exists()


def test_decrypt_when_wrong_key_then_one_line_error(tmp_path: Path, plaintext: Path) -> None:
    run("keygen", str(tmp_path / "k1"))
    run("keygen", str(tmp_path / "k2"))
    run("encrypt", str(plaintext), "-o", str(tmp_path / "e"), "-k", str(tmp_path / "k1"))

    code, output = run("decrypt", str(tmp_path / "e"), "-k", str(tmp_path / "k2"))

    assert code == 2
    assert output.startswith("error: ")
    assert "wrong key" in output
    assert output.count("\n") == 1


def test_check_when_spec_from_env_then_names_listed_values_not(plaintext: Path) -> None:
    code, output = run("check", env={SECRETS_ENV: f"file:{plaintext}"})

    assert code == 0
    assert f"file {plaintext}: 2 secret(s): binance_api_key, binance_api_secret" in output
    assert KEY not in output
    assert SECRET not in output


def test_keygen_when_file_exists_then_not_replaced(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    key_file.write_text("keep me")

    code, output = run("keygen", str(key_file))

    assert code == 2
    assert "already exists" in output
    assert key_file.read_text() == "keep me"
