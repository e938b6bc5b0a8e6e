"""The parameter history on real SQLite files and a real PostgreSQL server (a schema per test)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from tests.integration.storage.test_sql_store import _postgres_url
from thunes.adapters.storage.audit_jsonl import AuditLog, read_records
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.governance import AuditContext
from thunes.governance.params import ParamVersion, RecordOutcome, SharpeSnapshot, record_version

T0 = 1_795_428_000_000_000_000
CONTEXT = AuditContext(strategy_id="?", param_hash="?", app_version="0.1.0", git_sha="c0ffee")
PARAMS = {"name": "sma_cross", "sma_fast": 20, "sma_slow": 50, "rsi_oversold": 30.0, "rsi_stop_loss": "0.03"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'params.db'}"
    return _postgres_url()


@pytest.fixture
def store(url: str) -> Iterator[SqlParamStore]:
    s = SqlParamStore(url)
    yield s
    s.close()


def _version(n: int, strategy: str = "sma_cross", fast: int = 20, sharpe: float | None = 1.2345678901234567,
             reason: str = "walk-forward passed") -> ParamVersion:  # fmt: skip
    v = ParamVersion.propose(strategy, {**PARAMS, "sma_fast": fast}, git_sha="a" * 40, created_ns=T0 + n,
                             author="alice", reason=reason, backtest_sharpe=sharpe, wf_sharpe=None)  # fmt: skip
    return replace(v, version=n)


def test_versions_when_stored_then_read_back_exactly_and_numbers_are_unique(store: SqlParamStore) -> None:
    first, second = _version(1), _version(2, fast=10, sharpe=None, reason="naïve ✓ | 100%_")

    assert store.insert(first) is True
    assert store.insert(second) is True
    assert store.insert(_version(2, fast=30)) is False  # version 2 is taken

    assert store.history() == [first, second]
    assert store.latest("sma_cross") == second
    assert store.latest("unknown") is None


def test_history_and_hash_lookup_when_several_strategies_then_filtered_and_prefix_matched(
    store: SqlParamStore,
) -> None:
    a, b, other = _version(1), _version(2, fast=10), _version(1, strategy="rsi_reversion", fast=10)
    for v in (a, b, other):
        store.insert(v)

    assert store.history("rsi_reversion") == [other]
    assert store.by_hash(b.param_hash[:6]) == [other, b]  # same parameters, two strategies (strategy order)
    assert store.by_hash("%") == []  # LIKE wildcards are literal
    assert store.strategies() == ["rsi_reversion", "sma_cross"]


def test_delete_when_version_removed_then_its_number_is_free_again(store: SqlParamStore) -> None:
    store.insert(_version(1))

    store.delete("sma_cross", 1)

    assert store.history() == []
    assert store.insert(_version(1)) is True


def test_snapshots_when_a_day_is_recomputed_then_replaced_and_ordered_by_day(store: SqlParamStore) -> None:
    day = date(2026, 11, 24)
    store.put_snapshot(SharpeSnapshot("sma_cross", "h1", day, 0.5, None, 3, T0))
    store.put_snapshot(SharpeSnapshot("sma_cross", "h1", date(2026, 11, 23), None, None, 0, T0))
    store.put_snapshot(SharpeSnapshot("sma_cross", "h2", day, 2.0, 2.5, 9, T0))

    store.put_snapshot(SharpeSnapshot("sma_cross", "h1", day, 0.75, 1.25, 4, T0 + 1))

    assert store.snapshots("sma_cross", "h1") == [
        SharpeSnapshot("sma_cross", "h1", date(2026, 11, 23), None, None, 0, T0),
        SharpeSnapshot("sma_cross", "h1", day, 0.75, 1.25, 4, T0 + 1),
    ]
    assert len(store.snapshots("sma_cross")) == 3
    assert store.strategies() == ["sma_cross"]


def test_store_when_reopened_then_history_survives(url: str) -> None:
    first = SqlParamStore(url)
    first.insert(_version(1))
    first.close()

    second = SqlParamStore(url)
    try:
        assert second.history() == [_version(1)]
    finally:
        second.close()


def test_record_version_when_eight_writers_race_on_one_hash_then_one_version_and_one_audit_record(
    url: str, tmp_path: Path
) -> None:
    stores = [SqlParamStore(url) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[RecordOutcome] = []
    errors: list[BaseException] = []
    proposal = ParamVersion.propose("sma_cross", PARAMS, git_sha="a" * 40, created_ns=T0, author="bot", reason="race")

    with AuditLog(tmp_path / "audit") as log:

        def attempt(store: SqlParamStore) -> None:
            barrier.wait()
            try:
                outcomes.append(record_version(store, log, CONTEXT, proposal))
            except BaseException as e:  # collected: a thread's exception would vanish otherwise
                errors.append(e)

        threads = [threading.Thread(target=attempt, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    audited = [item for _, _, item in read_records(tmp_path / "audit")]
    for s in stores:
        s.close()

    assert errors == []
    assert sum(o.created for o in outcomes) == 1
    assert {o.version.version for o in outcomes} == {1}
    assert len(audited) == 1
