"""Is a session's persisted safety state whole? Read-only checks, run before a session starts and by
``thunes status``.

The safety state is ``risk.json`` (kill-switch, halt, the day's realised loss, reservations) and the
operator's requests in ``control.jsonl``. Each is cross-checked with what cannot be rolled back as
easily: the audit trail (its last kill-switch and halt records) and the ledger. Anything missing,
unreadable or contradictory is a *problem*; a session with a problem starts REDUCING (kill-switch
on, with the problems as its reason), never ACTIVE, and only a person turns it off.

*Fresh* and *missing* are told apart honestly: a data directory where no session left anything (no
ledger, no audit trail, no session marks, no control requests) may start ACTIVE with a blank state;
one where a session ran but ``risk.json`` is gone has lost its kill-switch, which is a problem.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from thunes.adapters.storage.audit_jsonl import ANCHOR_NAME, audit_files
from thunes.adapters.storage.control_file import ControlFile, ControlFileError
from thunes.adapters.storage.durable import fsync_dir
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.session_dir import MARKER_NAME
from thunes.adapters.storage.sql_engine import connect_readonly
from thunes.governance.audit_schema import AuditEvent, AuditRecordError, record_from_json
from thunes.governance.rodage import SESSION_MARKS_FILE
from thunes.risk import RiskStoreError
from thunes.risk.state import RiskSnapshot

__all__ = [
    "RISK_FILE",
    "SESSION_TRACES",
    "STALE_AFTER_NS",
    "AuditedSwitch",
    "SafetyReport",
    "inspect_safety",
    "is_data_dir",
    "last_audited_switches",
    "session_traces",
    "set_aside",
]

RISK_FILE = "risk.json"
# What a session leaves in its data directory besides risk.json: any of them means "not fresh".
SESSION_TRACES = ("ledger.db", "audit.db", "audit", SESSION_MARKS_FILE, "checkpoint.json", "control.jsonl",
                  "control.applied", "daily_summaries.jsonl")  # fmt: skip
_SWITCH_EVENTS = {
    AuditEvent.KILL_SWITCH_ACTIVATED: ("kill_switch", True),
    AuditEvent.KILL_SWITCH_DEACTIVATED: ("kill_switch", False),
    AuditEvent.TRADING_HALTED: ("halt", True),
    AuditEvent.TRADING_RESUMED: ("halt", False),
}
NS_PER_DAY = 86_400 * 10**9
# Only for a risk.json written before it counted the ledger's fills (``fills_booked`` absent): the
# engine saves after every fill, stamped with its own clock, and a fill carries the venue's; a day
# apart was read as "restored from an old copy". Two clocks can drift that far apart (a restarted
# paper venue replays ahead of the trader), so a file with the count is judged by the count alone.
STALE_AFTER_NS = NS_PER_DAY
_TABLES = {"ledger.db": ("orders", "fills", "order_journal"), "audit.db": ("audit_records",)}
_SWITCH_MARKERS = tuple(f'"{e.value}"'.encode() for e in _SWITCH_EVENTS)


@dataclass(frozen=True, slots=True)
class AuditedSwitch:
    """The last audit record of one switch: on or off, when, by whom, why."""

    active: bool
    ts_ns: int
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class SafetyReport:
    """What the checks found. ``snapshot``: the stored risk state when it could be read; ``fresh``:
    nothing was ever stored here; ``damaged``: ``risk.json`` exists but cannot be used (a session
    sets it aside before it writes a new one); ``problems``: why the next start is REDUCING."""

    snapshot: RiskSnapshot | None
    problems: tuple[str, ...] = ()
    fresh: bool = False
    damaged: bool = False

    @property
    def reason(self) -> str:
        return "safety state: " + "; ".join(self.problems)


def session_traces(data_dir: Path) -> list[str]:
    """The session files in ``data_dir`` that hold something a session recorded.

    A file that exists but holds nothing yet (a ledger without a row, an audit folder with only its
    lock: a first run killed before it saved its risk state) is no trace: that dir is still fresh.
    """
    found = []
    for name in SESSION_TRACES:
        path = data_dir / name
        if name in _TABLES:
            recorded = path.exists() and _has_rows(path, _TABLES[name])
        elif path.is_dir():
            recorded = bool(audit_files(path)) or (path / ANCHOR_NAME).exists()
        else:
            recorded = path.exists() and (not path.is_file() or path.stat().st_size > 0)
        if recorded:
            found.append(name)
    return found


def is_data_dir(data_dir: Path) -> bool:
    """``data_dir`` is a THUNES session's: marked by one, or holding its risk state or another session file."""
    names = (MARKER_NAME, RISK_FILE, *SESSION_TRACES)
    return data_dir.is_dir() and any((data_dir / name).exists() for name in names)


def _ledger_fills(path: Path) -> tuple[int, int | None] | None:
    """How many fills the ledger holds and the newest one's time (read-only; None: no ledger or unreadable)."""
    try:
        connection = connect_readonly(path)
        try:
            row = connection.execute("SELECT COUNT(*), MAX(ts_ns) FROM fills").fetchone()
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        return None
    if row is None or not isinstance(row[0], int):
        return None
    return row[0], row[1] if isinstance(row[1], int) else None


def _ledger_problem(risk_path: Path, snapshot: RiskSnapshot, ledger: Path) -> str | None:
    """Why ``snapshot`` cannot be the cache of the ledger's fills (None: it can).

    Fewer fills booked than the ledger holds is no problem: the session books the missed ones from
    the ledger before it trades (``RiskEngine.catch_up``), so their losses count whatever the clocks
    say. More than it holds is: the ledger lost fills, or this risk.json belongs to another session.
    A file without the count (written before it existed) is judged as before, by the clocks.
    """
    found = _ledger_fills(ledger)
    if found is None:
        return None
    count, newest_ns = found
    booked = snapshot.fills_booked
    if booked is not None and booked > count:
        return (f"{risk_path} has booked {booked} fills but the ledger holds {count}: the ledger lost fills "
                "or this risk state is another session's")  # fmt: skip
    if booked is None and newest_ns is not None and newest_ns - snapshot.updated_ns > STALE_AFTER_NS:
        return (f"{risk_path} was last saved {_days(newest_ns - snapshot.updated_ns)} before the ledger's newest "
                "fill and does not say which fills it booked: a stale copy, the day's loss it holds is not the "
                "ledger's")  # fmt: skip
    return None


def _days(ns: int) -> str:
    return f"{ns / NS_PER_DAY:.1f} days"


def _has_rows(path: Path, tables: tuple[str, ...]) -> bool:
    """Whether any of ``tables`` holds a row (read-only); a file that cannot be read counts as yes."""
    try:
        connection = connect_readonly(path)
        try:
            present = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return any(
                connection.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None  # noqa: S608 - our names
                for table in tables
                if table in present
            )
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        return True


def inspect_safety(data_dir: Path) -> SafetyReport:
    """Check ``data_dir``'s safety state without writing anything (see the module doc)."""
    problems: list[str] = []
    traces = session_traces(data_dir)
    snapshot, damaged = None, False
    risk_path = data_dir / RISK_FILE
    try:
        snapshot = JsonFileRiskStore(risk_path).load()
    except (RiskStoreError, OSError, UnicodeDecodeError) as e:
        damaged = True
        problems.append(f"{risk_path} cannot be read ({_short(e.__cause__ or e)})")
    if snapshot is None and not damaged:
        if not traces:
            return SafetyReport(None, fresh=True)
        problems.append(f"{risk_path} is missing although a session ran here ({', '.join(traces)}): "
                        "the kill-switch and the day's loss are unknown")  # fmt: skip
    try:
        ControlFile(data_dir).check()
    except (ControlFileError, OSError) as e:
        problems.append(f"an operator request may be lost: {_short(e)}")
    audited = last_audited_switches(data_dir)
    if snapshot is not None:
        stale = _ledger_problem(risk_path, snapshot, data_dir / "ledger.db")
        if stale is not None:
            problems.append(stale)
        for name, state in (("kill_switch", snapshot.kill_switch), ("halt", snapshot.halt)):
            last = audited.get(name)
            if last is not None and last.active and not state.active:
                label = "the kill-switch" if name == "kill_switch" else "the halt"
                problems.append(f"{risk_path} says {label} is off, but the audit trail's last record of it says "
                                f"on (by {last.by}: {last.reason})")  # fmt: skip
    return SafetyReport(snapshot, tuple(problems), damaged=damaged)


def last_audited_switches(data_dir: Path) -> dict[str, AuditedSwitch]:
    """The last record of each switch (``kill_switch``, ``halt``) in the audit trail, from the JSONL
    files and from ``audit.db``; where the two copies disagree, "on" wins (one may be cut short)."""
    found: dict[str, AuditedSwitch] = {}
    for source in (_jsonl_switches(data_dir / "audit"), _db_switches(data_dir / "audit.db")):
        for name, switch in source.items():
            if name not in found or (switch.active and not found[name].active):
                found[name] = switch
    return found


def _jsonl_switches(directory: Path) -> dict[str, AuditedSwitch]:
    last: dict[str, AuditedSwitch] = {}
    for path in reversed(audit_files(directory)):  # newest file first; stop once both are known
        file_last: dict[str, AuditedSwitch] = {}
        try:
            for body in _switch_lines(path):
                _note(file_last, body)
        except OSError:
            continue
        for name, switch in file_last.items():
            last.setdefault(name, switch)
        if len(last) == len({n for n, _ in _SWITCH_EVENTS.values()}):
            break
    return last


def _switch_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for raw in handle:
            if raw.endswith(b"\n") and any(marker in raw for marker in _SWITCH_MARKERS):
                yield raw


def _db_switches(path: Path) -> dict[str, AuditedSwitch]:
    last: dict[str, AuditedSwitch] = {}
    events = tuple(e.value for e in _SWITCH_EVENTS)
    try:
        connection = connect_readonly(path)
        try:
            rows = connection.execute(
                f"SELECT body FROM audit_records WHERE event IN ({','.join('?' * len(events))}) ORDER BY seq",  # noqa: S608 - placeholders only
                events,
            ).fetchall()
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        return last  # no database copy, or unreadable: the JSONL files answer alone
    for (body,) in rows:
        _note(last, body)
    return last


def _note(last: dict[str, AuditedSwitch], body: str | bytes) -> None:
    try:
        record = record_from_json(body)
    except AuditRecordError:
        return  # ``thunes audit verify`` reports damaged records
    name, active = _SWITCH_EVENTS.get(record.event, ("", False))
    if name:
        by = str(record.metadata.get("by", "")) if record.metadata else ""
        last[name] = AuditedSwitch(active, record.ts_ns, by, record.reason or "")


def _short(error: BaseException) -> str:
    text = str(error) if not isinstance(error, OSError) else f"{error.strerror or error}"
    return text.splitlines()[0][:300] if text else type(error).__name__


def set_aside(path: Path) -> Path:
    """Rename a damaged safety file out of the way (kept, never deleted: a person may want it) so a
    session can write a new one; the new name."""
    kept = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
    path.rename(kept)
    fsync_dir(path.parent)
    return kept
