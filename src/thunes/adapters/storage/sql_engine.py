"""One way to open a database for every store: SQLite with WAL and synchronous commits (a commit
is on disk when it returns), PostgreSQL or anything else SQLAlchemy speaks by URL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from thunes.adapters.storage.errors import DatabaseOpenError

__all__ = ["connect_readonly", "open_engine", "open_readonly"]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_engine(url: str, metadata: MetaData) -> Engine:
    """An engine for ``url`` with ``metadata``'s tables created if missing; a URL nothing can open (a
    bad scheme, a file that is no database, a folder that does not exist) raises
    :class:`DatabaseOpenError` naming it, without its password."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
    try:
        engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
        metadata.create_all(engine)
    except (SQLAlchemyError, ImportError, ValueError) as e:  # ImportError: a dialect's driver is missing
        raise DatabaseOpenError(f"{_shown(url)}: cannot open the database: {_reason(e)}") from e
    return engine


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes to the file or its directory (read-only commands).

    With no ``-wal`` file beside it (a session that closed cleanly) the database is opened
    ``immutable``: no lock, no ``-shm``/``-wal`` created. With one (a session runs, or crashed) it
    is opened read-only, so the committed pages still in the WAL are read too.
    """
    if not path.is_file():
        raise FileNotFoundError(path)
    wal = Path(f"{path}-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)


def open_readonly(path: Path) -> Engine:
    """An engine over :func:`connect_readonly`: no pragma, no table created, nothing written."""
    return create_engine("sqlite://", creator=lambda: connect_readonly(path), poolclass=NullPool)


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


def _reason(error: Exception) -> str:
    orig = getattr(error, "orig", None)  # the driver's own message, without SQLAlchemy's statement and link
    return str(orig if orig is not None else error).splitlines()[0]
