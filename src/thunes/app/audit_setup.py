"""The audit trail of a trading session: who is acting (strategy, parameter hash, build) and
where the records go (hash-chained JSONL in the session directory, plus its database copy)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from thunes import __version__
from thunes.adapters.storage.audit_jsonl import AuditLog
from thunes.adapters.storage.audit_sql import SqlAuditSink
from thunes.app.composition import portfolio_pairs
from thunes.app.config import Settings
from thunes.governance import AuditContext

__all__ = ["audit_context", "git_sha", "open_audit"]


def git_sha(root: Path | None = None) -> str:
    """The commit THUNES runs from, or ``unknown`` outside a git checkout."""
    here = root or Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5,  # noqa: S607
                              check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and sha else "unknown"


def audit_context(settings: Settings) -> AuditContext:
    """Strategy name and the hash of its parameters (canonical JSON), so a record names the exact
    configuration that decided; for a portfolio, every pair's strategy names and the hash of every
    pair's symbol and parameters, in portfolio order."""
    pairs = portfolio_pairs(settings)
    if len(pairs) == 1:
        params: object = pairs[0].strategy.model_dump(mode="json")
        strategy_id: str = pairs[0].strategy.name
    else:
        params = [{"symbol": str(p.symbol), **p.strategy.model_dump(mode="json")} for p in pairs]
        strategy_id = "+".join(dict.fromkeys(p.strategy.name for p in pairs))
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return AuditContext(strategy_id=strategy_id, param_hash=digest[:16], app_version=__version__,
                        git_sha=git_sha())  # fmt: skip


def open_audit(data_dir: Path) -> tuple[AuditLog, SqlAuditSink]:
    """``data_dir/audit/audit-YYYY-Www.jsonl`` and the ``audit_records`` table of ``data_dir/audit.db``."""
    copy = data_dir / "audit.db"
    sink = SqlAuditSink(f"sqlite:///{copy}")
    try:
        return AuditLog(data_dir / "audit", sinks=[sink], copy=copy), sink
    except BaseException:
        sink.close()
        raise
