"""``thunes audit verify|show``: check the audit trail's hash chain, and read it (SPEC §5).

``verify`` is what an operator or a cron job runs to prove nothing was edited, deleted, reordered
or lost: the files' hash chain, against the head (count and last hash of what was appended) and the
database copy (``audit.db`` beside the directory). Exit 0 with the counts, or exit 1 naming the file
and line of the first problem. It writes nothing.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from thunes.adapters.storage.audit_jsonl import read_records
from thunes.adapters.storage.audit_verify import COPY_NAME, VerifyResult, verify
from thunes.app.errors import fail
from thunes.governance import AuditEvent, AuditRecord, AuditRecordError

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The audit trail: verify its hash chain, show its records.", no_args_is_help=True)
AuditDir = Annotated[Path, typer.Option("--dir", help="The audit directory (weekly audit-YYYY-Www.jsonl files).")]
DEFAULT_DIR = Path("data/paper/audit")
EXIT_TAMPERED = 1
NS_PER_SECOND = 1_000_000_000


def _directory(directory: Path) -> Path:
    if not directory.is_dir():
        fail(f"no audit directory at {directory}")
    return directory


def _summary(result: VerifyResult) -> str:
    parts = [f"audit OK: {result.files} files, {result.records} records, chain from {result.anchor}"]
    if result.head is not None:
        parts.append(f"head at record {result.head}")
    if result.copy_rows is not None:
        parts.append(f"database copy identical ({result.copy_rows} rows compared)")
    if result.unacknowledged:
        parts.append(f"{result.unacknowledged} records after the head (a crash before it was rewritten)")
    return "; ".join(parts)


@audit_app.command("verify")
def verify_command(
    directory: AuditDir = DEFAULT_DIR,
    db: Annotated[Path | None, typer.Option(help="The database copy (default: audit.db beside --dir).")] = None,
) -> None:
    """Walk every file in chain order against the head and the database copy; exit 1 at the first edited,
    missing, reordered or garbled line, cut-off tail, or difference from the copy."""
    if db is not None and not db.is_file():
        fail(f"no database copy at {db}")
    if not directory.is_dir() and not (db or directory.parent / COPY_NAME).is_file():
        fail(f"no audit directory at {directory}")
    result = verify(directory, db)  # a directory gone while its copy holds records is a failure, not a typo
    if result.problem is not None:
        fail(f"audit FAILED at {result.problem}", code=EXIT_TAMPERED)
    typer.echo(_summary(result))


def _instant(text: str | None, option: str) -> int | None:
    """An ISO date or date-time (UTC when no offset is given) as Unix ns."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO date or date-time (e.g. 2026-11-23 or 2026-11-23T14:00)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * NS_PER_SECOND + moment.microsecond * 1_000


def _event(text: str | None) -> AuditEvent | None:
    if text is None:
        return None
    try:
        return AuditEvent(text.upper())
    except ValueError:
        fail(f"unknown event {text!r}; one of: {', '.join(e.value for e in AuditEvent)}")


def _matches(record: AuditRecord, event: AuditEvent | None, symbol: str | None, since: int | None,
             until: int | None) -> bool:  # fmt: skip
    return (
        (event is None or record.event is event)
        and (symbol is None or record.symbol == symbol)
        and (since is None or record.ts_ns >= since)
        and (until is None or record.ts_ns < until)
    )


def _time(ts_ns: int) -> str:
    moment = datetime.fromtimestamp(ts_ns // NS_PER_SECOND, tz=UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{ts_ns % NS_PER_SECOND // 1_000_000:03d}"


@audit_app.command("show")
def show(
    directory: AuditDir = DEFAULT_DIR,
    event: Annotated[str | None, typer.Option(help="Only this event, e.g. TRADE_REJECTED.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol, e.g. BTCUSDT.")] = None,
    since: Annotated[str | None, typer.Option(help="From this UTC date/time on (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this UTC date/time (exclusive).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N matching records.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One stored JSON line per record.")] = False,
) -> None:
    """Records in chain order, filtered; unreadable lines are skipped with a warning (see verify)."""
    wanted, start, end = _event(event), _instant(since, "--since"), _instant(until, "--until")
    symbol = symbol.upper() if symbol else None
    shown: deque[AuditRecord] = deque(maxlen=limit)
    matched = unreadable = 0
    for _path, _line, item in read_records(_directory(directory)):
        if isinstance(item, AuditRecordError):
            unreadable += 1
        elif _matches(item, wanted, symbol, start, end):
            matched += 1
            shown.append(item)
    if unreadable:
        typer.echo(f"warning: {unreadable} unreadable lines skipped; run `thunes audit verify`", err=True)
    if as_json:
        for record in shown:
            typer.echo(record.to_json())
        return
    table = Table("time (UTC)", "event", "symbol", "side", "reason", "client order id", "strategy",
                  caption=f"{len(shown)} of {matched} matching records")  # fmt: skip
    for r in shown:
        side = "" if r.side is None else r.side.value
        table.add_row(_time(r.ts_ns), r.event.value, r.symbol or "", side, r.reason or "", r.client_order_id or "",
                      r.strategy_id)  # fmt: skip
    Console().print(table)
