"""Production chaos (issue 7, SPEC §7): the venue unreachable for a compressed 90 s, the ledger
database locked under the trader, and a compressed memory soak. Each scenario prints its counts
and asserts: no duplicate order, no lost fill, positions equal venue balances, still running."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.test_engine_faults import (  # noqa: F401 - settings is a fixture
    _assert_consistent,
    _session,
    _venue,
    after_bars,
    settings,
)
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

SOAK_SCRIPT = Path(__file__).with_name("soak_session.py")
COMPRESSION = 10  # 90 s of outage -> 9 s; the 120 s recovery bound -> 12 s (plus the reconnect backoff's jitter)


@pytest.mark.slow
def test_venue_unreachable_for_a_compressed_90s_then_streams_back_soon_after_and_no_candle_missed(
    settings: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    venue = _venue()
    arrivals: list[float] = []
    outage: list[float] = []

    async def scenario() -> PaperStatus:
        async def cut() -> None:
            await after_bars(lambda: len(arrivals), 8)  # trading: its stream is up
            outage.append(time.monotonic())
            await asyncio.to_thread(venue.admin, "/admin/faults/silence", {"seconds": 90 / COMPRESSION})
            await asyncio.to_thread(venue.admin, "/admin/ws/drop", {})

        cutting = asyncio.ensure_future(cut())
        config = PaperConfig(duration_s=32.0, data_dir=tmp_path / "paper", venue_url=venue.base_url)
        try:
            return await run_paper(settings, config, lambda s: arrivals.append(time.monotonic()))
        finally:
            cutting.cancel()

    try:
        status = asyncio.run(scenario())
        per_id = _orders_per_id(venue)
    finally:
        venue.stop()
    recovered = outage[0] + 90 / COMPRESSION
    back = next(t for t in arrivals if t > recovered) - recovered
    print(f"unreachable: outage={90 / COMPRESSION:.0f}s back_after={back:.1f}s bars={status.bars} "
          f"missed={status.missed_candles} orders={sum(per_id.values())} fills={status.venue_trades}")  # fmt: skip
    assert back <= 120 / COMPRESSION + 8  # the reconnect backoff is 1 s doubling: at most one 8 s step late
    assert status.missed_candles == 0  # the gap was backfilled over REST
    assert sum(1 for t in arrivals if t > recovered) > 20  # trading went on after the outage
    _assert_consistent(status, per_id, 0)


@pytest.mark.slow
def test_ledger_database_locked_under_the_trader_then_writes_wait_and_nothing_is_lost(
    settings: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    venue = _venue()
    held: list[float] = []
    trading, over = threading.Event(), threading.Event()

    def lock_ledger() -> None:  # another process takes the write lock for 3 s (a backup, a sqlite3 shell)
        trading.wait(120)  # the ledger exists and the session writes to it
        if over.is_set():
            return  # the session ended without trading: nothing to lock under it
        with sqlite3.connect(tmp_path / "paper" / "ledger.db", timeout=10, isolation_level=None) as db:
            db.execute("BEGIN EXCLUSIVE")
            held.append(time.monotonic())
            time.sleep(3.0)
            db.execute("COMMIT")

    locker = threading.Thread(target=lock_ledger, daemon=True)
    locker.start()
    try:
        status, per_id, in_doubt = _session(settings, venue, tmp_path, [],
                                            lambda s: trading.set() if s.bars >= 8 else None)  # fmt: skip
    finally:
        over.set()
        trading.set()
        venue.stop()
    locker.join(10)
    print(f"db-locked: held={len(held)} orders={sum(per_id.values())} fills={status.venue_trades} bars={status.bars}")
    assert held  # the lock really was taken while the session traded
    assert status.bars > 30
    _assert_consistent(status, per_id, in_doubt)


@pytest.mark.slow
def test_soak_when_100k_market_events_then_rss_flat_and_under_200_mb() -> None:
    done = subprocess.run([sys.executable, str(SOAK_SCRIPT), "10200"], capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rss = result["rss_mb"]
    print(f"soak: events={result['events']} bars={result['bars']} orders={result['orders']} "
          f"rss_first={rss[0]:.1f}MB rss_last={rss[-1]:.1f}MB rss_max={max(rss):.1f}MB")  # fmt: skip
    assert result["events"] >= 100_000
    assert len(rss) >= 30
    assert max(rss) < 200
    # Flat: what grows with the events is the embedded venue's kline history (~1 KB a candle, served
    # by /klines; 5-6 MB over the run). Its public trade tape once grew too (190 B a trade, trimmed only
    # at 200,000 trades: 11-13.5 MB here); it is bounded now (tape.DEFAULT_CAPACITY). Judged over the
    # second half of the run (5,000 candles, 50,000 events): where the run starts depends on the machine
    # (the first samples came out 10 MB lower under load 7 than on a quiet machine, the last the same,
    # 189-192 MB), a leak grows with the events wherever it is measured.
    assert rss[-1] - rss[len(rss) // 2] < 6
    assert result["venue_trades"] == result["ledger_fills"] == result["fills"] > 50
    assert result["rejected"] == {}


def _orders_per_id(venue: Any) -> dict[str, int]:
    per_id: dict[str, int] = {}
    done = threading.Event()

    def count() -> None:
        for order in venue.state.venue.all_orders("paper", "BTCUSDT"):
            per_id[order.client_order_id] = per_id.get(order.client_order_id, 0) + 1
        done.set()

    venue.loop.call_soon_threadsafe(count)
    assert done.wait(10)
    return per_id
