"""Venue crash test: the venue process is SIGKILLed 10 times while a paper trader trades it, and
restarted each time from its journal. After every restart the venue shows what its clients were told
(orders, trades, balances, ids); at the end the trader's position equals the venue balance and no order
was refused -2010 (an id the trader knew naming another order, or funds the venue forgot)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.ports import spare_port
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.domain import Symbol

KILLS = 10
THUNES = str(Path(sys.executable).with_name("thunes"))
SYMBOL = Symbol("BTCUSDT")


def _env(shared_data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "THUNES_DATA__SHARED_DATA_DIR": str(shared_data),
        "THUNES_STRATEGY__SMA_FAST": "3",  # crosses often: an order every few bars
        "THUNES_STRATEGY__SMA_SLOW": "8",
    }


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass(frozen=True)
class View:
    """An account as the venue answers it: orders by id, trades by id, BTC and USDT totals."""

    orders: dict[str, tuple[str, str, Decimal]]  # id -> (client id, status, executed)
    trades: dict[str, tuple[str, Decimal, Decimal]]  # trade id -> (client order id, price, quantity)
    balances: tuple[Decimal, Decimal]


async def _fetch(url: str) -> View:
    client = BinanceClient(BinanceConfig("paper", url, url.replace("http", "ws", 1)), PAPER_API_KEY, PAPER_API_SECRET)
    try:
        orders = await client.recent_orders(SYMBOL, 1000)
        trades = await client.my_trades(SYMBOL, 0)
        balances = await client.balances()
    finally:
        await client.close()
    btc, usdt = (sum(balances.get(a, (Decimal(0), Decimal(0))), Decimal(0)) for a in ("BTC", "USDT"))
    return View(
        {str(o.venue_order_id): (str(o.client_order_id), o.status.value, o.filled_quantity) for o in orders},
        {str(t.trade_id): (str(t.client_order_id), t.price, t.quantity) for t in trades},
        (btc, usdt),
    )


class Venue:
    """``thunes venue serve`` on a fixed port, journaling to one state file, killed and restarted at will."""

    def __init__(self, tmp_path: Path, shared_data: Path) -> None:
        self.port, self.tmp_path, self.shared_data = spare_port(), tmp_path, shared_data
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        log = (self.tmp_path / f"venue-{self.starts}.err").open("wb")
        process = subprocess.Popen(
            [THUNES, "venue", "serve", "--port", str(self.port), "--speed", "180000", "--warmup", "60",
             "--deposit", "USDT=1000", "--state-file", str(self.tmp_path / "venue.db")],
            env=_env(self.shared_data), cwd=self.tmp_path, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()

        def up() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the venue exited: {(self.tmp_path / f'venue-{self.starts}.err').read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/api/v3/ping", timeout=1).close()
            except OSError:
                return False
            return True

        _until(up, "the venue to answer")
        return process

    def view(self) -> View:
        return asyncio.run(_fetch(self.url))

    def kill_and_restart(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = self._start()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture
def venue(tmp_path: Path, shared_data: Path) -> Iterator[Venue]:
    running = Venue(tmp_path, shared_data)
    yield running
    running.stop()


class Trader:
    """``thunes trade --paper --resume`` against the venue, started again whenever it ends."""

    def __init__(self, venue: Venue, tmp_path: Path, shared_data: Path) -> None:
        self.venue, self.tmp_path, self.shared_data = venue, tmp_path, shared_data
        self.runs: list[Path] = []
        self.process = self._start(600)

    def _start(self, duration: float) -> subprocess.Popen[bytes]:
        self.runs.append(self.tmp_path / f"trader-{len(self.runs) + 1}.err")
        with self.runs[-1].open("wb") as log:
            return subprocess.Popen(
                [THUNES, "trade", "--paper", "--venue-url", self.venue.url, "--resume", "--duration", str(duration),
                 "--data-dir", str(self.tmp_path / "paper")],
                env=_env(self.shared_data), cwd=self.tmp_path, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    def keep_running(self) -> None:
        if self.process.poll() is not None:  # it gave up on a venue gone too long: resume
            self.process = self._start(600)

    def finish(self) -> int:
        """Stop (SIGTERM: a clean stop), then one short session that reconciles; its exit code."""
        self.process.terminate()
        self.process.wait(timeout=60)
        self.process = self._start(4)
        return self.process.wait(timeout=120)

    def stderr(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.runs)


# orders (venue id -> client id), fills (trade id -> client id, price, quantity), journal rows, BTC held
Ledger = tuple[dict[str, str], dict[str, tuple[str, Decimal, Decimal]], int, Decimal]


def _ledger(tmp_path: Path) -> Ledger:
    """What the trader was told and booked: venue order id -> client id, its fills by trade id (client
    order id, price, quantity), its journal's order count, and the BTC its fills add up to."""
    path = tmp_path / "paper" / "ledger.db"
    if not path.exists():
        return {}, {}, 0, Decimal(0)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"orders", "fills", "order_journal"} <= tables:
            return {}, {}, 0, Decimal(0)
        orders = {str(v): str(c) for v, c in conn.execute("SELECT venue_order_id, client_order_id FROM orders")}
        rows = conn.execute("SELECT trade_id, client_order_id, side, price, quantity, commission, commission_asset"
                            " FROM fills WHERE symbol = 'BTCUSDT'").fetchall()  # fmt: skip
        journal = conn.execute("SELECT count(*) FROM order_journal").fetchone()[0]
    fills = {str(t): (str(c), Decimal(p), Decimal(q)) for t, c, _, p, q, _, _ in rows}
    held = sum(
        ((Decimal(q) - (Decimal(fee) if asset == "BTC" else 0)) * (1 if side == "BUY" else -1)
         for _, _, side, _, q, fee, asset in rows),
        Decimal(0),
    )  # fmt: skip
    return orders, fills, journal, held


def _view_after_ledger(venue: Venue, tmp_path: Path) -> tuple[View, Ledger]:
    """The trader's ledger, then the venue's view: the trader keeps trading, so a ledger read after
    the view could hold an order placed (and booked) after the view was taken; read first, everything
    in it was told before the view, so the venue must show it."""
    told = _ledger(tmp_path)
    return venue.view(), told


def _assert_told(recovered: View, before: View | None, told: Ledger) -> None:
    """The restarted venue shows what clients were told: the probe's last view and the trader's ledger
    (read before ``recovered``)."""
    if before is not None:
        for order_id, (client_id, status, executed) in before.orders.items():
            assert recovered.orders[order_id][0] == client_id  # the same id names the same order
            if status in {"FILLED", "CANCELED", "EXPIRED", "REJECTED"}:
                assert recovered.orders[order_id] == (client_id, status, executed)
        assert before.trades.items() <= recovered.trades.items()
        if recovered.orders.keys() == before.orders.keys() and recovered.trades == before.trades:
            assert recovered.balances == before.balances  # nothing happened since: balances exactly as told
    orders, fills, _, _ = told
    shown = {venue_id: client_id for venue_id, (client_id, _, _) in recovered.orders.items()}
    assert {v: c for v, c in orders.items() if shown.get(v) != c} == {}  # every order booked, under its id
    assert fills.items() <= recovered.trades.items()  # every fill the trader booked, as it was told
    client_ids = [c for c, _, _ in recovered.orders.values()]
    assert len(set(client_ids)) == len(client_ids)  # no order twice


@pytest.mark.slow
def test_venue_when_killed_ten_times_during_a_paper_session_then_it_recovers_what_clients_were_told(
    venue: Venue, tmp_path: Path, shared_data: Path
) -> None:
    rng = random.Random(20261207)
    trader = Trader(venue, tmp_path, shared_data)
    in_flight = 0
    try:
        _until(lambda: _ledger(tmp_path)[2] > 0, "the trader's first order", timeout=90)
        for kill in range(KILLS):
            trader.keep_running()
            if kill % 2 == 0:  # the moment the trader sends an order: in flight
                placed = _ledger(tmp_path)[2]
                _until(lambda: _ledger(tmp_path)[2] > placed, "the trader's next order", timeout=60)  # noqa: B023
                before = None
                in_flight += 1
            else:  # any moment, right after a client saw the account
                time.sleep(rng.uniform(0.0, 0.5))
                before = venue.view()
            venue.kill_and_restart()
            recovered, told = _view_after_ledger(venue, tmp_path)
            _assert_told(recovered, before, told)
            if before is not None:  # ids never repeat: what comes after the restart is numbered above
                newest = max(map(int, before.orders), default=0)
                assert all(int(i) > newest for i in recovered.orders.keys() - before.orders.keys())
        code = trader.finish()
    finally:
        if trader.process.poll() is None:
            trader.process.kill()

    final, told = _view_after_ledger(venue, tmp_path)
    _assert_told(final, None, told)
    _, fills, _, held = _ledger(tmp_path)
    print(f"venue-crash: kills={KILLS} in_flight={in_flight} orders={len(final.orders)} fills={len(final.trades)}"
          f" ledger={len(fills)} trader_runs={len(trader.runs)}")  # fmt: skip
    assert code == 0, trader.stderr()[-2000:]
    assert len(final.orders) > in_flight  # it really traded across the kills (each in-flight kill waited for an order)
    assert final.trades.keys() == fills.keys()  # every venue fill booked, and nothing else
    assert held == final.balances[0]  # position equals the venue balance
    assert "-2010" not in trader.stderr()
    # Every resumed session, the final one too, found its safety state whole: the trader's clock runs
    # behind the restarted venue's replay, and risk.json is judged by the fills it booked, not by clocks.
    assert "safety_state_reducing" not in trader.stderr()
    with closing(sqlite3.connect(tmp_path / "paper" / "ledger.db")) as conn:
        assert conn.execute("SELECT count(*) FROM order_journal WHERE detail LIKE '%-2010%'").fetchone() == (0,)
