"""The publisher under load through a NATS outage: SIGKILL of nats-server while thousands of events are
in flight, then a restart on the same store; every event ends up in the stream once, in publish order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from tests.integration.bus.conftest import NatsServer, own_names
from tests.waiting import until
from thunes.adapters.bus import BusConfig, JetStreamPublisher, StoredEvent, read_events

N_EVENTS = 20_000


@dataclass(frozen=True, slots=True)
class Tick:
    ts_ns: int
    symbol: str


def test_publisher_when_server_killed_with_events_in_flight_then_none_lost_none_duplicated(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    config = BusConfig(url=nats_server.url, ack_timeout_s=2.0, **own_names())  # type: ignore[arg-type]
    publisher = JetStreamPublisher(config, tmp_path / "spool", "sim", run="load").start()
    until(lambda: publisher.stats.connected, "the publisher connected")
    for i in range(N_EVENTS // 2):
        publisher.publish(Tick(i, "BTCUSDT"))
    until(lambda: publisher.stats.stored >= 2_000, "some events stored")
    nats_server.kill()  # SIGKILL: whatever was in flight gets no acknowledgement
    acknowledged_at_kill = publisher.stats.acknowledged
    for i in range(N_EVENTS // 2, N_EVENTS):  # publishing goes on while NATS is down: nothing blocks, nothing raises
        publisher.publish(Tick(i, "BTCUSDT"))
    until(lambda: publisher.stats.spooled == N_EVENTS, "every event spooled while NATS is down")
    nats_server.start()

    flushed = publisher.close(120)

    async def read() -> list[StoredEvent]:
        return [e async for e in read_events(config)]

    stored = asyncio.run(read())
    ids = [e.msg_id for e in stored]
    expected = [f"load-{n}" for n in range(1, N_EVENTS + 1)]
    lost, duplicated = len(set(expected) - set(ids)), len(ids) - len(set(ids))
    print(f"\nNATS outage under load: {N_EVENTS} published, {acknowledged_at_kill} acknowledged at the kill, "
          f"{len(stored)} stored, lost {lost}, duplicated {duplicated}; re-sent {publisher.stats.resent}, "
          f"dropped by JetStream as duplicates {publisher.stats.duplicates}")  # fmt: skip
    assert flushed and publisher.pending == 0
    assert acknowledged_at_kill < N_EVENTS // 2  # the kill came while events were still going out
    assert publisher.stats.outages >= 1
    assert (lost, duplicated) == (0, 0)
    assert ids == expected  # in publish order across the outage
    assert [e.body()["message"]["ts_ns"] for e in stored] == list(range(N_EVENTS))
