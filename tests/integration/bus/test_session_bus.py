"""A paper session with ``--bus``: every command and event it publishes reaches JetStream, a consumer
started afterwards replays them all in publish order, and killing nats-server (SIGKILL) mid-session and
starting it again loses none and duplicates none while the session keeps trading."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.integration.bus.conftest import NatsServer, own_names
from thunes.adapters.bus import BusConfig, StoredEvent, read_events
from thunes.app.config import Settings, load_settings
from thunes.session.paper import PaperConfig, PaperStatus, run_paper


def _settings(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, names: dict[str, str]) -> Settings:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_STRATEGY__SMA_FAST", "5")
    monkeypatch.setenv("THUNES_STRATEGY__SMA_SLOW", "20")
    for key, value in names.items():
        monkeypatch.setenv(f"THUNES_BUS__{key.upper()}", value)
    monkeypatch.setenv("THUNES_BUS__FLUSH_TIMEOUT_S", "60")
    return load_settings()


def _session(settings: Settings, config: PaperConfig, on_bar: Callable[[PaperStatus], None]) -> tuple[
        PaperStatus, list[MutableMapping[str, Any]]]:  # fmt: skip
    """Run the session; its status and its log lines (the bus's thread's too)."""
    with structlog.testing.capture_logs() as logs:
        status = asyncio.run(run_paper(settings, config, on_bar))
    return status, logs


def _log_lines(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [record for record in logs if record.get("event") == event]


def _stream(config: BusConfig) -> list[StoredEvent]:
    async def read() -> list[StoredEvent]:
        return [e async for e in read_events(config)]

    return asyncio.run(read())


def _counted(stored: list[StoredEvent], closed: MutableMapping[str, Any]) -> tuple[list[str], int, int]:
    """The ids the session published (run-1 ... run-N), how many of them the stream lacks, how many it
    holds twice or more."""
    published = [f"{closed['run']}-{n}" for n in range(1, closed["published"] + 1)]
    ids = [e.msg_id or "" for e in stored]
    lost = len(set(published) - set(ids))
    duplicated = len(ids) - len(set(ids))
    return published, lost, duplicated


def test_session_when_bus_given_then_a_later_consumer_replays_every_event_in_order(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nats_url: str, shared_names: dict[str, str]
) -> None:
    names = shared_names
    settings = _settings(shared_data, monkeypatch, tmp_path, names)
    data_dir = tmp_path / "paper"
    config = PaperConfig(duration_s=6.0, speed=72_000.0, data_dir=data_dir, bus_url=nats_url)

    status, logs = _session(settings, config, lambda s: None)
    stored = _stream(BusConfig(url=nats_url, **names))  # type: ignore[arg-type]

    closed = _log_lines(logs, "bus_closed")[-1]
    published, lost, duplicated = _counted(stored, closed)
    kinds = Counter(e.body()["kind"] for e in stored)
    assert closed["flushed"] is True and closed["left_in_spool"] == 0
    assert status.filled > 4
    assert [e.msg_id for e in stored] == published  # all of them, in publish order
    assert (lost, duplicated) == (0, 0)
    assert [e.seq for e in stored] == sorted(e.seq for e in stored)
    assert kinds["OrderFilled"] == status.filled == status.ledger_fills
    assert kinds["OrderSubmitted"] == status.submitted
    assert kinds["DailySummary"] == status.daily_summaries
    assert all(e.subject == f"{names['prefix']}.sim.BTCUSDT.OrderFilled" for e in stored
               if e.body()["kind"] == "OrderFilled")  # fmt: skip


def test_session_when_nats_killed_and_restarted_mid_session_then_nothing_lost_nor_duplicated(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nats_server: NatsServer
) -> None:
    names = own_names()
    settings = _settings(shared_data, monkeypatch, tmp_path, names)
    data_dir = tmp_path / "paper"
    config = PaperConfig(duration_s=10.0, speed=72_000.0, data_dir=data_dir, bus_url=nats_server.url)
    seen = {"killed_at": 0, "restarted_at": 0, "last": 0}
    restarting: list[threading.Thread] = []

    def on_bar(status: PaperStatus) -> None:  # the session's own progress decides when, never a sleep
        seen["last"] = status.bars
        if not seen["killed_at"] and status.bars >= 40 and status.filled >= 1:
            nats_server.kill()
            seen["killed_at"] = status.bars
        elif seen["killed_at"] and not restarting and status.bars >= seen["killed_at"] + 40:
            seen["restarted_at"] = status.bars  # started off the trading loop: the session never waits for it
            restarting.append(threading.Thread(target=nats_server.start))
            restarting[0].start()

    status, logs = _session(settings, config, on_bar)
    for thread in restarting:
        thread.join(60)

    stored = _stream(BusConfig(url=nats_server.url, **names))  # type: ignore[arg-type]
    closed = _log_lines(logs, "bus_closed")[-1]
    published, lost, duplicated = _counted(stored, closed)
    lost_connection = _log_lines(logs, "bus_connection_lost")
    reconnected = [r for r in _log_lines(logs, "bus_connected") if r["unacknowledged"] > 0]
    print(f"\nNATS outage: killed at bar {seen['killed_at']}, restarted at bar {seen['restarted_at']}, session "
          f"ended at bar {seen['last']}; published {closed['published']}, stored {len(stored)}, lost {lost}, "
          f"duplicated {duplicated}; re-sent {closed['resent']}, dropped by JetStream as duplicates "
          f"{closed['duplicates']}, waiting at reconnect {reconnected[0]['unacknowledged'] if reconnected else 0}")  # fmt: skip
    assert seen["killed_at"] and seen["restarted_at"]
    assert seen["last"] > seen["restarted_at"]  # trading went on through the outage and after it
    assert status.filled > 4 and status.venue_trades == status.ledger_fills == status.filled
    assert lost_connection and closed["outages"] >= 1
    assert reconnected  # events published while NATS was down waited in the spool, then went
    assert closed["flushed"] is True and closed["left_in_spool"] == 0
    assert (lost, duplicated) == (0, 0)
    assert [e.msg_id for e in stored] == published  # in publish order across the outage
