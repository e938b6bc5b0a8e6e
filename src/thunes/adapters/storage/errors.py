"""Storage errors the command line reports as one line; no vendor import, so the CLI's error handler
can know them without loading SQLAlchemy."""

from __future__ import annotations

__all__ = ["DatabaseOpenError"]


class DatabaseOpenError(Exception):
    """A database URL or file that cannot be opened: the message names it (never its password)."""
