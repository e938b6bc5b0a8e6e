"""``thunes secrets keygen|encrypt|decrypt|check``: the Fernet-encrypted secrets file, and a look at
any provider, without a value ever reaching the terminal unless the operator asks with ``--show``.

Why files and not stdout for keys: a key printed to a terminal lands in scroll-back, shell logs and
screen shares. ``keygen`` and ``encrypt`` write files with mode 0600 and refuse to replace one
unless ``--force``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from thunes.adapters.secrets import Secret, SecretsError, open_provider
from thunes.adapters.secrets.document import parse_document
from thunes.adapters.secrets.fernet import KEY_ENV, decrypt_document, encrypt_document, generate_key, load_key
from thunes.adapters.secrets.files import read_private_file, write_private_file
from thunes.app.errors import fail

__all__ = ["SECRETS_ENV", "secrets_app"]

SECRETS_ENV = "THUNES_SECRETS"  # the spec a live session reads its keys from

secrets_app = typer.Typer(
    help=f"Secrets: a Fernet-encrypted file (key in ${KEY_ENV} or a key file) and a check of any provider.",
    no_args_is_help=True,
    add_completion=False,
)

KeyFile = Annotated[
    Path | None, typer.Option("--key-file", "-k", help=f"Fernet key file (mode 0600); default ${KEY_ENV}.")
]
Force = Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")]


def _names(secrets: dict[str, Secret]) -> str:
    return ", ".join(sorted(secrets)) or "none"


@secrets_app.command("keygen")
def keygen(
    output: Annotated[Path, typer.Argument(help="Where to write the new key (mode 0600).", dir_okay=False)],
    force: Force = False,
) -> None:
    """Write a new random Fernet key to a file; the key is never printed."""
    try:
        write_private_file(output, generate_key().reveal().encode("ascii") + b"\n", overwrite=force)
    except SecretsError as e:
        fail(str(e))
    typer.echo(f"wrote a new key to {output} (mode 0600); keep a copy apart from the encrypted file")


@secrets_app.command("encrypt")
def encrypt(
    plaintext: Annotated[Path, typer.Argument(help="JSON or TOML table of names to text (mode 0600).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The encrypted file to write.", dir_okay=False)],
    key_file: KeyFile = None,
    force: Force = False,
) -> None:
    """Encrypt a plaintext secrets file; then delete the plaintext (``shred -u``)."""
    try:
        secrets = parse_document(read_private_file(plaintext), str(plaintext))
        if not secrets:  # an empty or wrong file: an encrypted file of nothing would hide the mistake
            fail(f"{plaintext} holds no secrets (a JSON or TOML table of names to text): nothing encrypted")
        write_private_file(output, encrypt_document(secrets, load_key(key_file)) + b"\n", overwrite=force)
    except SecretsError as e:
        fail(str(e))
    typer.echo(f"encrypted {len(secrets)} secret(s) to {output}: {_names(secrets)}")


@secrets_app.command("decrypt")
def decrypt(
    encrypted: Annotated[Path, typer.Argument(help="A file written by `thunes secrets encrypt`.", dir_okay=False)],
    key_file: KeyFile = None,
    show: Annotated[bool, typer.Option("--show", help="Print the values too (name=value lines).")] = False,
) -> None:
    """Check that the file decrypts; print its names, and its values only with ``--show``."""
    try:
        secrets = decrypt_document(encrypted.read_bytes(), load_key(key_file), str(encrypted))
    except OSError as e:
        fail(f"{encrypted}: cannot read: {e.strerror}")
    except SecretsError as e:
        fail(str(e))
    if not show:
        typer.echo(f"{encrypted} decrypts: {len(secrets)} secret(s): {_names(secrets)} (values hidden; --show)")
        return
    for name, secret in sorted(secrets.items()):
        typer.echo(f"{name}={secret.reveal()}")


@secrets_app.command("check")
def check(
    spec: Annotated[
        str, typer.Argument(envvar=SECRETS_ENV, help="env:, file:PATH, fernet:PATH, vault:URL or aws:ID?region=R")
    ],
) -> None:
    """Read a provider once and list the names it holds (never the values)."""
    try:
        provider = open_provider(spec)
        names = provider.names()
    except SecretsError as e:
        fail(str(e))
    typer.echo(f"{provider.source}: {len(names)} secret(s): {', '.join(names) or 'none'}")
