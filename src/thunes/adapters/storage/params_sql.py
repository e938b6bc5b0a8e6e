"""Parameter versions and daily Sharpe snapshots in SQL (SQLAlchemy 2 Core): SQLite by default,
PostgreSQL by URL. Implements ``thunes.governance.params.ParamStore``.

``param_versions`` is unique on (strategy_id, version): that key is how ``record_version`` claims
the next number without a lock. ``sharpe_snapshots`` is unique on (strategy_id, param_hash, day),
so re-running a day's snapshot replaces it. Parameters are stored as their exact canonical JSON
text (JSONB would reorder keys and change the hashed text); Sharpe ratios are doubles.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    union,
    update,
)
from sqlalchemy.exc import IntegrityError

from thunes.adapters.storage.sql_engine import open_engine
from thunes.governance.params import ParamStoreError, ParamVersion, SharpeSnapshot

__all__ = ["PARAMS_METADATA", "SqlParamStore", "param_versions", "sharpe_snapshots"]

PARAMS_METADATA = MetaData()

param_versions = Table(
    "param_versions",
    PARAMS_METADATA,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("strategy_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("param_hash", String(64), nullable=False),
    Column("parameters", Text, nullable=False),
    Column("git_sha", String(40), nullable=False),
    Column("backtest_sharpe", Double, nullable=True),
    Column("wf_sharpe", Double, nullable=True),
    Column("created_ns", BigInteger, nullable=False),
    Column("author", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    UniqueConstraint("strategy_id", "version", name="uq_param_versions_strategy_version"),
    Index("ix_param_versions_hash", "param_hash"),
)

sharpe_snapshots = Table(
    "sharpe_snapshots",
    PARAMS_METADATA,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("strategy_id", String(64), nullable=False),
    Column("param_hash", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("sharpe_7d", Double, nullable=True),
    Column("sharpe_30d", Double, nullable=True),
    Column("closed_trades", Integer, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    UniqueConstraint("strategy_id", "param_hash", "day", name="uq_sharpe_snapshots_version_day"),
)


def _version(row: Any) -> ParamVersion:
    return ParamVersion(
        strategy_id=row["strategy_id"], parameters_json=row["parameters"], param_hash=row["param_hash"],
        git_sha=row["git_sha"], created_ns=int(row["created_ns"]), author=row["author"], reason=row["reason"],
        backtest_sharpe=row["backtest_sharpe"], wf_sharpe=row["wf_sharpe"], version=int(row["version"]),
    )  # fmt: skip


def _snapshot(row: Any) -> SharpeSnapshot:
    return SharpeSnapshot(row["strategy_id"], row["param_hash"], row["day"], row["sharpe_7d"], row["sharpe_30d"],
                          int(row["closed_trades"]), int(row["created_ns"]))  # fmt: skip


class SqlParamStore:
    """The parameter history over one SQLAlchemy engine; every write commits before it returns."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url, PARAMS_METADATA)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> SqlParamStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- versions -------------------------------------------------------------------------------
    def latest(self, strategy_id: str) -> ParamVersion | None:
        query = (select(param_versions).where(param_versions.c.strategy_id == strategy_id)
                 .order_by(param_versions.c.version.desc()).limit(1))  # fmt: skip
        with self._tx() as conn:
            row = conn.execute(query).first()
        return None if row is None else _version(row._mapping)

    def insert(self, version: ParamVersion) -> bool:
        row = {
            "strategy_id": version.strategy_id, "version": version.version, "param_hash": version.param_hash,
            "parameters": version.parameters_json, "git_sha": version.git_sha,
            "backtest_sharpe": version.backtest_sharpe, "wf_sharpe": version.wf_sharpe,
            "created_ns": version.created_ns, "author": version.author, "reason": version.reason,
        }  # fmt: skip
        try:
            with self._tx() as conn:
                conn.execute(insert(param_versions).values(**row))
        except IntegrityError:
            return False
        return True

    def delete(self, strategy_id: str, version: int) -> None:
        with self._tx() as conn:
            conn.execute(delete(param_versions).where(param_versions.c.strategy_id == strategy_id,
                                                      param_versions.c.version == version))  # fmt: skip

    def history(self, strategy_id: str | None = None) -> list[ParamVersion]:
        """Oldest first, per strategy then version number."""
        query = select(param_versions).order_by(param_versions.c.strategy_id, param_versions.c.version)
        if strategy_id is not None:
            query = query.where(param_versions.c.strategy_id == strategy_id)
        with self._tx() as conn:
            return [_version(r._mapping) for r in conn.execute(query).all()]

    def by_hash(self, prefix: str) -> list[ParamVersion]:
        """Versions whose hash starts with ``prefix`` (a reverted hash appears once per version)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (select(param_versions).where(param_versions.c.param_hash.like(f"{escaped}%", escape="\\"))
                 .order_by(param_versions.c.strategy_id, param_versions.c.version))  # fmt: skip
        with self._tx() as conn:
            return [_version(r._mapping) for r in conn.execute(query).all()]

    # --- snapshots ------------------------------------------------------------------------------
    def put_snapshot(self, snapshot: SharpeSnapshot) -> None:
        table = sharpe_snapshots.c
        key = (table.strategy_id == snapshot.strategy_id, table.param_hash == snapshot.param_hash,
               table.day == snapshot.day)  # fmt: skip
        values = {"sharpe_7d": snapshot.sharpe_7d, "sharpe_30d": snapshot.sharpe_30d,
                  "closed_trades": snapshot.closed_trades, "created_ns": snapshot.created_ns}  # fmt: skip
        for _ in range(2):  # a concurrent first insert of the same day wins; then ours updates it
            try:
                with self._tx() as conn:
                    if conn.execute(update(sharpe_snapshots).where(*key).values(**values)).rowcount == 0:
                        conn.execute(insert(sharpe_snapshots).values(
                            strategy_id=snapshot.strategy_id, param_hash=snapshot.param_hash, day=snapshot.day,
                            **values))  # fmt: skip
                return
            except IntegrityError:
                continue
        raise ParamStoreError(f"snapshot {snapshot.strategy_id} {snapshot.day}: concurrent writers kept conflicting")

    def snapshots(self, strategy_id: str, param_hash: str | None = None) -> list[SharpeSnapshot]:
        query = (select(sharpe_snapshots).where(sharpe_snapshots.c.strategy_id == strategy_id)
                 .order_by(sharpe_snapshots.c.day, sharpe_snapshots.c.param_hash))  # fmt: skip
        if param_hash is not None:
            query = query.where(sharpe_snapshots.c.param_hash == param_hash)
        with self._tx() as conn:
            return [_snapshot(r._mapping) for r in conn.execute(query).all()]

    def strategies(self) -> list[str]:
        """Every strategy with a recorded version or a snapshot, sorted."""
        query = union(select(param_versions.c.strategy_id), select(sharpe_snapshots.c.strategy_id))
        with self._tx() as conn:
            return sorted(str(s) for s in conn.execute(query).scalars().all())
