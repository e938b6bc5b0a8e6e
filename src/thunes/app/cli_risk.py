"""``thunes kill-switch on|off|status``: the persisted kill-switch of a trading session.

The switch lives in the session's risk state file. A change is written there (for a trader that
is not running) and posted as a request in the session's control file, which a running trader
applies between bars within half a second; a trader started later applies it on start. A trader
serving its control API gets the request through the API instead (the same control file behind
it), which answers once the trader has applied it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from thunes.adapters.clock import SystemClock
from thunes.adapters.control import ControlResult
from thunes.adapters.storage.control_file import ControlAction, ControlFile
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.app import control_client
from thunes.app.errors import fail
from thunes.risk import RiskEngine, RiskLimits, RiskStoreError

__all__ = ["kill_switch_app"]

kill_switch_app = typer.Typer(help="The kill-switch: only SELLs that reduce a position pass while it is on.",
                              no_args_is_help=True)  # fmt: skip
DataDir = Annotated[Path, typer.Option(help="The session's data directory (holds risk.json).")]


def _engine(data_dir: Path) -> RiskEngine:
    try:
        return RiskEngine(RiskLimits(), SystemClock().now_ns, JsonFileRiskStore(data_dir / "risk.json"))
    except RiskStoreError as e:
        fail(f"cannot read the risk state in {data_dir}: {e}")


def _live(data_dir: Path, path: str, body: dict[str, str]) -> ControlResult | None:
    """The running trader's answer through its control API (None: no API, use the files)."""
    try:
        return control_client.live_request(data_dir, path, body)
    except control_client.ControlRefusedError as e:
        fail(str(e))


@kill_switch_app.command("on")
def on(
    reason: Annotated[str, typer.Option(help="Why (recorded with the switch).")] = "manual",
    by: Annotated[str, typer.Option(help="Who turns it on.")] = "operator",
    data_dir: DataDir = Path("data/paper"),
) -> None:
    """Turn the kill-switch on (persisted before this command returns)."""
    live = _live(data_dir, "/kill-switch/on", {"by": by, "reason": reason})
    if live is not None:
        typer.echo(control_client.request_text(live, "kill-switch ON"))
        return
    changed = _engine(data_dir).activate_kill_switch(by, reason)
    ControlFile(data_dir).post(ControlAction.KILL_SWITCH_ON, by, reason, SystemClock().now_ns())
    typer.echo("kill-switch ON" + ("" if changed else " (it already was)"))


@kill_switch_app.command("off")
def off(
    by: Annotated[str, typer.Option(help="The person turning it off (required: never automatic).")],
    data_dir: DataDir = Path("data/paper"),
) -> None:
    """Turn the kill-switch off; only a person may, and says who."""
    live = _live(data_dir, "/kill-switch/off", {"by": by})
    if live is not None:
        typer.echo(control_client.request_text(live, "kill-switch off"))
        return
    try:
        changed = _engine(data_dir).deactivate(by)
    except ValueError as e:
        fail(str(e))
    ControlFile(data_dir).post(ControlAction.KILL_SWITCH_OFF, by, "manual", SystemClock().now_ns())
    typer.echo("kill-switch off" + ("" if changed else " (it already was)"))


@kill_switch_app.command("status")
def status(data_dir: DataDir = Path("data/paper")) -> None:
    """Show the kill-switch: on/off, by whom, why, since when."""
    switch = _engine(data_dir).kill_switch
    if not switch.active:
        typer.echo("kill-switch off")
        return
    since = datetime.fromtimestamp((switch.since_ns or 0) / 1e9, tz=UTC).isoformat(timespec="seconds")
    typer.echo(f"kill-switch ON since {since} by {switch.by}: {switch.reason}")
