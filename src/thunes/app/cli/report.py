"""``thunes report rodage``: the GO / NO-GO of a rodage gate (SPEC §6), from a session's data directory.

It reads what the session left (``audit/`` trail and its verification, ``ledger.db`` fills,
``daily_summaries.jsonl``, ``session.jsonl`` marks), measures each criterion of the gate with
:mod:`thunes.governance.rodage`, prints the table and writes ``rodage-<date>.md`` and ``.json``,
``<date>`` being the last market day covered. Exit 0 on GO, 1 on NO-GO, 2 on a usage error.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from thunes.adapters.clock import SystemClock
from thunes.adapters.storage.audit_jsonl import audit_files, read_records
from thunes.adapters.storage.audit_verify import verify
from thunes.adapters.storage.sql_store import ledger_fills
from thunes.app.cli.options import asset, output_location
from thunes.app.errors import fail
from thunes.governance import AuditRecord, AuditRecordError
from thunes.governance.rodage import (
    GATES,
    SESSION_MARKS_FILE,
    Evidence,
    RodageReport,
    SessionMark,
    Verdict,
    evaluate,
)

__all__ = ["load_evidence", "report_app", "report_to_dict", "report_to_markdown"]

report_app = typer.Typer(help="Reports over a session's records: the rodage gates.", no_args_is_help=True)
EXIT_NO_GO = 1
MIN_WIDTH = 140  # criterion, value and verdict never wrap; the evidence column takes what is left
_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.NOT_MEASURED: "yellow"}


@report_app.callback()
def _reports() -> None:
    """Reports over a session's records (a group, so ``report rodage`` stays a sub-command)."""


def _audit(directory: Path, problems: list[str]) -> tuple[list[AuditRecord], bool, bool | None, str]:
    if not audit_files(directory):
        return [], False, None, ""
    records = []
    for path, line, item in read_records(directory):
        if isinstance(item, AuditRecordError):
            problems.append(f"{path.name}:{line}: {item}")
        else:
            records.append(item)
    result = verify(directory)
    detail = f"{result.records} records chained from {result.anchor}"
    return records, True, result.ok, detail if result.ok else f"FAILED at {result.problem}"


def _lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        return []
    return [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]


def _summary_days(path: Path, problems: list[str]) -> list[date]:
    days = []
    for number, line in _lines(path):
        try:
            days.append(date.fromisoformat(json.loads(line)["day"]))
        except (ValueError, KeyError, TypeError) as e:
            problems.append(f"{path.name}:{number}: {e}")
    return days


def _marks(path: Path, problems: list[str]) -> list[SessionMark]:
    marks = []
    for number, line in _lines(path):
        try:
            marks.append(SessionMark.from_json(line))
        except (ValueError, TypeError) as e:
            problems.append(f"{path.name}:{number}: {e}")
    return marks


def load_evidence(data_dir: Path, quote_asset: str = "USDT") -> Evidence:
    """Everything a session directory holds that a rodage criterion can use."""
    problems: list[str] = []
    records, present, chain_ok, chain_detail = _audit(data_dir / "audit", problems)
    return Evidence(
        records=records, audit_present=present, chain_ok=chain_ok, chain_detail=chain_detail,
        fills=ledger_fills(data_dir / "ledger.db"),
        summary_days=_summary_days(data_dir / "daily_summaries.jsonl", problems),
        marks=_marks(data_dir / SESSION_MARKS_FILE, problems), quote_asset=quote_asset, problems=problems,
    )  # fmt: skip


def _iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).isoformat(timespec="seconds")


def _verdict(report: RodageReport) -> str:
    return "GO" if report.go else "NO-GO"


def report_to_dict(report: RodageReport) -> dict[str, Any]:
    """JSON-ready: Decimal values as exact strings, times as ISO UTC (market clock) and Unix ns."""
    return {
        "gate": report.gate.number, "title": report.gate.title, "days": report.days, "verdict": _verdict(report),
        "clock": "market",
        "window": {"start": _iso(report.start_ns), "end": _iso(report.end_ns), "start_ns": report.start_ns,
                   "end_ns": report.end_ns},
        "criteria": [{"key": r.key, "criterion": r.criterion, "threshold": r.threshold, "measured": r.measured,
                      "verdict": r.verdict.value, "detail": r.detail,
                      "value": r.value if isinstance(r.value, bool | int | None) else str(r.value)}
                     for r in report.results],
        "notes": list(report.notes),
    }  # fmt: skip


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_to_markdown(report: RodageReport) -> str:
    """The same report as a Markdown document: one table row per criterion."""
    window = f"{_iso(report.start_ns) or 'n/a'} → {_iso(report.end_ns) or 'n/a'}"
    lines = [f"# Rodage report: {report.gate.title}", "", f"**Verdict: {_verdict(report)}**", "",
             f"Window ({report.days} days, market clock): {window}", "",
             "| criterion | threshold | measured | verdict | evidence |", "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {_cell(r.criterion)} | {_cell(r.threshold)} | {_cell(r.measured)} | {r.verdict.value} | "
              f"{_cell(r.detail)} |" for r in report.results]  # fmt: skip
    return "\n".join([*lines, "", *(f"- {n}" for n in report.notes), ""])


def _print(report: RodageReport, console: Console) -> None:
    table = Table(title=f"{report.gate.title}, {report.days} days (market clock)", title_justify="left")
    for name in ("criterion", "threshold", "measured", "verdict", "evidence"):
        table.add_column(name, no_wrap=name in {"criterion", "measured", "verdict"})
    for r in report.results:
        table.add_row(Text(r.criterion), Text(r.threshold), Text(r.measured),
                      Text(r.verdict.value, style=_STYLE[r.verdict]), Text(r.detail))  # fmt: skip
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", markup=False)
    console.print("GO" if report.go else "NO-GO", style="bold green" if report.go else "bold red")


def _write(report: RodageReport, out: Path) -> tuple[Path, Path]:
    day = report.end_day or datetime.fromtimestamp(SystemClock().now_ns() / 1e9, tz=UTC).date()
    stem = f"rodage-{day.isoformat()}" + ("" if report.gate.number == 1 else f"-gate{report.gate.number}")
    out.mkdir(parents=True, exist_ok=True)
    markdown, data = out / f"{stem}.md", out / f"{stem}.json"
    markdown.write_text(report_to_markdown(report), encoding="utf-8")
    data.write_text(json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return markdown, data


@report_app.command("rodage")
def rodage(
    days: Annotated[int | None, typer.Option(min=1, help="Days of market time to cover (default: the gate's).")] = None,
    gate: Annotated[int, typer.Option(min=1, max=2, help="1: paper rodage (7 d); 2: live (30 d).")] = 1,
    data_dir: Annotated[Path, typer.Option(help="The session's data directory.")] = Path("data/paper"),
    out: Annotated[Path | None, typer.Option(help="Where to write the .md/.json (default: DATA_DIR/reports).")] = None,
    quote: Annotated[str, typer.Option(help="Quote asset of the traded symbols (values the PnL).")] = "USDT",
) -> None:
    """GO / NO-GO: each criterion with its threshold, value and evidence; NOT MEASURED counts as NO-GO.

    Days are market days, ending at the session's newest record (a paper replay runs them in minutes).

    Exit 0 on GO, 1 on NO-GO.
    """
    if not data_dir.is_dir():
        fail(f"no session data directory at {data_dir}")
    output_location(out or data_dir / "reports", "--out", directory=True)
    report = evaluate(load_evidence(data_dir, asset(quote, "--quote")), GATES[gate], days)
    _print(report, Console(width=max(Console().width, MIN_WIDTH)))
    markdown, data = _write(report, out or data_dir / "reports")
    typer.echo(f"written: {markdown} {data}")
    if not report.go:
        raise typer.Exit(EXIT_NO_GO)
