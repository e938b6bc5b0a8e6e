"""The SQL journal and ledger on real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from thunes.adapters.storage.sql_store import SqlStore
from thunes.domain import (
    ClientOrderId,
    Fill,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    Symbol,
    TimeInForce,
    VenueOrderId,
)
from thunes.domain.venue import OrderReport
from thunes.execution.ports import JournalState

D = Decimal
PG_URL = os.environ.get("THUNES_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_url() -> str:
    """A fresh schema on the real server (skipped locally only when no server answers)."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"t_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as e:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable in CI: {e}")
        pytest.skip(f"no PostgreSQL server: {e}")
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'thunes.db'}"
    return _postgres_url()


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    s = SqlStore(url)
    yield s
    s.close()


def _request(cid: str = "c1", price: str = "0.00000001", qty: str = "123456789.12345678") -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), Symbol("SHIBUSDT"), Side.BUY, OrderType.LIMIT, D(qty), D(price),
                        time_in_force=TimeInForce.GTC)  # fmt: skip


def _fill(trade_id: str, price: str = "30000.01", qty: str = "0.00012345") -> Fill:
    return Fill(ClientOrderId("c1"), trade_id, Symbol("BTCUSDT"), Side.BUY, D(price), D(qty), D("0.00000013"), "BTC",
                Liquidity.TAKER, 1_700_000_000_000_000_000)  # fmt: skip


def test_journal_when_intent_recorded_twice_then_second_is_refused_and_values_exact(store: SqlStore) -> None:
    request = _request()

    first = store.record_intent(request, 5)
    second = store.record_intent(request, 6)

    entry = store.get(request.client_order_id)
    assert (first, second) == (True, False)
    assert entry is not None
    assert entry.request == request
    assert entry.state is JournalState.INTENT


def test_journal_when_marked_and_attempted_then_unresolved_tracks_state(store: SqlStore) -> None:
    a, b = _request("a"), _request("b")
    store.record_intent(a, 1)
    store.record_intent(b, 1)

    store.count_attempt(a.client_order_id)
    attempts = store.count_attempt(a.client_order_id)
    store.mark(a.client_order_id, JournalState.ACCEPTED, 2, "NEW")
    store.mark(b.client_order_id, JournalState.UNKNOWN, 3, "answer lost")

    assert attempts == 2
    assert [e.request.client_order_id for e in store.unresolved()] == ["b"]
    with pytest.raises(KeyError):
        store.mark(ClientOrderId("missing"), JournalState.DONE, 4)


def test_unbooked_when_answers_were_journaled_but_not_booked_then_exactly_those_are_listed(store: SqlStore) -> None:
    def report(cid: str, filled: str) -> OrderReport:
        return OrderReport(ClientOrderId(cid), VenueOrderId("1"), Symbol("BTCUSDT"), Side.BUY, OrderType.MARKET,
                           OrderStatus.FILLED, D("0.0002"), D(filled), D(6), None, 1)  # fmt: skip

    def fill(cid: str, trade_id: str, qty: str) -> Fill:
        return Fill(ClientOrderId(cid), trade_id, Symbol("BTCUSDT"), Side.BUY, D(30_000), D(qty), D(0), "BTC",
                    Liquidity.TAKER, 1)  # fmt: skip

    states = {"booked": JournalState.DONE, "no_row": JournalState.DONE, "short": JournalState.DONE,
              "resting": JournalState.ACCEPTED, "sent": JournalState.INTENT, "refused": JournalState.REJECTED}  # fmt: skip
    for cid, state in states.items():
        store.record_intent(_request(cid), 1)
        if state is not JournalState.INTENT:
            store.mark(ClientOrderId(cid), state, 2)
    store.record_report(report("booked", "0.0002"))
    store.record_fill(fill("booked", "1", "0.0001"))
    store.record_fill(fill("booked", "2", "0.0001"))
    store.record_report(report("short", "0.0002"))  # the crash came between the order row and its second fill
    store.record_fill(fill("short", "3", "0.0001"))
    store.record_report(report("resting", "0"))

    assert sorted(e.request.client_order_id for e in store.unbooked()) == ["no_row", "short"]


def test_ledger_when_fill_recorded_twice_then_kept_once_exactly(store: SqlStore) -> None:
    assert store.record_fill(_fill("7")) is True
    assert store.record_fill(_fill("7")) is False
    store.record_fill(_fill("8", price="29999.99"))

    got = store.fills("BTCUSDT")

    assert [f.trade_id for f in got] == ["7", "8"]
    assert got[0] == _fill("7")


def test_store_when_reopened_then_journal_and_ledger_survive(url: str) -> None:
    first = SqlStore(url)
    first.record_intent(_request("survivor"), 1)
    first.record_fill(_fill("1"))
    first.close()

    second = SqlStore(url)
    try:
        assert second.get(ClientOrderId("survivor")) is not None
        assert len(second.fills()) == 1
    finally:
        second.close()


def test_record_intent_when_many_threads_race_on_one_id_then_exactly_one_wins(store: SqlStore) -> None:
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        won = store.record_intent(_request("contended"), 1)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [False] * 7 + [True]


def test_newest_intent_when_intents_journaled_then_the_last_decided_per_symbol_on_both_backends(
    store: SqlStore,
) -> None:
    """Recovery retries the trader's last decision: the order is the journaling order, not the
    client id or the time stamp (a later intent may carry an earlier bar's time)."""
    other = OrderRequest(ClientOrderId("eth"), Symbol("ETHUSDT"), Side.BUY, OrderType.MARKET, D("0.1"))
    assert store.newest_intent(Symbol("SHIBUSDT")) is None
    store.record_intent(_request("z-first"), 30)
    store.record_intent(other, 40)
    store.record_intent(_request("a-second"), 10)

    newest = store.newest_intent(Symbol("SHIBUSDT"))

    assert newest is not None
    assert newest.request.client_order_id == "a-second"
    eth = store.newest_intent(Symbol("ETHUSDT"))
    assert eth is not None
    assert eth.request == other
