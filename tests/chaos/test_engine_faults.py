"""The whole trading stack under the venue's fault injection: a paper session against the real
server while WebSockets drop, 5xx bursts hit, and order answers get lost."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.simserver.live import LiveVenue
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.app.cli.main import app
from thunes.app.config import load_settings
from thunes.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from thunes.session.paper import PaperConfig, PaperStatus, run_paper
from thunes.simvenue import OrderParams


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_BACKTEST__TIMEFRAME", "1m")
    monkeypatch.setenv("THUNES_STRATEGY__SMA_FAST", "3")
    monkeypatch.setenv("THUNES_STRATEGY__SMA_SLOW", "8")
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(tmp_path / "no-shared-data"))  # synthetic history
    return load_settings()


def _venue() -> LiveVenue:
    venue = LiveVenue()
    ready = threading.Event()

    def fund() -> None:  # on the server's own loop: the venue is not shared across threads
        venue.state.add_api_key("paper", key=PAPER_API_KEY, secret=PAPER_API_SECRET)
        venue.state.venue.deposit("paper", "USDT", Decimal(1000))
        ready.set()

    venue.loop.call_soon_threadsafe(fund)
    assert ready.wait(10)
    return venue


async def after_bars(traded: Callable[[], int], bars: int) -> None:
    """Until the session has traded ``bars`` live candles (1m at 240x: about 4 a second).

    Faults are placed in the session's trading by its progress, never by wall time since launch: on a
    loaded machine the start-up (connect, recover, reconcile) can take seconds, and a fault timed from
    launch would hit the start-up instead, or hit a stream still reconnecting from the previous fault.
    """
    while traded() < bars:
        await asyncio.sleep(0.02)


def _session(settings: Any, venue: LiveVenue, tmp_path: Path, faults: list[tuple[int, str, dict[str, Any]]],
             on_bar: Callable[[PaperStatus], None] = lambda s: None) -> tuple[PaperStatus, Counter[str], int]:  # fmt: skip
    """A 12 s paper session against ``venue``; each fault ``(bars, path, body)`` is posted once the
    session has traded that many live candles (0: before it starts)."""
    traded = [0]

    def counted(status: PaperStatus) -> None:
        traded[0] = status.bars
        on_bar(status)

    async def scenario() -> PaperStatus:
        async def inject() -> None:
            for bars, path, body in faults:
                await after_bars(lambda: traded[0], bars)
                await asyncio.to_thread(venue.admin, path, body)

        injector = asyncio.ensure_future(inject())
        config = PaperConfig(duration_s=12.0, data_dir=tmp_path / "paper", venue_url=venue.base_url)
        try:
            return await run_paper(settings, config, counted)
        finally:
            injector.cancel()

    status = asyncio.run(scenario())
    per_id: Counter[str] = Counter()

    def orders() -> None:
        for order in venue.state.venue.all_orders("paper", "BTCUSDT"):
            per_id[order.client_order_id] += 1

    done = threading.Event()
    venue.loop.call_soon_threadsafe(lambda: (orders(), done.set()))
    assert done.wait(10)
    store = SqlStore(f"sqlite:///{tmp_path / 'paper' / 'ledger.db'}")
    try:
        in_doubt = len(store.unresolved())
    finally:
        store.close()
    return status, per_id, in_doubt


def _assert_consistent(status: PaperStatus, per_id: Counter[str], in_doubt: int) -> None:
    duplicates = [cid for cid, n in per_id.items() if n > 1]
    print(f"consistency: duplicates={len(duplicates)} lost={status.venue_trades - status.ledger_fills} "
          f"in_doubt={in_doubt} rejected={dict(status.rejected)}")  # fmt: skip
    assert duplicates == []  # no order placed twice
    assert status.venue_trades == status.ledger_fills  # no fill lost
    assert -1013 not in status.rejected  # never a filter failure from the venue
    assert in_doubt == 0


@pytest.mark.slow
def test_ws_drop_when_trading_then_stream_returns_and_no_candle_is_missed(settings: Any, tmp_path: Path) -> None:
    venue = _venue()
    try:
        status, per_id, in_doubt = _session(
            settings, venue, tmp_path, [(12, "/admin/ws/drop", {}), (26, "/admin/ws/drop", {})]
        )
        injected = venue.admin("/admin/faults")["injected"]
    finally:
        venue.stop()

    print(
        f"ws-drop: bars={status.bars} missed={status.missed_candles} orders={sum(per_id.values())} dropped={injected}"
    )
    assert injected >= 2
    assert status.bars > 30  # live candles (the warm-up history is not counted): both drops fall inside
    assert status.missed_candles == 0
    _assert_consistent(status, per_id, in_doubt)


@pytest.mark.slow
def test_5xx_burst_when_trading_then_no_duplicate_and_no_lost_fill(settings: Any, tmp_path: Path) -> None:
    venue = _venue()
    try:
        status, per_id, in_doubt = _session(
            settings, venue, tmp_path, [(4, "/admin/faults", {"error_count": 6, "error_status": 503})]
        )
        injected = venue.admin("/admin/faults")["injected"]
    finally:
        venue.stop()

    print(
        f"5xx: orders={sum(per_id.values())} fills={status.venue_trades} injected={injected} denied={dict(status.denied)}"
    )
    assert injected > 0
    assert sum(per_id.values()) > 0
    _assert_consistent(status, per_id, in_doubt)


@pytest.mark.slow
def test_lost_order_answers_when_trading_then_resolved_by_lookup_without_duplicates(
    settings: Any, tmp_path: Path
) -> None:
    venue = _venue()
    try:
        status, per_id, in_doubt = _session(
            settings, venue, tmp_path, [(0, "/admin/faults", {"drop_order_responses": 3})]
        )
        faults = venue.admin("/admin/faults")
    finally:
        venue.stop()

    print(f"lost-answers: orders={sum(per_id.values())} fills={status.venue_trades} injected={faults['injected']}")
    assert faults["injected"] >= 1  # at least one answer really was lost
    _assert_consistent(status, per_id, in_doubt)


@pytest.mark.slow
def test_reconciliation_when_venue_balance_changes_behind_our_back_then_kill_switch_on(
    settings: Any, tmp_path: Path
) -> None:
    venue = _venue()

    traded = [0]

    def counted(status: PaperStatus) -> None:
        traded[0] = status.bars

    async def scenario() -> PaperStatus:
        async def tamper() -> None:
            await after_bars(lambda: traded[0], 4)
            done = threading.Event()
            venue.loop.call_soon_threadsafe(
                lambda: (venue.state.venue.deposit("paper", "BTC", Decimal("0.5")), done.set())
            )
            await asyncio.to_thread(done.wait, 10)

        tampering = asyncio.ensure_future(tamper())
        config = PaperConfig(duration_s=22.0, data_dir=tmp_path / "paper", venue_url=venue.base_url)
        try:
            return await run_paper(settings, config, counted)
        finally:
            tampering.cancel()

    try:
        status = asyncio.run(scenario())
    finally:
        venue.stop()

    print(f"reconcile: runs={status.reconciliations} mismatches={status.mismatches} kill_switch={status.kill_switch}")
    assert status.reconciliations >= 1  # 1m candles at 240x: an hour boundary every 15 s
    assert status.mismatches >= 1
    assert status.kill_switch is True


@pytest.mark.slow
def test_429_storm_when_trading_then_backs_off_per_retry_after_and_never_banned(settings: Any, tmp_path: Path) -> None:
    venue = _venue()
    storm = {"error_count": 4, "error_status": 429, "retry_after_s": 1}
    try:
        status, per_id, in_doubt = _session(settings, venue, tmp_path, [(4, "/admin/faults", storm)])
        faults = venue.admin("/admin/faults")
    finally:
        venue.stop()

    print(f"429: orders={sum(per_id.values())} injected={faults['injected']} bans={faults['bans']} bars={status.bars}")
    assert faults["injected"] >= 1
    assert faults["bans"] == 0  # every call waited for Retry-After: never a 418
    assert sum(per_id.values()) > 0
    _assert_consistent(status, per_id, in_doubt)


def _journal_sides(path: Path, after_rowid: int) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT side FROM order_journal WHERE rowid > ? ORDER BY rowid",
                                              (after_rowid,))]  # fmt: skip


@pytest.mark.slow
def test_kill_switch_when_turned_on_under_load_then_no_buy_passes_and_sells_do(settings: Any, tmp_path: Path) -> None:
    """The CLI turns the switch on while a session trades through a 5xx burst and added latency."""
    data_dir = tmp_path / "paper"
    cut: list[int] = []

    def on_bar(status: PaperStatus) -> None:  # the first bar that leaves a position open: switch on
        if cut or status.position <= 0:
            return
        with sqlite3.connect(data_dir / "ledger.db") as db:
            cut.append(int(db.execute("SELECT COALESCE(MAX(rowid), 0) FROM order_journal").fetchone()[0]))
        result = CliRunner().invoke(app, ["kill-switch", "on", "--reason", "drill", "--data-dir", str(data_dir)])
        assert result.exit_code == 0, result.output

    venue = _venue()
    load = [(0, "/admin/faults", {"latency_ms": 2, "jitter_ms": 3}),
            (4, "/admin/faults", {"error_count": 5, "error_status": 503})]  # fmt: skip
    try:
        status, per_id, in_doubt = _session(settings, venue, tmp_path, load, on_bar)
    finally:
        venue.stop()

    after = _journal_sides(data_dir / "ledger.db", cut[0])
    print(f"kill-switch: orders={sum(per_id.values())} after={after} denied={dict(status.denied)}")
    assert status.kill_switch is True
    assert status.control_requests >= 1
    assert "BUY" not in after  # no BUY once the switch was on
    assert "SELL" in after  # the open position could still be reduced
    assert status.denied["KILL_SWITCH"] > 0  # BUY signals came, and were denied
    _assert_consistent(status, per_id, in_doubt)


@pytest.mark.slow
def test_orphan_order_when_found_at_start_then_cancelled_by_policy_and_counted(settings: Any, tmp_path: Path) -> None:
    venue = _venue()
    placed = threading.Event()
    orphan: list[Any] = []

    def place() -> None:  # an order of this account that the trader's ledger has never seen
        params = OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"), price=Decimal(20_000),
                             time_in_force=TimeInForce.GTC, client_order_id="manual-from-the-website")  # fmt: skip
        orphan.append(venue.state.venue.place_order("paper", params))
        placed.set()

    venue.loop.call_soon_threadsafe(place)
    assert placed.wait(10)
    try:
        status, _, in_doubt = _session(settings, venue, tmp_path, [])
        final: list[Any] = []
        done = threading.Event()
        venue.loop.call_soon_threadsafe(
            lambda: (final.append(venue.state.venue.get_order("paper", "BTCUSDT", client_id="manual-from-the-website")),
                     done.set())
        )  # fmt: skip
        assert done.wait(10)
    finally:
        venue.stop()

    print(f"orphan: mismatches={status.mismatches} status={final[0].status}")
    assert final[0].status is OrderStatus.CANCELED
    assert status.mismatches >= 1
    assert in_doubt == 0
