"""A secrets document: a flat table of names to text, as JSON or TOML.

Parse errors are re-raised without their cause: the parsers' exceptions keep the whole document
(``JSONDecodeError.doc``), and a chained exception is what a traceback logger walks.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping

from thunes.adapters.secrets.errors import SecretsConfigError
from thunes.adapters.secrets.secret import Secret

__all__ = ["NAME_PATTERN", "dump_document", "parse_document", "secrets_from_mapping"]

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_POSITION = re.compile(r"\(at line \d+, column \d+\)")


def secrets_from_mapping(data: Mapping[str, object], source: str) -> dict[str, Secret]:
    """Each text value as a :class:`Secret`; a key that is not text is refused by its name only."""
    out: dict[str, Secret] = {}
    for name, value in data.items():
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise SecretsConfigError(f"{source}: a secret name must match {NAME_PATTERN.pattern}")
        if not isinstance(value, str):
            raise SecretsConfigError(
                f"{source}: secret {name!r} is a {type(value).__name__}; secrets are a flat table of text values"
            )
        out[name] = Secret(value)
    return out


def parse_document(data: bytes, source: str) -> dict[str, Secret]:
    """JSON when the text starts with ``{``, TOML otherwise; ``source`` names it in errors."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsConfigError(f"{source}: not UTF-8 text") from None
    parsed: object
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as e:
            raise SecretsConfigError(f"{source}: invalid JSON at line {e.lineno}, column {e.colno}") from None
    else:
        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            where = _POSITION.search(str(e))  # only the position: the parser's message may quote the text
            at = f" {where.group(0)}" if where else ""
            raise SecretsConfigError(f"{source}: neither a JSON object nor valid TOML{at}") from None
    if not isinstance(parsed, dict):
        raise SecretsConfigError(f"{source}: expected a table of names to text values")
    return secrets_from_mapping(parsed, source)


def dump_document(secrets: Mapping[str, Secret]) -> bytes:
    """The canonical JSON form (sorted keys), the one the encrypted file holds."""
    return json.dumps({name: secret.reveal() for name, secret in sorted(secrets.items())}, indent=2).encode()
