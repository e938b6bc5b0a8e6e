"""Crash test: the trader process is SIGKILLed at random points while it trades the real venue
server, and restarted each time. Afterwards no client order id was placed twice, every venue fill
is in the local ledger, and the position equals the venue balance."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.venue_process import THUNES, venue_process
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.domain import Fill, Symbol
from thunes.governance.rodage import SESSION_MARKS_FILE

KILLS = 20


def _env(shared_data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "THUNES_DATA__SHARED_DATA_DIR": str(shared_data),
        "THUNES_STRATEGY__SMA_FAST": "3",
        "THUNES_STRATEGY__SMA_SLOW": "8",
    }


@pytest.fixture
def venue(shared_data: Path, tmp_path: Path) -> Iterator[str]:
    args = ["--speed", "180000", "--warmup", "60", "--deposit", "USDT=1000",
            "--state-file", str(tmp_path / "venue.json")]  # fmt: skip
    with venue_process(args, _env(shared_data), tmp_path, timeout_s=30) as url:
        yield url


def _trader(url: str, tmp_path: Path, shared_data: Path, duration: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [THUNES, "trade", "--paper", "--venue-url", url, "--resume", "--duration", str(duration),
         "--data-dir", str(tmp_path / "paper")],
        env=_env(shared_data), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


async def _venue_view(url: str) -> tuple[Counter[str], set[str], Decimal]:
    client = BinanceClient(BinanceConfig("paper", url, url.replace("http", "ws", 1)), PAPER_API_KEY, PAPER_API_SECRET)
    try:
        orders = await client.recent_orders(Symbol("BTCUSDT"), 1000)
        trades = await client.my_trades(Symbol("BTCUSDT"), 0)
        free, locked = (await client.balances()).get("BTC", (Decimal(0), Decimal(0)))
    finally:
        await client.close()
    return Counter(str(o.client_order_id) for o in orders), {t.trade_id for t in trades}, free + locked


def _summary_days(data_dir: Path) -> list[str]:
    path = data_dir / "daily_summaries.jsonl"
    return [json.loads(line)["day"] for line in path.read_text().splitlines()] if path.is_file() else []


def _reserved(data_dir: Path) -> list[str]:
    """The risk reservations the session left (after a graceful stop: orders still working only)."""
    snapshot = JsonFileRiskStore(data_dir / "risk.json").load()
    return [] if snapshot is None else [str(r.client_order_id) for r in snapshot.reservations]


@pytest.mark.slow
def test_trader_when_killed_twenty_times_then_no_duplicate_no_lost_fill_and_position_matches(
    venue: str, tmp_path: Path, shared_data: Path
) -> None:
    rng = random.Random(20261125)
    crashed, killed_ns = 0, []
    marks = tmp_path / "paper" / SESSION_MARKS_FILE
    for run in range(KILLS):
        started = _starts(marks)
        trader = _trader(venue, tmp_path, shared_data, duration=60)
        if run % 2:  # while trading: some time after the session reconciled and began (a slow machine starts late)
            _wait_for_start(marks, started, trader)
            time.sleep(rng.uniform(0.3, 1.5))
        else:  # anywhere: during start-up, recovery or reconciliation as much as while trading
            time.sleep(rng.uniform(1.0, 3.0))
        if trader.poll() is None:
            trader.send_signal(signal.SIGKILL)
            killed_ns.append(time.time_ns())
            crashed += 1
        trader.wait(timeout=10)
    final = _trader(venue, tmp_path, shared_data, duration=4)
    assert final.wait(timeout=60) == 0, final.stderr.read().decode() if final.stderr else ""

    per_id, venue_trades, venue_btc = asyncio.run(_venue_view(venue))
    store = SqlStore(f"sqlite:///{tmp_path / 'paper' / 'ledger.db'}")
    try:
        ledger = store.fills("BTCUSDT")
        in_doubt = list(store.unresolved())
    finally:
        store.close()
    ledger_btc = sum((f.quantity - (f.commission if f.commission_asset == "BTC" else 0)) * (1 if f.side.value == "BUY" else -1)
                     for f in ledger)  # fmt: skip

    recovery_s = _recovery_seconds(tmp_path / "paper" / SESSION_MARKS_FILE, killed_ns)
    print(f"crash-restart: kills={crashed} orders={sum(per_id.values())} fills={len(venue_trades)} "
          f"ledger={len(ledger)} duplicates={sum(n - 1 for n in per_id.values())} "
          f"lost={len(venue_trades - {f.trade_id for f in ledger})} in_doubt={len(in_doubt)} "
          f"recovery_p50={statistics.median(recovery_s):.2f}s recovery_max={max(recovery_s):.2f}s")  # fmt: skip
    assert len(recovery_s) == crashed  # every kill was followed by a session that reconciled and traded again
    assert crashed >= KILLS - 2  # nearly every run was killed mid-session
    assert sum(per_id.values()) > 5  # it really traded
    assert [cid for cid, n in per_id.items() if n > 1] == []  # no client order id placed twice
    assert venue_trades <= {f.trade_id for f in ledger}  # no venue fill missing from the ledger
    assert ledger_btc == venue_btc  # position equals the venue balance
    assert in_doubt == []  # no order left with an unknown outcome
    assert _reserved(tmp_path / "paper") == []  # every reservation a kill left was settled (MARKET orders only)
    days = _summary_days(tmp_path / "paper")
    assert days and len(days) == len(set(days))  # a restart's warm-up does not summarise a day again


@pytest.mark.slow
def test_restart_when_a_crash_came_between_journal_and_ledger_then_the_unbooked_fills_are_booked(
    venue: str, tmp_path: Path, shared_data: Path
) -> None:
    first = _trader(venue, tmp_path, shared_data, duration=20)
    assert first.wait(timeout=90) == 0, first.stderr.read().decode() if first.stderr else ""
    # The crash window, made exact: the journal marked the venue's answer, the ledger never booked it
    # (the newest order not at all; the one before only its order row, not its fills).
    with contextlib.closing(sqlite3.connect(tmp_path / "paper" / "ledger.db")) as conn, conn:
        newest, before = (r[0] for r in conn.execute("SELECT client_order_id FROM orders ORDER BY ts_ns DESC LIMIT 2"))
        states = dict(conn.execute("SELECT client_order_id, state FROM order_journal"))
        conn.execute("DELETE FROM fills WHERE client_order_id IN (?, ?)", (newest, before))
        conn.execute("DELETE FROM orders WHERE client_order_id = ?", (newest,))
    assert {states[newest], states[before]} <= {"DONE", "ACCEPTED"}  # nothing in doubt for the journal

    second = _trader(venue, tmp_path, shared_data, duration=3)
    assert second.wait(timeout=60) == 0, second.stderr.read().decode() if second.stderr else ""

    _, venue_trades, venue_btc = asyncio.run(_venue_view(venue))
    store = SqlStore(f"sqlite:///{tmp_path / 'paper' / 'ledger.db'}")
    try:
        ledger, unbooked = store.fills("BTCUSDT"), store.unbooked()
    finally:
        store.close()
    booked = {f.client_order_id for f in ledger}
    assert {newest, before} <= booked
    assert venue_trades <= {f.trade_id for f in ledger}
    assert _held(ledger) == venue_btc
    assert unbooked == []


def _held(ledger: list[Fill]) -> Decimal:
    """The base asset the ledger's fills add up to (fees in base taken off)."""
    return sum(((f.quantity - (f.commission if f.commission_asset == "BTC" else 0)) * (1 if f.side.value == "BUY" else -1)
                for f in ledger), Decimal(0))  # fmt: skip


def _starts(marks: Path) -> int:
    """How many sessions have written their START mark so far."""
    if not marks.exists():
        return 0
    return sum(1 for line in marks.read_text().splitlines() if line.strip() and json.loads(line)["kind"] == "START")


def _wait_for_start(marks: Path, before: int, trader: subprocess.Popen[bytes]) -> None:
    """Until the session just launched has written its START mark (it trades from there)."""
    deadline = time.monotonic() + 60
    while _starts(marks) <= before:
        if trader.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the trader never started: {trader.stderr.read().decode() if trader.stderr else ''}")
        time.sleep(0.05)


def _recovery_seconds(marks: Path, killed_ns: list[int]) -> list[float]:
    """Per kill: seconds until the restarted session had recovered its in-doubt orders, reconciled
    with the venue and written its START mark (it trades from there)."""
    starts = sorted(json.loads(line)["wall_ns"] for line in marks.read_text().splitlines()
                    if json.loads(line)["kind"] == "START")  # fmt: skip
    return [(next(s for s in starts if s > k) - k) / 1e9 for k in killed_ns if any(s > k for s in starts)]
