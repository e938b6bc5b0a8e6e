"""``thunes kill-switch on|off|status``: the persisted kill-switch of a trading session.

The switch lives in the session's risk state file. A change is written there (for a trader that
is not running) and posted as a request in the session's control file, which a running trader
applies between bars within half a second; a trader started later applies it on start. A trader
serving its control API gets the request through the API instead (the same control file behind
it), which answers once the trader has applied it.

Everything is checked before anything is written (the data dir is a session's, the risk state and
the control file read cleanly, the person is named), so a refused command changes nothing. Only
the switch changes: the stored day and its realised loss are the session's (its market clock), not
this command's wall clock. The change is also written to the audit trail when no trader holds it
(a running trader audits it when it applies the request), so the next start's cross-check of
``risk.json`` against the audit trail agrees with what a person did.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from thunes import __version__
from thunes.adapters.clock import SystemClock
from thunes.adapters.control import ControlResult
from thunes.adapters.storage.audit_jsonl import AuditLogError
from thunes.adapters.storage.control_file import ControlAction, ControlFile, ControlFileError
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.safety_state import RISK_FILE, inspect_safety, is_data_dir
from thunes.app.audit_setup import git_sha, open_audit
from thunes.app.errors import fail
from thunes.control import client as control_client
from thunes.control.session_control import check_person
from thunes.governance import AuditContext
from thunes.governance.audit_schema import AuditEvent
from thunes.risk import RiskSnapshot, RiskStoreError, SwitchState
from thunes.risk.state import utc_day
from thunes.risk.store import snapshot_to_dict

__all__ = ["kill_switch_app"]

kill_switch_app = typer.Typer(help="The kill-switch: only SELLs that reduce a position pass while it is on.",
                              no_args_is_help=True)  # fmt: skip
DataDir = Annotated[Path, typer.Option(help="The session's data directory (holds risk.json).")]
OPERATOR_STRATEGY = "operator"  # the audit context of a record the CLI writes itself


def _session_dir(data_dir: Path) -> None:
    """Refuse a folder no session uses (a typo must not create one and claim a switch is on)."""
    if not is_data_dir(data_dir):
        fail(f"{data_dir} is not a THUNES data directory (no risk.json, ledger.db or audit trail in it): "
             "check --data-dir")  # fmt: skip


def _stored(data_dir: Path) -> RiskSnapshot | None:
    try:
        return JsonFileRiskStore(data_dir / RISK_FILE).load()
    except RiskStoreError as e:
        fail(f"cannot read the risk state in {data_dir}: {e}")


def _checked(data_dir: Path) -> RiskSnapshot | None:
    """The stored risk state, once the data dir and the control file have passed (read-only)."""
    _session_dir(data_dir)
    try:
        ControlFile(data_dir).check()
    except (ControlFileError, OSError) as e:
        fail(f"{e}; nothing was changed (fix the file by hand first)")
    return _stored(data_dir)


def _live(data_dir: Path, path: str, body: dict[str, str]) -> ControlResult | None:
    """The running trader's answer through its control API (None: no API, use the files)."""
    try:
        return control_client.live_request(data_dir, path, body)
    except control_client.ControlRefusedError as e:
        fail(str(e))


def _apply(data_dir: Path, before: RiskSnapshot | None, after: RiskSnapshot | None, action: ControlAction,
           by: str, reason: str) -> None:  # fmt: skip
    """Store ``after`` (None: leave ``risk.json`` alone), post the request, audit the change: all of
    it, or (an I/O error) none of the first two: ``risk.json`` is put back as it was."""
    store, now = JsonFileRiskStore(data_dir / RISK_FILE), SystemClock().now_ns()
    changed = after is not None and (before is None or before.kill_switch != after.kill_switch)
    try:
        if changed and after is not None:
            store.save(after)
        ControlFile(data_dir).post(action, by, reason, now)
    except OSError as e:
        with contextlib.suppress(OSError):
            if changed and before is not None:
                store.save(before)
            elif changed:
                store.path.unlink(missing_ok=True)  # this command created it a moment ago
        fail(f"cannot write to {data_dir}: {e.strerror or e}; nothing was changed")
    if changed and after is not None:
        _audit(data_dir, after)


def _audit(data_dir: Path, after: RiskSnapshot) -> None:
    """The switch change as an audit record, when the trail exists and no running trader holds it
    (that trader records it itself when it applies the request)."""
    if not (data_dir / "audit").is_dir():
        return
    switch = after.kill_switch
    event = AuditEvent.KILL_SWITCH_ACTIVATED if switch.active else AuditEvent.KILL_SWITCH_DEACTIVATED
    context = AuditContext(OPERATOR_STRATEGY, "-", __version__, git_sha())
    record = context.record(event, switch.since_ns or 0, reason=switch.reason, metadata={"by": switch.by},
                            risk_snapshot=snapshot_to_dict(after))  # fmt: skip
    try:
        log, sink = open_audit(data_dir)
    except (AuditLogError, OSError):
        return  # a trader holds the trail: it audits the change when it applies the request
    try:
        log.append(record)
    except (AuditLogError, OSError) as e:
        typer.echo(f"warning: the change is stored but not in the audit trail: {e}", err=True)
    finally:
        log.close()
        sink.close()


def _blank() -> RiskSnapshot:
    """The state written when none is stored: no day yet (a session rolls it to its own clock's)."""
    return RiskSnapshot(day=utc_day(0))


@kill_switch_app.command("on")
def on(
    reason: Annotated[str, typer.Option(help="Why (recorded with the switch).")] = "manual",
    by: Annotated[str, typer.Option(help="Who turns it on.")] = "operator",
    data_dir: DataDir = Path("data/paper"),
) -> None:
    """Turn the kill-switch on (persisted before this command returns).

    Never blocked by a damaged safety file: a damaged ``risk.json`` is left as it is (the next
    session starts REDUCING anyway) and the request still reaches a running trader; each is said.
    """
    if not by.strip() or not reason.strip():
        fail("say who turns the kill-switch on (--by) and why (--reason)")
    _session_dir(data_dir)
    live = _live(data_dir, "/kill-switch/on", {"by": by, "reason": reason})
    if live is not None:
        typer.echo(control_client.request_text(live, "kill-switch ON"))
        return
    warnings, already = [], False
    try:
        ControlFile(data_dir).check()
    except (ControlFileError, OSError) as e:
        warnings.append(f"{e}: the next session starts REDUCING until it is fixed")
    try:
        before = JsonFileRiskStore(data_dir / RISK_FILE).load()
    except RiskStoreError as e:
        warnings.append(f"{e}; left as it is: the next session starts REDUCING")
        _apply(data_dir, None, None, ControlAction.KILL_SWITCH_ON, by.strip(), reason.strip())
    else:
        current = before or _blank()
        after = current
        if not current.kill_switch.active:
            after = replace(current, kill_switch=SwitchState(True, by.strip(), reason.strip(), SystemClock().now_ns()))
        _apply(data_dir, before, after, ControlAction.KILL_SWITCH_ON, by.strip(), reason.strip())
        already = after is current
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo("kill-switch ON" + (" (it already was)" if already else ""))


@kill_switch_app.command("off")
def off(
    by: Annotated[str, typer.Option(help="The person turning it off (required: never automatic).")],
    data_dir: DataDir = Path("data/paper"),
) -> None:
    """Turn the kill-switch off; only a person may, and says who."""
    try:
        person = check_person(by)
    except ValueError as e:
        fail(str(e))
    _session_dir(data_dir)
    live = _live(data_dir, "/kill-switch/off", {"by": person})
    if live is not None:
        typer.echo(control_client.request_text(live, "kill-switch off"))
        return
    before = _checked(data_dir)
    current = before or _blank()
    after = current
    if current.kill_switch.active or before is None:  # none stored: the person sets it, explicitly off
        after = replace(current, kill_switch=SwitchState(False, person, "deactivated", SystemClock().now_ns()))
    _apply(data_dir, before, after, ControlAction.KILL_SWITCH_OFF, person, "manual")
    typer.echo("kill-switch off" + ("" if current.kill_switch.active else " (it already was)"))


@kill_switch_app.command("status")
def status(data_dir: DataDir = Path("data/paper")) -> None:
    """Show the kill-switch: on/off, by whom, why, since when (reads only; writes nothing)."""
    _session_dir(data_dir)
    _stored(data_dir)  # unreadable: one error line
    safety = inspect_safety(data_dir)
    switch = safety.snapshot.kill_switch if safety.snapshot is not None else SwitchState()
    if switch.active:
        since = datetime.fromtimestamp((switch.since_ns or 0) / 1e9, tz=UTC).isoformat(timespec="seconds")
        typer.echo(f"kill-switch ON since {since} by {switch.by}: {switch.reason}")
    elif safety.problems:  # an "off" nobody can vouch for is not shown as off (fail closed)
        stored = "missing" if safety.snapshot is None else "off in risk.json, in doubt"
        typer.echo(f"kill-switch unknown ({stored}): treated as ON")
    else:
        typer.echo("kill-switch off")
    if safety.problems:
        typer.echo(f"the next session starts REDUCING: {safety.reason}")
