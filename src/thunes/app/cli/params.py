"""``thunes params history|diff|record|snapshot|decay``: the strategy parameter history (SPEC §5).

``record`` stores the configured strategy parameters as a new version (a no-op when that hash is
already current) and audits it in the session's trail; ``snapshot`` computes the daily Sharpe
snapshots from a session's ledger and daily summaries; ``decay`` reads them back as a state.
The history lives in ``data/paper/params.db`` unless ``--db`` names another file or a database URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from thunes.adapters.clock import SystemClock
from thunes.adapters.storage.audit_jsonl import AuditLogError
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.app.audit_setup import audit_context, open_audit
from thunes.app.cli.options import asset, database_target, thunes_data_dir
from thunes.app.cli.report import load_evidence
from thunes.app.config import ConfigError, Settings, load_settings
from thunes.app.errors import fail
from thunes.governance import AuditEvent
from thunes.governance.params import (
    ABSENT,
    DecayMonitor,
    DecayStateChanged,
    ParamVersion,
    SharpeSnapshot,
    assess_decay,
    daily_results,
    diff_parameters,
    record_version,
    snapshot_on,
)
from thunes.governance.rodage import Evidence
from thunes.risk.state import utc_day

__all__ = ["params_app"]

params_app = typer.Typer(help="Strategy parameter versions and their Sharpe decay.", no_args_is_help=True)
DEFAULT_DB = "data/paper/params.db"
Db = Annotated[str, typer.Option("--db", help="SQLite file, or a database URL (postgresql+psycopg://...).")]
DataDir = Annotated[Path, typer.Option(help="The session's data directory (audit trail, ledger, summaries).")]
ConfigPath = Annotated[Path | None, typer.Option("--config", help="TOML settings file (default: thunes.toml).")]
_STATE_STYLE = {"OK": "green", "WARNING": "yellow", "CRITICAL": "bold red", "INSUFFICIENT_DATA": "dim"}


def _target(data_dir: Path, db: str | None) -> str:
    """The URL of the history a writing command uses, once ``--data-dir`` and ``--db`` have passed:
    an existing session directory (never created), a usable database (``--db ""`` is refused, not
    read as the default)."""
    thunes_data_dir(data_dir)
    return database_target(str(data_dir / "params.db") if db is None else db, "--db", create=True)


@contextmanager
def _store(db: str, *, url: str | None = None) -> Iterator[SqlParamStore]:
    """The history at ``db`` (or the checked ``url``); reading one that does not exist is a usage error."""
    store = SqlParamStore(url or database_target(db, "--db", create=False))
    try:
        yield store
    finally:
        store.close()


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as e:
        fail(str(e))


def _when(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@params_app.command("history")
def history(strategy: Annotated[str | None, typer.Option(help="Only this strategy.")] = None,
            db: Db = DEFAULT_DB) -> None:  # fmt: skip
    """Every recorded version, oldest first."""
    with _store(db) as store:
        versions = store.history(strategy)
    table = Table("strategy", "v", "param hash", "created (UTC)", "git", "backtest Sharpe", "WF Sharpe", "by", "why",
                  caption=f"{len(versions)} versions")  # fmt: skip
    for v in versions:
        table.add_row(v.strategy_id, str(v.version), v.param_hash, _when(v.created_ns), v.git_sha[:8],
                      _ratio(v.backtest_sharpe), _ratio(v.wf_sharpe), Text(v.author), Text(v.reason))  # fmt: skip
    Console(width=160).print(table)


def _one(store: SqlParamStore, prefix: str) -> ParamVersion:
    found = store.by_hash(prefix.lower())
    hashes = {v.param_hash for v in found}
    if not found:
        fail(f"no version with a param hash starting {prefix!r}")
    if len(hashes) > 1:
        fail(f"param hash {prefix!r} is ambiguous: {', '.join(sorted(hashes))}")
    return found[0]


def _shown(value: Any) -> str:
    return "(absent)" if value is ABSENT else json.dumps(value)


@params_app.command("diff")
def diff(hash_a: Annotated[str, typer.Argument(help="A param hash (or a unique prefix).")],
         hash_b: Annotated[str, typer.Argument(help="Another param hash (or a unique prefix).")],
         db: Db = DEFAULT_DB) -> None:  # fmt: skip
    """Parameter by parameter, the two versions side by side; changed ones marked."""
    with _store(db) as store:
        a, b = _one(store, hash_a), _one(store, hash_b)
    changes = diff_parameters(a.parameters, b.parameters)
    table = Table("", "parameter", f"{a.strategy_id} {a.param_hash}", f"{b.strategy_id} {b.param_hash}",
                  caption=f"{sum(c.changed for c in changes)} of {len(changes)} parameters differ")  # fmt: skip
    for c in changes:
        style = "bold" if c.changed else "dim"
        table.add_row("*" if c.changed else "", Text(c.name, style=style), Text(_shown(c.before), style=style),
                      Text(_shown(c.after), style=style))  # fmt: skip
    Console(width=160).print(table)


@params_app.command("record")
def record(
    backtest_sharpe: Annotated[float | None, typer.Option(help="Backtest Sharpe of these parameters.")] = None,
    wf_sharpe: Annotated[float | None, typer.Option(help="Walk-forward (out-of-sample) Sharpe.")] = None,
    by: Annotated[str, typer.Option(help="Who makes the change.")] = "operator",
    why: Annotated[str, typer.Option(help="Why the parameters change.")] = "manual",
    config: ConfigPath = None,
    data_dir: DataDir = Path("data/paper"),
    db: Annotated[str | None, typer.Option("--db", help="SQLite file or database URL (default: DATA_DIR/params.db).")]
    = None,
) -> None:  # fmt: skip
    """Record the configured strategy's parameters as its new version, audited as PARAMETER_UPDATED."""
    url = _target(data_dir, db)
    settings = _settings(config)
    context = audit_context(settings)
    try:
        proposal = ParamVersion.propose(settings.strategy.name, settings.strategy.model_dump(mode="json"),
                                        git_sha=context.git_sha, created_ns=SystemClock().now_ns(), author=by,
                                        reason=why, backtest_sharpe=backtest_sharpe, wf_sharpe=wf_sharpe)  # fmt: skip
    except ValueError as e:
        fail(str(e))
    with _store("", url=url) as store:
        try:
            audit, sink = open_audit(data_dir)
        except AuditLogError as e:
            fail(f"{e}: record parameters while no session runs on {data_dir}")
        try:
            outcome = record_version(store, audit, context, proposal)
        finally:
            audit.close()
            sink.close()
    v = outcome.version
    if outcome.created:
        typer.echo(f"recorded {v.strategy_id} v{v.version} (param hash {v.param_hash}), audited as PARAMETER_UPDATED")
    else:
        typer.echo(f"unchanged: {v.strategy_id} v{v.version} already has param hash {v.param_hash}")


def _session_context(evidence: Evidence, config: Path | None) -> tuple[str, str]:
    """The strategy and param hash that traded: the session's newest trading record (a version
    recorded since may be the next session's), else the settings."""
    traded = [r for r in evidence.records if r.event is not AuditEvent.PARAMETER_UPDATED]
    if traded:
        return traded[-1].strategy_id, traded[-1].param_hash
    context = audit_context(_settings(config))
    return context.strategy_id, context.param_hash


def _print_decay(strategy: str, param_hash: str, snapshots: list[SharpeSnapshot], console: Console) -> None:
    assessment = assess_decay(snapshots)
    state = assessment.state.value
    console.print(Text(f"{strategy} {param_hash}: ") + Text(state, style=_STATE_STYLE[state]) +
                  Text(f" ({assessment.detail})"))  # fmt: skip
    table = Table("day", "sharpe_7d", "sharpe_30d", "closed trades (7 d)")
    for s in snapshots[-3:]:
        table.add_row(s.day.isoformat(), _ratio(s.sharpe_7d), _ratio(s.sharpe_30d), str(s.closed_trades))
    console.print(table)


@params_app.command("snapshot")
def snapshot(
    data_dir: DataDir = Path("data/paper"),
    db: Annotated[str | None, typer.Option("--db", help="SQLite file or database URL (default: DATA_DIR/params.db).")]
    = None,
    quote: Annotated[str, typer.Option(help="Quote asset of the traded symbol (values the PnL).")] = "USDT",
    config: ConfigPath = None,
) -> None:  # fmt: skip
    """Compute (or recompute) the daily Sharpe snapshots of a session's days, then show its decay."""
    if not (data_dir / "ledger.db").is_file():
        fail(f"no trading session in {data_dir} (no ledger.db)")
    url = _target(data_dir, db)
    quote = asset(quote, "--quote")
    evidence = load_evidence(data_dir, quote)
    strategy, param_hash = _session_context(evidence, config)
    active = {*evidence.summary_days, *(utc_day(m.ts_ns) for m in evidence.marks)}
    results = daily_results(evidence.fills, active, quote_asset=quote.upper())
    now = SystemClock().now_ns()
    changes: list[DecayStateChanged] = []
    with _store("", url=url) as store:
        before = store.snapshots(strategy, param_hash)
        for result in results:
            store.put_snapshot(snapshot_on(strategy, param_hash, result.day, results, now))
        stored = store.snapshots(strategy, param_hash)
    monitor = DecayMonitor(changes.append, initial={strategy: assess_decay(before).state})
    monitor.check(strategy, param_hash, stored, now)
    console = Console(width=160)
    console.print(f"{len(results)} daily snapshots written for {strategy} {param_hash}")
    for change in changes:
        console.print(f"decay state changed: {change.previous.value} → {change.state.value}", markup=False)
    _print_decay(strategy, param_hash, stored, console)


@params_app.command("decay")
def decay(strategy: Annotated[str | None, typer.Option(help="Only this strategy.")] = None,
          db: Db = DEFAULT_DB) -> None:  # fmt: skip
    """Each strategy's decay state, from the snapshots of its current version."""
    console = Console(width=160)
    with _store(db) as store:
        strategies = [strategy] if strategy else store.strategies()
        if not strategies:
            fail("no strategy has a version or a snapshot yet")
        for name in strategies:
            latest = store.latest(name)
            all_snapshots = store.snapshots(name)
            current = latest.param_hash if latest else (all_snapshots[-1].param_hash if all_snapshots else "")
            _print_decay(name, current or "(none)", [s for s in all_snapshots if s.param_hash == current], console)
