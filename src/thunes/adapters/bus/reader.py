"""Reading the streams back: replay the engine's events from a sequence or a time (once, or following
new ones), durable consumers that resume where they acknowledged, and the inbound subject on which
other processes send the engine actions (``thunes.in.<venue>.<symbol>.<kind>``: RL actions).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from thunes.adapters.bus.codec import subject_token
from thunes.adapters.bus.link import BusConfig, BusError, connect, ensure_streams, mapped, wait_closed

__all__ = [
    "InboundMessage",
    "Inbox",
    "StoredEvent",
    "inbound_subject",
    "last_sequence",
    "publish_inbound",
    "read_events",
]

_BATCH = 256


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One message as the stream holds it."""

    seq: int
    time: datetime  # when the stream stored it
    subject: str
    msg_id: str | None
    data: bytes

    def body(self) -> Any:
        """The payload as JSON (the publisher's envelope: id, kind, venue, symbol, message)."""
        return json.loads(self.data)


def _stored(msg: Msg) -> StoredEvent:
    meta = msg.metadata
    stamp = meta.timestamp if meta.timestamp is not None else datetime.fromtimestamp(0, UTC)
    msg_id = (msg.headers or {}).get("Nats-Msg-Id")
    return StoredEvent(meta.sequence.stream, stamp, msg.subject, msg_id, msg.data)


def _start(from_seq: int | None, from_time: datetime | None) -> ConsumerConfig:
    if from_seq is not None and from_time is not None:
        raise ValueError("replay from a sequence or from a time, not both")
    if from_seq is not None:
        if from_seq < 1:
            raise ValueError(f"stream sequences start at 1, got {from_seq}")
        return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=from_seq)
    if from_time is not None:
        moment = from_time if from_time.tzinfo is not None else from_time.replace(tzinfo=UTC)
        return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=moment.astimezone(UTC))
    return ConsumerConfig(deliver_policy=DeliverPolicy.ALL)


async def _client(config: BusConfig) -> tuple[Client, JetStreamContext]:
    client = await connect(config)
    js = client.jetstream()
    try:
        await ensure_streams(js, config)
    except BaseException:
        await wait_closed(client)
        raise
    return client, js


async def read_events(
    config: BusConfig,
    *,
    from_seq: int | None = None,
    from_time: datetime | None = None,
    subject: str | None = None,
    follow: bool = False,
    durable: str | None = None,
    stream: str | None = None,
) -> AsyncIterator[StoredEvent]:
    """The stream's messages on ``subject`` (default: all the engine's) in stream order, from ``from_seq``
    or ``from_time`` (default: the first); ends when caught up unless ``follow``. ``durable``: a named
    consumer that remembers what was read (each message is acknowledged once yielded) and resumes there
    the next time; its start applies when it is created."""
    consumer = _start(from_seq, from_time)
    consumer.ack_policy = AckPolicy.EXPLICIT if durable else AckPolicy.NONE
    name = stream or config.stream
    client, js = await _client(config)
    try:
        if durable is None:
            consumer.inactive_threshold = 30.0
        wanted = subject or config.events_subjects
        # A durable consumer is handed one message at a time: one fetched ahead and never read (the reader
        # stopped) would wait out its ack_wait before coming again, and the next reader would start after it.
        batch = 1 if durable is not None else _BATCH
        sub = await mapped(config.url, lambda: js.pull_subscribe(wanted, durable=durable, stream=name,
                                                                 config=consumer))  # fmt: skip
        if not follow and (await mapped(config.url, lambda: js.stream_info(name))).state.messages == 0:
            return
        while True:
            try:
                msgs = await sub.fetch(batch, timeout=1.0)
            except TimeoutError:
                if follow:
                    continue
                return
            for msg in msgs:
                if durable is not None:
                    await msg.ack()
                yield _stored(msg)
            if not follow and msgs and msgs[-1].metadata.num_pending == 0:
                return
    finally:
        await wait_closed(client)


async def last_sequence(config: BusConfig, stream: str | None = None) -> int:
    """The stream's last sequence (0 when empty)."""
    client, js = await _client(config)
    try:
        info = await mapped(config.url, lambda: js.stream_info(stream or config.stream))
        return int(info.state.last_seq or 0)
    finally:
        await wait_closed(client)


def inbound_subject(config: BusConfig, venue: str, symbol: str, kind: str = "RLAction") -> str:
    """Where actions for ``venue``'s ``symbol`` are published."""
    return f"{config.inbound_prefix}.{subject_token(venue)}.{subject_token(symbol)}.{subject_token(kind)}"


async def publish_inbound(config: BusConfig, subject: str, payload: bytes, msg_id: str) -> tuple[int, bool]:
    """Publish one action (a policy's side; ``msg_id`` de-duplicates a re-send): its stream sequence, and
    whether it was a duplicate."""
    if not subject.startswith(config.inbound_prefix + "."):
        raise ValueError(f"an inbound subject starts with {config.inbound_prefix}., got {subject!r}")
    client, js = await _client(config)
    try:
        ack = await mapped(config.url, lambda: js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id}))
        return ack.seq, bool(ack.duplicate)
    finally:
        await wait_closed(client)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """An action read from the inbound stream; ``ack`` once handled, or it comes again."""

    event: StoredEvent
    _msg: Msg

    async def ack(self) -> None:
        await self._msg.ack()


class Inbox:
    """A durable pull consumer of the inbound stream for one venue (every symbol): what was pulled and
    not acknowledged is delivered again (after ``ack_wait_s``), to this or the next process on ``durable``.

    ``async with Inbox(config, "sim", "shadow") as inbox: for m in await inbox.pull(): ...; await m.ack()``
    """

    def __init__(self, config: BusConfig, venue: str, durable: str, *, ack_wait_s: float = 30.0) -> None:
        self.config = config
        self.subject = f"{config.inbound_prefix}.{subject_token(venue)}.*.*"
        self.durable = durable
        self.ack_wait_s = ack_wait_s
        self._client: Client | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def __aenter__(self) -> Inbox:
        client, js = await _client(self.config)
        consumer = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
                                  ack_wait=self.ack_wait_s)  # fmt: skip
        try:
            self._sub = await mapped(self.config.url, lambda: js.pull_subscribe(
                self.subject, durable=self.durable, stream=self.config.inbound_stream, config=consumer))  # fmt: skip
        except BaseException:
            await wait_closed(client)
            raise
        self._client = client
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._client is not None:
            await wait_closed(self._client)
        self._client = self._sub = None

    async def pull(self, batch: int = 64, timeout_s: float = 1.0) -> list[InboundMessage]:
        """Up to ``batch`` actions in stream order; none after ``timeout_s`` with nothing new."""
        if self._sub is None:
            raise BusError("the inbox is not open (use it in `async with`)")
        sub = self._sub
        try:
            msgs = await sub.fetch(batch, timeout=timeout_s)
        except TimeoutError:
            return []
        return [InboundMessage(_stored(m), m) for m in msgs]
