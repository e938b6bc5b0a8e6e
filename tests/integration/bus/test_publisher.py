"""The JetStream publisher and readers against a real NATS server: de-duplication by message id, a
spool left by an unreachable NATS sent first by the next publisher, durable consumers, the inbound stream."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import until
from thunes.adapters.bus import (
    BusConfig,
    Inbox,
    JetStreamBus,
    JetStreamPublisher,
    StoredEvent,
    inbound_subject,
    publish_inbound,
    read_events,
)


@dataclass(frozen=True, slots=True)
class Tick:
    ts_ns: int
    symbol: str


async def _all(config: BusConfig, **kwargs: object) -> list[StoredEvent]:
    return [e async for e in read_events(config, **kwargs)]  # type: ignore[arg-type]


def _publish(config: BusConfig, spool: Path, n: int, run: str | None = None) -> JetStreamPublisher:
    publisher = JetStreamPublisher(config, spool, "sim", run=run).start()
    for i in range(n):
        publisher.publish(Tick(i, "BTCUSDT"))
    return publisher


def test_second_publisher_when_same_message_ids_then_stream_keeps_one_of_each(bus_config: BusConfig,
                                                                              tmp_path: Path) -> None:  # fmt: skip
    first = _publish(bus_config, tmp_path / "a", 200, run="same-run")
    assert first.close(30)
    second = _publish(bus_config, tmp_path / "b", 200, run="same-run")  # another process, the same ids
    assert second.close(30)

    stored = asyncio.run(_all(bus_config))

    assert first.stats.stored == 200
    assert second.stats.duplicates == 200 and second.stats.stored == 0
    assert [e.msg_id for e in stored] == [f"same-run-{i}" for i in range(1, 201)]
    assert [e.body()["message"]["ts_ns"] for e in stored] == list(range(200))


def test_next_publisher_when_spool_left_by_unreachable_nats_then_sends_it_first_in_order(
    bus_config: BusConfig, tmp_path: Path
) -> None:
    down = BusConfig(url="nats://127.0.0.1:9", prefix=bus_config.prefix, stream=bus_config.stream,
                     inbound_stream=bus_config.inbound_stream, connect_timeout_s=0.2)  # fmt: skip
    stranded = _publish(down, tmp_path / "spool", 30, run="before")
    until(lambda: stranded.stats.spooled == 30, "the events on disk")
    assert not stranded.close(0.2)  # NATS never answered: they stay in the spool
    assert stranded.pending == 30

    after = _publish(bus_config, tmp_path / "spool", 5, run="after")
    assert after.close(30)

    ids = [e.msg_id for e in asyncio.run(_all(bus_config))]
    assert ids == [f"before-{i}" for i in range(1, 31)] + [f"after-{i}" for i in range(1, 6)]
    assert after.stats.stored == 35


def test_replay_when_from_a_sequence_or_durable_then_starts_there(bus_config: BusConfig, tmp_path: Path) -> None:
    assert _publish(bus_config, tmp_path / "s", 50, run="r").close(30)

    tail = asyncio.run(_all(bus_config, from_seq=41))
    first_part: list[StoredEvent] = []

    async def read_some() -> None:
        async for event in read_events(bus_config, durable="reader"):
            first_part.append(event)
            if len(first_part) == 20:
                break

    asyncio.run(read_some())
    rest = asyncio.run(_all(bus_config, durable="reader"))  # the same consumer, later: where it left off

    assert [e.seq for e in tail] == list(range(41, 51))
    assert [e.seq for e in first_part] == list(range(1, 21))
    assert [e.seq for e in rest] == list(range(21, 51))


def test_inbox_when_action_published_twice_with_one_id_then_pulled_once_and_acked(bus_config: BusConfig) -> None:
    subject = inbound_subject(bus_config, "sim", "BTCUSDT")

    async def scenario() -> tuple[list[tuple[int, bool]], list[bytes], list[bytes]]:
        sent = [await publish_inbound(bus_config, subject, b'{"side":"BUY"}', "action-1") for _ in range(2)]
        async with Inbox(bus_config, "sim", "shadow") as inbox:
            pulled = await inbox.pull(10, timeout_s=2.0)
            for message in pulled:
                await message.ack()
        async with Inbox(bus_config, "sim", "shadow") as inbox:  # the next process on the same consumer
            again = await inbox.pull(10, timeout_s=0.5)
        return sent, [m.event.data for m in pulled], [m.event.data for m in again]

    sent, pulled, again = asyncio.run(scenario())

    assert sent[0][1] is False and sent[1][1] is True  # the re-send was a duplicate
    assert sent[0][0] == sent[1][0]
    assert pulled == [b'{"side":"BUY"}']
    assert again == []


def test_jetstream_bus_when_published_then_delivered_in_process_and_stored(bus_config: BusConfig,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    publisher = JetStreamPublisher(bus_config, tmp_path / "spool", "sim", run="jsb").start()
    bus = JetStreamBus(publisher)
    seen: list[Tick] = []
    bus.subscribe(Tick, seen.append)

    for i in range(3):
        bus.publish(Tick(i, "SOLUSDT"))
    assert publisher.close(30)

    stored = asyncio.run(_all(bus_config))
    assert bus.wants(Tick) and bus.wants(int)  # everything goes to the stream
    assert [t.ts_ns for t in seen] == [0, 1, 2]
    assert [e.subject for e in stored] == [f"{bus_config.prefix}.sim.SOLUSDT.Tick"] * 3
