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

__all__ = ["check_url", "connect_readonly", "is_sqlite_file", "open_engine", "open_readonly"]

_SQLITE_HEADER = b"SQLite format 3\x00"


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


def check_url(url: str) -> None:
    """Raise :class:`DatabaseOpenError` for a URL no dialect can take (a bad scheme, a driver that is
    not installed), without connecting: a command checks it before it starts any work."""
    try:
        make_url(url).get_dialect()
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise DatabaseOpenError(f"{_shown(url)}: cannot open the database: {_reason(e)}") from e


def is_sqlite_file(path: Path) -> bool:
    """``path`` is a file SQLite can open as a database: empty (SQLite makes it one) or with its header."""
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except OSError:
        return False
    return head in (b"", _SQLITE_HEADER)


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


def open_readonly(path: Path, tables: tuple[str, ...] = ()) -> Engine:
    """An engine over :func:`connect_readonly`: no pragma, no table created, nothing written. The file
    is probed first: one that is no SQLite database, or lacks one of ``tables``, raises
    :class:`DatabaseOpenError` naming it (not a driver error at the first query)."""
    try:
        connection = connect_readonly(path)
        try:
            present = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except (OSError, sqlite3.Error) as e:
        raise DatabaseOpenError(f"{path}: cannot open the database: {e}") from e
    missing = [t for t in tables if t not in present]
    if missing:
        raise DatabaseOpenError(f"{path}: not a THUNES database (no table {', '.join(missing)})")
    return create_engine("sqlite://", creator=lambda: connect_readonly(path), poolclass=NullPool)


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


def _reason(error: Exception) -> str:
    orig = getattr(error, "orig", None)  # the driver's own message, without SQLAlchemy's statement and link
    return str(orig if orig is not None else error).splitlines()[0]
