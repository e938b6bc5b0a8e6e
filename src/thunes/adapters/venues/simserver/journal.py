"""The venue's journal: every accepted order, trade and balance change is durable before a client hears of it.

An exchange that forgot, after a crash, the orders it had acknowledged (and issued their ids again)
would be one no client can reconcile against. So the server keeps its accounts in SQLite (WAL,
``synchronous=FULL``: a commit is on disk when it returns) and commits before anything is told:

- the venue calls :meth:`VenueJournal.touched` for every report it emits (new order, trade, cancel,
  amend, balance change); the journal then schedules a commit with ``call_soon``. It is registered as a
  listener *before* the user data stream, so its commit runs before the stream's flush pushes the reports;
- the REST middleware of :func:`install` commits after every handler, before its answer is sent.

A commit writes the touched accounts' balances, their new trades, every order that was open at the last
commit or is new since, the id counters and the replay position (events applied and the replay clock),
so a restart resumes the market where it was. A failed commit halts the venue at once: nothing that is
not on disk may be acknowledged. The in-process ``SimVenue`` (backtests) knows nothing of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web
from aiohttp.typedefs import Handler

from thunes.simvenue.core import SimVenue
from thunes.simvenue.models import Account
from thunes.simvenue.persistence import FORMAT_VERSION, dump_accounts, order_row, trade_row
from thunes.simvenue.replay import BarClosed, ReplayEvent

__all__ = [
    "FORMAT",
    "JOURNAL",
    "JournalError",
    "Position",
    "VenueJournal",
    "install",
    "load_state",
    "open_journal",
    "remove_journal",
    "save_state",
]

FORMAT = "thunes-venue-journal/1"
BAR_COMMIT_S = 0.05  # a closed bar's position is written at most this often when nothing else changed
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS balances (account TEXT NOT NULL, asset TEXT NOT NULL, free TEXT NOT NULL,"
    " locked TEXT NOT NULL, PRIMARY KEY (account, asset))",
    "CREATE TABLE IF NOT EXISTS orders (order_id INTEGER PRIMARY KEY, account TEXT NOT NULL, row TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS trades (account TEXT NOT NULL, symbol TEXT NOT NULL, trade_id INTEGER NOT NULL,"
    " row TEXT NOT NULL, PRIMARY KEY (account, symbol, trade_id))",
)


class JournalError(Exception):
    """The journal cannot be opened, read or written; the message names the file."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where the replay stood at a commit: events applied so far and the replay clock (ns)."""

    events: int
    clock_ns: int


@dataclass
class _Mark:
    """What the last commit wrote of one account: its trade count and its open orders."""

    trades: int = 0
    open_ids: set[int] = field(default_factory=set)


def _check_file(path: Path) -> None:
    """Refuse a path that is no journal (a directory, an unreadable or foreign file) before SQLite opens it."""
    if path.is_dir():
        raise JournalError(f"{path} is a directory, not a venue journal")
    try:
        head = path.read_bytes()[:16] if path.is_file() else b""
    except OSError as e:
        raise JournalError(f"cannot read {path}: {e.strerror or e}") from e
    if head and not head.startswith(b"SQLite format 3"):
        raise JournalError(f"{path} is not a venue journal (neither SQLite nor a JSON state file)")


def _connect(path: Path) -> sqlite3.Connection:
    _check_file(path)
    existed, conn = path.exists(), None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            conn.execute(statement)
        found = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if found is None:
            conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
        elif found[0] != FORMAT:
            raise JournalError(f"{path} has journal format {found[0]!r}, this venue writes {FORMAT!r}")
    except (sqlite3.Error, JournalError) as e:
        if conn is not None:
            conn.close()
        if not existed:  # nothing of a journal that could not be made is left behind
            remove_journal(path)
        if isinstance(e, JournalError):
            raise
        raise JournalError(f"cannot open the venue journal {path}: {e}") from e
    return conn


class VenueJournal:
    """An open journal file bound to one venue (see the module docstring)."""

    def __init__(self, path: Path, venue: SimVenue, halt: Callable[[JournalError], None] | None = None) -> None:
        self.path = path
        self.venue = venue
        self.position: Callable[[], Position] | None = None
        self.failed: JournalError | None = None
        self._halt = halt or _exit_now
        self._conn = _connect(path)
        self._dirty: set[str] = set()
        self._scheduled = False
        self._marks: dict[str, _Mark] = {}
        self._next_order_id = 0
        self._last_commit = 0.0
        self._bar_pending = False
        self._closed = False

    # --- start-up -------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """True for a journal that holds no venue yet (a new file)."""
        return bool(self._read(lambda c: c.execute("SELECT 1 FROM meta WHERE key = 'counters'").fetchone() is None))

    def restore(self) -> None:
        """Load the journal's accounts into the venue (their open orders rest again on its market)."""
        data = self._read(_load)
        try:
            self.venue.import_state(data)
        except (KeyError, ValueError, TypeError, ArithmeticError) as e:
            raise JournalError(f"venue journal {self.path} is corrupt: {e!r}") from e
        self.venue.reseed(int.from_bytes(os.urandom(16), "big"))
        self._remember_all()

    def symbols(self) -> list[str] | None:
        """The symbols the journal's venue served (None before the first commit)."""
        found = self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = 'symbols'").fetchone())
        return None if found is None else list(json.loads(found[0]))

    def stored_position(self) -> Position | None:
        """The replay position of the last commit (None: the journal stores none, e.g. a converted file)."""
        found = self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = 'replay'").fetchone())
        if found is None:
            return None
        try:
            replay = json.loads(found[0])
            return Position(int(replay["events"]), int(replay["clock_ns"]))
        except (KeyError, ValueError, TypeError) as e:
            raise JournalError(f"venue journal {self.path} is corrupt: bad replay position {found[0]!r}") from e

    def snapshot(self) -> None:
        """Write the whole venue (every account, order and trade), replacing what the journal held."""
        accounts = dump_accounts(self.venue.accounts_view())

        def write(conn: sqlite3.Connection) -> None:
            _write_accounts(conn, accounts)
            self._write_meta(conn)

        self._write(write)
        self._remember_all()

    # --- while serving --------------------------------------------------------------------------
    def touched(self, account: str) -> None:
        """Venue listener: ``account`` changed; commit before the user data stream's flush."""
        self._dirty.add(account)
        self._schedule()

    def replayed(self, events: Iterable[ReplayEvent]) -> Iterator[ReplayEvent]:
        """``events``, noting closed bars: the position after one is committed (throttled) so that a
        restart does not replay many closed candles again."""
        for event in events:
            due = self._bar_pending and time.monotonic() - self._last_commit >= BAR_COMMIT_S
            if due and self.position is not None:  # serving (not the instant replay of the start-up)
                self._schedule()
            yield event
            if isinstance(event, BarClosed):
                self._bar_pending = True

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet: the start-up commits explicitly
        self._scheduled = True
        loop.call_soon(self.commit)

    def commit(self) -> None:
        """Write what changed since the last commit in one transaction; halt the venue if it fails."""
        self._scheduled = False
        if self._closed:
            return
        if self.failed is not None:
            self._halt(self.failed)
            return
        dirty, self._dirty = self._dirty, set()
        if not dirty and not self._bar_pending:
            return
        accounts = self.venue.accounts_view()
        next_order_id = self.venue.export_counters()["next_order_id"]

        def write(conn: sqlite3.Connection) -> None:
            for name in sorted(dirty):
                self._write_account(conn, name, accounts[name], self._marks.get(name) or _Mark())
            self._write_meta(conn)

        try:
            self._write(write)
        except JournalError as e:
            self.failed = e
            self._halt(e)
            raise
        for name in dirty:
            account = accounts[name]
            self._marks[name] = _Mark(len(account.trades), set(account.open))
        self._next_order_id = next_order_id
        self._bar_pending = False

    def close(self) -> None:
        """Close the file; a commit still scheduled then does nothing (the venue has stopped)."""
        self._closed = True
        self._conn.close()

    # --- internals ------------------------------------------------------------------------------
    def _write_account(self, conn: sqlite3.Connection, name: str, account: Account, mark: _Mark) -> None:
        """An account's balances, its trades since ``mark``, its orders open at ``mark`` or new since."""
        balances = [(name, a, str(b.free), str(b.locked)) for a, b in account.balances.items()]
        conn.executemany("INSERT OR REPLACE INTO balances VALUES (?, ?, ?, ?)", balances)
        trades = [(name, t.symbol, t.trade_id, json.dumps(trade_row(t))) for t in account.trades[mark.trades :]]
        conn.executemany("INSERT OR IGNORE INTO trades VALUES (?, ?, ?, ?)", trades)  # immutable rows
        changed = [account.orders[i] for i in mark.open_ids if i in account.orders]
        for order_id in reversed(account.orders):  # ids ascend in insertion order: the new ones are last
            if order_id < self._next_order_id:
                break
            if order_id not in mark.open_ids:
                changed.append(account.orders[order_id])
        orders = [(o.order_id, name, json.dumps(order_row(o))) for o in changed]
        conn.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?)", orders)

    def _write_meta(self, conn: sqlite3.Connection) -> None:
        rows = [
            ("counters", json.dumps(self.venue.export_counters(), sort_keys=True)),
            ("symbols", json.dumps(sorted(self.venue.symbols))),
        ]
        if self.position is not None:
            at = self.position()
            rows.append(("replay", json.dumps({"events": at.events, "clock_ns": at.clock_ns})))
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)
        self._last_commit = time.monotonic()

    def _remember_all(self) -> None:
        accounts = self.venue.accounts_view()
        self._marks = {n: _Mark(len(a.trades), set(a.open)) for n, a in accounts.items()}
        self._next_order_id = self.venue.export_counters()["next_order_id"]

    def _write(self, body: Callable[[sqlite3.Connection], None]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as e:
            raise JournalError(f"cannot write the venue journal {self.path}: {e}") from e

    def _read(self, body: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            return body(self._conn)
        except sqlite3.Error as e:
            raise JournalError(f"cannot read the venue journal {self.path}: {e}") from e
        except (KeyError, ValueError, TypeError) as e:
            raise JournalError(f"venue journal {self.path} is corrupt: {e!r}") from e


def _load(conn: sqlite3.Connection) -> dict[str, Any]:
    """The journal as ``SimVenue.import_state`` data."""
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    accounts: dict[str, dict[str, Any]] = {}

    def of(name: str) -> dict[str, Any]:
        return accounts.setdefault(name, {"balances": {}, "orders": [], "trades": []})

    for name, asset, free, locked in conn.execute("SELECT account, asset, free, locked FROM balances"):
        of(name)["balances"][asset] = [free, locked]
    for name, row in conn.execute("SELECT account, row FROM trades ORDER BY rowid"):
        of(name)["trades"].append(json.loads(row))
    for name, row in conn.execute("SELECT account, row FROM orders ORDER BY order_id"):
        of(name)["orders"].append(json.loads(row))
    return {**json.loads(meta["counters"]), "accounts": accounts}


def _exit_now(error: JournalError) -> NoReturn:
    """The default halt: a venue that cannot journal stops at once, before it answers anything more."""
    os.write(2, f"error: {error}; the venue stops\n".encode())
    os._exit(1)


JOURNAL = web.AppKey("journal", VenueJournal)


def install(app: web.Application, journal: VenueJournal) -> None:
    """Commit after every request's handler, before its answer goes out (innermost middleware)."""
    app[JOURNAL] = journal

    @web.middleware
    async def commit_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            journal.commit()

    app.middlewares.append(commit_first)


def save_state(venue: SimVenue, path: Path) -> None:
    """Write ``venue`` whole to the journal at ``path`` (created if needed)."""
    journal = VenueJournal(path, venue)
    try:
        journal.snapshot()
    finally:
        journal.close()


def load_state(venue: SimVenue, path: Path) -> None:
    """Restore ``venue``'s accounts from the journal at ``path``."""
    journal = VenueJournal(path, venue)
    try:
        journal.restore()
    finally:
        journal.close()


def _write_accounts(conn: sqlite3.Connection, accounts: dict[str, Any]) -> None:
    """Replace every account row with ``accounts`` (``persistence.dump_accounts`` data)."""
    for table in ("balances", "orders", "trades"):
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    for name, saved in accounts.items():
        balances = [(name, asset, free, locked) for asset, (free, locked) in saved["balances"].items()]
        conn.executemany("INSERT INTO balances VALUES (?, ?, ?, ?)", balances)
        orders = [(row["order_id"], name, json.dumps(row)) for row in saved["orders"]]
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", orders)
        trades = [(name, row["symbol"], row["trade_id"], json.dumps(row)) for row in saved["trades"]]
        conn.executemany("INSERT INTO trades VALUES (?, ?, ?, ?)", trades)


def remove_journal(path: Path) -> None:
    """Delete a journal this run created and could not use (its WAL and shared-memory files too)."""
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):  # best effort: the error that brought us here is the one to report
            if name.exists():
                name.unlink()  # the journal this start created (callers pass only that one)


def open_journal(path: Path, venue: SimVenue, halt: Callable[[JournalError], None] | None = None) -> VenueJournal:
    """The journal at ``path``, converting a JSON state file of earlier versions (kept beside it as
    ``<name>.v1.json``) into one; :class:`JournalError` naming the file when it cannot be used."""
    try:
        head = path.read_bytes()[:1] if path.is_file() else b""
    except OSError as e:
        raise JournalError(f"cannot read {path}: {e.strerror or e}") from e
    if head != b"{":
        return VenueJournal(path, venue, halt)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        counters = {k: data[k] for k in ("version", "next_order_id", "sequence", "next_trade_ids")}
        accounts = data["accounts"]
        if counters["version"] != FORMAT_VERSION or not isinstance(accounts, dict):
            raise ValueError(f"unsupported venue state version {counters['version']!r}")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise JournalError(f"{path} is not a valid venue state file: {e}") from e
    backup = path.with_name(path.name + ".v1.json")
    try:
        os.replace(path, backup)
    except OSError as e:
        raise JournalError(f"cannot convert {path} into a journal: {e.strerror or e}") from e
    journal = VenueJournal(path, venue, halt)

    def write(conn: sqlite3.Connection) -> None:
        _write_accounts(conn, accounts)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('counters', ?)", (json.dumps(counters, sort_keys=True),))

    try:
        journal._write(write)
    except (KeyError, ValueError, TypeError) as e:
        journal.close()
        raise JournalError(f"{backup} is not a valid venue state file: {e!r}") from e
    return journal
