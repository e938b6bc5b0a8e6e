"""How the CLI reports a bad input: one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

__all__ = ["EXIT_USAGE", "fail"]

EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: <message>`` to stderr and exit with ``code``."""
    first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    print(f"error: {first_line}", file=sys.stderr)  # noqa: T201 - the CLI's own error channel
    raise typer.Exit(code)
