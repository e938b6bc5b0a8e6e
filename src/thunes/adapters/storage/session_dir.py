"""A session's data directory, and what a fresh paper session may discard in it (and what never).

The rule (ARCHITECTURE, "Fail closed"): no command deletes what it did not create. A session marks
a directory it uses with ``.thunes-session.json`` (its kind: paper, testnet or live). A fresh paper
or testnet session (no ``--resume``) then:

- creates the directory when it does not exist, and takes an empty one;
- refuses a directory without the marker (``--data-dir ~``, a legacy or hand-made directory), one
  marked ``live`` (real money: never discarded), one holding files a session does not write, and one
  a running session holds (the audit trail's lock);
- otherwise removes only the files sessions write, by name (:data:`SESSION_FILES`, the ``audit``
  and ``logs`` directories' own files), and keeps what other commands keep there (``params.db``, ``reports/``,
  ``capital.jsonl``).

A resumed session never removes anything; it refuses a directory whose marker says the other side
of real money (a paper session on a live ledger, a live session on a paper one). A live session
marks an unmarked directory as live, so no later paper session ever discards it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from thunes.adapters.storage.durable import fsync_dir

__all__ = [
    "AUDIT_DIR",
    "BUS_SPOOL_DIR",
    "KEPT_FILES",
    "LOG_DIR",
    "MARKER_NAME",
    "SESSION_FILES",
    "SessionDirError",
    "SessionKind",
    "foreign_entries",
    "prepare_session_dir",
    "session_kind",
]

MARKER_NAME = ".thunes-session.json"
AUDIT_DIR = "audit"
_DATABASE_SIDES = ("", "-wal", "-shm", "-journal")
# Every file a trading session writes at the top of its directory (ledger, audit copy, risk state,
# checkpoint, rodage marks, daily summaries, the account's last valuation, control inbox and endpoint discovery).
SESSION_FILES = frozenset(
    [f"{db}{side}" for db in ("ledger.db", "audit.db") for side in _DATABASE_SIDES]
    + ["risk.json", "checkpoint.json", "checkpoint.tmp", "session.jsonl", "daily_summaries.jsonl", "portfolio.json"]
    + ["control.jsonl", "control.applied", "control.tmp", "control.json", "control.token"]
)
_SESSION_PATTERNS = (re.compile(r"^\.(risk|portfolio)\.json\..+\.tmp$"),)
# Inside ``audit/``: the weekly files, the lock, the anchor and head, and their temporary files.
_AUDIT_NAMES: tuple[str, ...] = (r"^audit-\d{4}-W\d{2}\.jsonl$", r"^\.audit\.lock$", r"^audit-(anchor|head)\.json$")
_AUDIT_NAMES += (r"^\.(anchor|head)\..+\.tmp$",)
_AUDIT_PATTERNS = tuple(re.compile(p) for p in _AUDIT_NAMES)
# The session's log (app/logging.session_log): ``logs/thunes.jsonl`` and its rotated copies ``.1`` ... ``.N``.
LOG_DIR = "logs"
_LOG_PATTERNS = (re.compile(r"^thunes\.jsonl(\.[1-9]\d{0,2})?$"),)
_SESSION_DIRS = {AUDIT_DIR: _AUDIT_PATTERNS, LOG_DIR: _LOG_PATTERNS}
# Written there by other commands (``thunes params``, ``report``, ``capital``): kept, never foreign. ``bus/``
# is the JetStream spool (adapters/bus): kept by a fresh session too, whose bus sends what it holds first.
BUS_SPOOL_DIR = "bus"
KEPT_FILES = frozenset([f"params.db{side}" for side in _DATABASE_SIDES]
                       + ["capital.jsonl", "reports", MARKER_NAME, BUS_SPOOL_DIR])  # fmt: skip
_SHOWN = 5


class SessionDirError(ValueError):
    """The data directory cannot be used as asked; the message says what to do instead."""


class SessionKind(StrEnum):
    PAPER = "paper"  # the embedded or a local venue: replayed markets, no money
    TESTNET = "testnet"  # Binance's spot testnet: play money
    LIVE = "live"  # Binance itself: real money, never discarded


def session_kind(directory: Path) -> SessionKind | None:
    """The kind a session marked ``directory`` with (None: unmarked); ``SessionDirError`` if unreadable."""
    path = directory / MARKER_NAME
    try:
        return SessionKind(json.loads(path.read_text(encoding="utf-8"))["kind"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SessionDirError(f"{path}: unreadable session marker ({e}); nothing was changed") from e


def _is_session_file(name: str) -> bool:
    return name in SESSION_FILES or any(p.fullmatch(name) for p in _SESSION_PATTERNS)


def _is_known_file(entry: os.DirEntry[str], patterns: tuple[re.Pattern[str], ...]) -> bool:
    return not entry.is_symlink() and entry.is_file() and any(p.fullmatch(entry.name) for p in patterns)


def foreign_entries(directory: Path) -> list[str]:
    """Entries that neither a session nor another THUNES command writes (symlinks always count)."""
    foreign = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_symlink():
            foreign.append(entry.name)
        elif entry.name in _SESSION_DIRS and entry.is_dir(follow_symlinks=False):
            for inner in sorted(os.scandir(entry.path), key=lambda e: e.name):
                if not _is_known_file(inner, _SESSION_DIRS[entry.name]):
                    foreign.append(f"{entry.name}/{inner.name}")
        elif not (entry.name in KEPT_FILES or (_is_session_file(entry.name) and entry.is_file())):
            foreign.append(entry.name)
    return foreign


def _write_marker(directory: Path, kind: SessionKind) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".thunes-session.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"kind": kind.value, "version": 1}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / MARKER_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(directory)


@contextlib.contextmanager
def _not_running(directory: Path) -> Iterator[None]:
    """Hold the audit trail's lock while discarding: a session running there holds it."""
    lock = directory / AUDIT_DIR / ".audit.lock"
    if not lock.is_file():
        yield
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise SessionDirError(f"a session is running on {directory}: stop it first; nothing was changed") from e
        yield
    finally:
        os.close(fd)


def _discard(directory: Path) -> int:
    """Remove the files sessions wrote in ``directory`` (known names only); return how many."""
    removed = 0
    with _not_running(directory):
        for name in _SESSION_DIRS:  # only known files inside (foreign_entries checked them)
            inner_dir = directory / name
            if inner_dir.is_dir() and not inner_dir.is_symlink():
                for inner in sorted(inner_dir.iterdir()):
                    inner.unlink()  # a session's own file: foreign_entries refused the dir otherwise
                    removed += 1
                inner_dir.rmdir()
        for entry in sorted(directory.iterdir()):
            if _is_session_file(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink()  # a file sessions write, by name; never a link or a directory
                removed += 1
    fsync_dir(directory)
    return removed


def _refusal(directory: Path, kind: SessionKind | None, foreign: list[str]) -> str | None:
    if kind is SessionKind.LIVE:
        return (f"{directory} is a live session's data directory: a fresh paper session never discards it; "
                "use another --data-dir")  # fmt: skip
    shown = ", ".join(foreign[:_SHOWN]) + (f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else "")
    if kind is None:
        return (f"{directory} is not empty and no THUNES session marked it as its own ({shown}): a fresh "
                "session never deletes what it did not create; use an empty or new --data-dir or --resume")  # fmt: skip
    if foreign:
        return (f"{directory} holds files THUNES sessions do not write ({shown}): move them away or use "
                "another --data-dir; nothing was changed")  # fmt: skip
    return None


def prepare_session_dir(directory: Path, kind: SessionKind, *, fresh: bool) -> None:
    """Make ``directory`` ready for a session of ``kind``; ``fresh`` discards a previous paper or testnet
    session's files there. Raises :class:`SessionDirError` (nothing changed) when that is unsafe."""
    if directory.exists() and not directory.is_dir():
        raise SessionDirError(f"--data-dir {directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        marked = session_kind(directory)
        empty = not any(directory.iterdir())
        if empty:
            _write_marker(directory, kind)
            return
        if not fresh:
            if marked is not None and (marked is SessionKind.LIVE) != (kind is SessionKind.LIVE):
                raise SessionDirError(f"{directory} holds a {marked.value} session: a {kind.value} session cannot "
                                      "continue it; use another --data-dir")  # fmt: skip
            if marked is None and kind is SessionKind.LIVE:
                _write_marker(directory, kind)  # from now on no paper session ever discards it
            return
        foreign = [] if marked is SessionKind.LIVE else foreign_entries(directory)
        refusal = _refusal(directory, marked, foreign)
        if refusal is not None:
            raise SessionDirError(refusal)
        _discard(directory)
        _write_marker(directory, kind)
    except SessionDirError:
        raise
    except OSError as e:
        raise SessionDirError(f"cannot prepare the data directory {directory}: {e.strerror or e}") from e
