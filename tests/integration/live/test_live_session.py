"""``thunes trade --live`` end to end against the real simulated venue on a socket: every safety
check, then a live session that trades (real-time clock, capped limits, the live data dir), resumes
its ledger on restart, stops on SIGTERM, and never shows its keys. The endpoints are overridden
through ``[live]`` settings (environment), exactly as an operator would; nothing is mocked."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.simserver.state import ApiKey
from thunes.app.cli.main import app
from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.orders import Fill

D = Decimal
T = TypeVar("T")
BTC = Symbol("BTCUSDT")
CAP = D(10)  # [live] max_capital's default: micro-live
_accounts = itertools.count(1)


@pytest.fixture(scope="module")
def venue() -> Iterator[LiveVenue]:
    live = LiveVenue()  # a 1m candle every 0.25 s
    yield live
    live.stop()


def on_server(venue: LiveVenue, fn: Callable[[], T]) -> T:
    async def call() -> T:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), venue.loop).result(TIMEOUT)


def account(venue: LiveVenue, *, can_withdraw: bool = False, usdt: str = "100") -> ApiKey:
    """A fresh account holding only ``usdt`` USDT, with a trade-only key (unless ``can_withdraw``)."""
    name = f"live-session-{next(_accounts)}"

    def make() -> ApiKey:
        venue.state.venue.deposit(name, "USDT", D(usdt))
        return venue.state.add_api_key(name, can_withdraw=can_withdraw)

    return on_server(venue, make)


def live_env(venue: LiveVenue, key: ApiKey) -> dict[str, str]:
    """The operator's environment: keys for the env: provider, endpoints aimed at the sim venue, and
    a fast strategy on the venue's 1m candles (no cool-down, so a few seconds see several trades)."""
    return {
        "THUNES_CONFIG": "",
        "THUNES_SECRETS": "env:",
        "THUNES_BINANCE_API_KEY": key.key,
        "THUNES_BINANCE_API_SECRET": key.secret,
        "THUNES_LIVE__REST_URL": venue.base_url,
        "THUNES_LIVE__WS_URL": venue.ws_url,
        "THUNES_BACKTEST__TIMEFRAME": "1m",
        "THUNES_STRATEGY__SMA_FAST": "2",
        "THUNES_STRATEGY__SMA_SLOW": "5",
        "THUNES_RISK__COOL_DOWN_MINUTES": "0",
        "THUNES_LOGGING__JSON": "true",
    }


def trade_live(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["trade", "--live", "--confirm-live", *args], env=env)


def venue_fills(venue: LiveVenue, key: ApiKey) -> list[Fill]:
    async def main() -> list[Fill]:
        async with BinanceClient(BinanceConfig("paper", venue.base_url, venue.ws_url), key.key, key.secret) as c:
            return await c.my_trades(BTC, 0)

    return asyncio.run(main())


def ledger_fills(data_dir: Path) -> list[Fill]:
    store = SqlStore(f"sqlite:///{data_dir / 'ledger.db'}")
    try:
        return store.fills(str(BTC))
    finally:
        store.close()


def buy_notionals(fills: list[Fill]) -> list[Decimal]:
    """Quote spent per BUY order, all its fills together."""
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for fill in fills:
        if fill.side is Side.BUY:
            spent[str(fill.client_order_id)] += fill.price * fill.quantity
    return list(spent.values())


def assert_no_secret(key: ApiKey, *texts: str) -> None:
    for text in texts:
        assert key.key not in text
        assert key.secret not in text


def data_dir_text(data_dir: Path) -> str:
    """Every file the session wrote (ledger and audit databases dumped row by row)."""
    parts = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if path.suffix == ".db":
            with sqlite3.connect(path) as db:
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                parts += [str(row) for t in tables for row in db.execute(f"SELECT * FROM {t}")]
        else:
            parts.append(path.read_bytes().decode(errors="replace"))
    return "\n".join(parts)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # data/live lands here; no stray ./thunes.toml
    return tmp_path


def test_live_when_checks_pass_then_trades_the_venue_within_the_cap_in_the_live_data_dir(
    venue: LiveVenue, workdir: Path
) -> None:
    key = account(venue)

    result = trade_live(live_env(venue, key), "--duration", "10")

    data_dir = workdir / "data" / "live"
    assert result.exit_code == 0, result.output
    assert "LIVE BTCUSDT on OVERRIDE" in result.output
    assert "(NOT Binance)" in result.output  # loopback is not Binance: shown, not hidden
    assert "ledger data/live/ledger.db new" in result.output
    assert "Summary" in result.output
    assert "venue trades / ledger fills" in result.output
    fills, ledger = venue_fills(venue, key), ledger_fills(data_dir)
    assert len(fills) >= 2  # orders reached the venue and filled
    assert sorted(f.trade_id for f in ledger) == sorted(f.trade_id for f in fills)  # each one in the ledger
    spent = buy_notionals(fills)
    assert spent
    assert max(spent) <= CAP * D("1.01")  # capped: 12 per trade without the cap (slippage aside)
    assert (data_dir / "risk.json").is_file()
    assert list((data_dir / "audit").glob("audit-*.jsonl"))
    assert not (workdir / "data" / "paper").exists()
    assert_no_secret(key, result.output, data_dir_text(data_dir))


def test_live_when_run_again_then_the_ledger_is_resumed_never_wiped(venue: LiveVenue, workdir: Path) -> None:
    key = account(venue)
    env = live_env(venue, key)
    data_dir = workdir / "live"

    first = trade_live(env, "--duration", "6", "--data-dir", str(data_dir))
    before = ledger_fills(data_dir)
    second = trade_live(env, "--duration", "6", "--data-dir", str(data_dir), "--no-resume")
    after = ledger_fills(data_dir)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert before
    assert "ledger.db new" in first.output
    assert "ledger.db resumed" in second.output
    assert {f.trade_id for f in before} <= {f.trade_id for f in after}  # nothing of the first run lost
    assert sorted(f.trade_id for f in after) == sorted(f.trade_id for f in venue_fills(venue, key))
    marks = [json.loads(line) for line in (data_dir / "session.jsonl").read_text().splitlines()]
    assert [m["kind"] for m in marks].count("START") == 2
    assert_no_secret(key, first.output, second.output, data_dir_text(data_dir))


def test_live_when_ledger_lost_after_a_session_then_refused_instead_of_starting_afresh(
    venue: LiveVenue, workdir: Path
) -> None:
    key = account(venue)
    env = live_env(venue, key)
    data_dir = workdir / "live"
    first = trade_live(env, "--duration", "4", "--data-dir", str(data_dir))
    (data_dir / "ledger.db").unlink()

    refused = trade_live(env, "--duration", "4", "--data-dir", str(data_dir))

    assert first.exit_code == 0, first.output
    assert refused.exit_code == 2
    assert "no ledger.db: restore the ledger" in refused.output
    assert not (data_dir / "ledger.db").exists()


def test_live_when_key_can_withdraw_then_refused_before_any_order(venue: LiveVenue, workdir: Path) -> None:
    key = account(venue, can_withdraw=True)

    result = trade_live(live_env(venue, key), "--duration", "4")

    assert result.exit_code == 2
    assert "can withdraw" in result.output
    assert venue_fills(venue, key) == []
    assert not (workdir / "data" / "live" / "ledger.db").exists()
    assert_no_secret(key, result.output)


def test_live_when_plain_http_endpoint_off_loopback_then_refused_at_load(venue: LiveVenue, workdir: Path) -> None:
    key = account(venue)
    env = {**live_env(venue, key), "THUNES_LIVE__REST_URL": "http://203.0.113.7:8765"}

    result = trade_live(env, "--duration", "4")

    assert result.exit_code == 2
    assert "live.rest_url: without TLS only a loopback host is allowed" in result.output
    assert "THUNES_LIVE__REST_URL" in result.output


def test_live_when_speed_given_then_refused_a_live_session_is_real_time(workdir: Path) -> None:
    result = CliRunner().invoke(app, ["trade", "--live", "--confirm-live", "--speed", "100"])

    assert result.exit_code == 2
    assert "--speed is for replays" in result.output


@pytest.mark.slow
def test_live_process_when_no_duration_then_trades_until_sigterm_and_stops_gracefully(
    venue: LiveVenue, workdir: Path
) -> None:
    key = account(venue)
    env = {**os.environ, **live_env(venue, key)}
    script = str(Path(sys.executable).with_name("thunes"))
    process = subprocess.Popen([script, "trade", "--live", "--confirm-live"], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    ledger = workdir / "data" / "live" / "ledger.db"
    deadline = time.monotonic() + 120  # a deadline for a loaded machine: it usually fills within seconds
    while time.monotonic() < deadline and (process.poll() is None) and not venue_fills(venue, key):
        time.sleep(0.5)  # trades until told to stop: no duration
    still_running = process.poll() is None
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)

    assert still_running, err.decode()
    assert process.returncode == 0, err.decode()
    assert "Summary" in out.decode()
    assert "LIVE" in out.decode()
    assert ledger.is_file()
    assert len(ledger_fills(workdir / "data" / "live")) == len(venue_fills(venue, key)) > 0
    assert_no_secret(key, out.decode(), err.decode(), data_dir_text(workdir / "data" / "live"))
