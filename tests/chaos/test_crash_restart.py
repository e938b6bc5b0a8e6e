"""Crash test: the trader process is SIGKILLed at random points while it trades a portfolio of three
symbols (both strategies) on one account on the real venue server, and restarted each time.
Afterwards no client order id was placed twice, for every symbol the ledger's fills are the venue's
trades, and for every asset (each base asset and the quote) the ledger's position is the venue's
balance."""

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
from dataclasses import dataclass
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
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
PAIRS = "BTCUSDT:sma_cross,ETHUSDT:rsi_reversion,SOLUSDT:sma_cross"
BASES = {"BTCUSDT": "BTC", "ETHUSDT": "ETH", "SOLUSDT": "SOL"}
DEPOSIT = Decimal(1000)


def _env(shared_data: Path) -> dict[str, str]:
    """Parameters that trade every few replayed hours, so that kills land between orders of every symbol."""
    return {
        **os.environ,
        "THUNES_DATA__SHARED_DATA_DIR": str(shared_data),
        "THUNES_STRATEGY__SMA_FAST": "3",
        "THUNES_STRATEGY__SMA_SLOW": "8",
        "THUNES_STRATEGY__RSI_PERIOD": "6",
        "THUNES_STRATEGY__RSI_OVERSOLD": "40",
        "THUNES_STRATEGY__RSI_OVERBOUGHT": "55",
    }


@pytest.fixture
def venue(shared_data: Path, tmp_path: Path) -> Iterator[str]:
    """The three symbols replayed on one clock, journaled (it outlives every trader process); 60,000x
    (about 17 hours a second), so that the venue replays as many candles a second as it did for one
    symbol at 180,000x and still answers at once on a loaded machine."""
    args = ["--symbols", ",".join(SYMBOLS), "--speed", "60000", "--warmup", "60", "--deposit", f"USDT={DEPOSIT}",
            "--state-file", str(tmp_path / "venue.json")]  # fmt: skip
    with venue_process(args, _env(shared_data), tmp_path, timeout_s=30) as url:
        yield url


def _trader(url: str, tmp_path: Path, shared_data: Path, duration: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [THUNES, "trade", "--paper", "--venue-url", url, "--resume", "--duration", str(duration),
         "--pairs", PAIRS, "--data-dir", str(tmp_path / "paper")],
        env=_env(shared_data), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@dataclass(frozen=True)
class _Venue:
    """What the venue holds for the paper account: each symbol's orders (client id -> times placed)
    and trade ids, and every asset's balance (free + locked)."""

    orders: dict[str, Counter[str]]
    trades: dict[str, set[str]]
    balances: dict[str, Decimal]


async def _venue_view(url: str) -> _Venue:
    client = BinanceClient(BinanceConfig("paper", url, url.replace("http", "ws", 1)), PAPER_API_KEY, PAPER_API_SECRET)
    try:
        orders = {s: Counter(str(o.client_order_id) for o in await client.recent_orders(Symbol(s), 1000))
                  for s in SYMBOLS}  # fmt: skip
        trades = {s: {t.trade_id for t in await client.my_trades(Symbol(s), 0)} for s in SYMBOLS}
        balances = {asset: free + locked for asset, (free, locked) in (await client.balances()).items()}
    finally:
        await client.close()
    return _Venue(orders, trades, balances)


def _holdings(ledger: list[Fill]) -> dict[str, Decimal]:
    """Every asset the ledger's fills add up to from the deposit: each base asset bought less sold (a
    fee in base taken off), and the quote (the deposit, less what was paid, plus what was received,
    less fees in quote)."""
    held = {"USDT": DEPOSIT, **{base: Decimal(0) for base in BASES.values()}}
    for f in ledger:
        base, sign = BASES[str(f.symbol)], 1 if f.side.value == "BUY" else -1
        held[base] += sign * f.quantity
        held["USDT"] -= sign * f.notional
        held[f.commission_asset] -= f.commission
    return held


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
    final = _trader(venue, tmp_path, shared_data, duration=6)
    assert final.wait(timeout=60) == 0, final.stderr.read().decode() if final.stderr else ""

    seen = asyncio.run(_venue_view(venue))
    store = SqlStore(f"sqlite:///{tmp_path / 'paper' / 'ledger.db'}")
    try:
        ledger = {s: store.fills(s) for s in SYMBOLS}
        in_doubt = list(store.unresolved())
    finally:
        store.close()
    booked = {s: {f.trade_id for f in fills} for s, fills in ledger.items()}

    recovery_s = _recovery_seconds(tmp_path / "paper" / SESSION_MARKS_FILE, killed_ns)
    per_symbol = {s: (sum(seen.orders[s].values()), len(seen.trades[s]), len(ledger[s])) for s in SYMBOLS}
    print(f"crash-restart: kills={crashed} orders/venue trades/ledger fills={per_symbol} "
          f"duplicates={sum(n - 1 for orders in seen.orders.values() for n in orders.values())} "
          f"lost={sum(len(seen.trades[s] - booked[s]) for s in SYMBOLS)} in_doubt={len(in_doubt)} "
          f"recovery_p50={statistics.median(recovery_s):.2f}s recovery_max={max(recovery_s):.2f}s")  # fmt: skip
    assert len(recovery_s) == crashed  # every kill was followed by a session that reconciled and traded again
    assert crashed >= KILLS - 2  # nearly every run was killed mid-session
    placed = sum(seen.orders.values(), Counter[str]())  # every symbol's: an id is never reused across symbols
    assert placed.total() > 5  # it really traded
    assert [cid for cid, n in placed.items() if n > 1] == []  # no client order id placed twice
    for symbol in SYMBOLS:
        assert sum(seen.orders[symbol].values()) > 0, symbol  # every symbol really traded
        assert [cid for cid, n in seen.orders[symbol].items() if n > 1] == [], symbol  # no order placed twice
        assert booked[symbol] == seen.trades[symbol], symbol  # no venue fill lost, none booked twice or made up
        assert len(ledger[symbol]) == len(seen.trades[symbol]), symbol
    held = _holdings([f for fills in ledger.values() for f in fills])
    for asset, amount in held.items():  # every base asset and the quote: the ledger's position is the balance
        assert amount == seen.balances.get(asset, Decimal(0)), asset
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

    seen = asyncio.run(_venue_view(venue))
    store = SqlStore(f"sqlite:///{tmp_path / 'paper' / 'ledger.db'}")
    try:
        ledger, unbooked = store.fills(), store.unbooked()
    finally:
        store.close()
    assert {newest, before} <= {f.client_order_id for f in ledger}
    for symbol in SYMBOLS:
        assert {f.trade_id for f in ledger if f.symbol == symbol} == seen.trades[symbol], symbol
    for asset, amount in _holdings(ledger).items():
        assert amount == seen.balances.get(asset, Decimal(0)), asset
    assert unbooked == []


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
