"""Every engine message to JetStream, without ever holding up the trading loop.

``publish`` (on the engine's thread) only encodes the message and queues it. A thread of the bus's own
runs an event loop that appends what is queued to the on-disk spool (fsync'd, one write per batch),
then sends it to JetStream pipelined (up to ``max_in_flight`` unacknowledged, each with its
``Nats-Msg-Id``), and moves the spool's cursor over what JetStream acknowledged. When NATS goes away
the spool keeps growing and the engine keeps trading; a new connection re-sends everything not yet
acknowledged, in order, with the same ids: what the dead server had stored comes back as duplicates
and is dropped by the stream, the rest is stored after it. A connection never reconnects by itself,
so nothing nats-py buffered for a dead server is sent behind what the spool re-sends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from thunes.adapters.bus.codec import Encoder, Envelope
from thunes.adapters.bus.link import BusConfig, BusError, connect, ensure_streams, wait_closed
from thunes.adapters.bus.spool import Position, Spool
from thunes.engine.bus import Bus, InMemoryBus

__all__ = ["BusStats", "JetStreamBus", "JetStreamPublisher"]

_log = structlog.get_logger(__name__)
_COMMIT_EVERY_S = 0.05  # the spool cursor is rewritten at most this often (a re-send is de-duplicated anyway)
_YIELD_EVERY = 512  # messages sent between two yields to the loop (acks are read meanwhile)
_MSG_ID = "Nats-Msg-Id"
# A producer publishing in a tight loop holds the interpreter lock; the bus's thread gives it up at every
# disk or socket call and waits a switch interval (5 ms) to get it back. Every this many messages the
# producer hands it over (a trading loop publishes a few per candle and never gets here).
_HAND_OVER_EVERY = 256


@dataclass(slots=True)
class BusStats:
    """Counters a caller may read at any time (plain ints, written by the bus's thread)."""

    published: int = 0  # messages handed to publish()
    spooled: int = 0  # on disk (this run's and a previous run's leftovers)
    stored: int = 0  # acknowledged by JetStream as new
    duplicates: int = 0  # acknowledged as already stored (a re-send)
    resent: int = 0  # sends of a message sent before (after an outage)
    outages: int = 0  # connections lost or refused after the first success
    failures: int = 0  # messages publish() could not encode (logged)
    connected: bool = False

    @property
    def acknowledged(self) -> int:
        return self.stored + self.duplicates


class _Entry(NamedTuple):
    number: int  # its place in the spool's order, this run (the acknowledgement's reply subject ends with it)
    envelope: Envelope
    end: Position


class JetStreamPublisher:
    """Ships every message it is handed to the JetStream stream, through the spool in ``spool_dir``.

    Use: ``start()``, ``attach(bus)`` (or ``publish`` directly), ``close(timeout_s)`` at the end, which
    sends what it can in that time and leaves the rest in the spool for the next start.
    """

    def __init__(self, config: BusConfig, spool_dir: Path, venue: str, *, run: str | None = None) -> None:
        self.config = config
        self.stats = BusStats()
        self._encoder = Encoder(venue, run, config.prefix)
        self._lock = threading.Lock()
        self._incoming: deque[Envelope] = deque()
        self._spool = Spool(spool_dir, config.segment_bytes)
        self._backlog: list[_Entry] = [_Entry(i, r.envelope, r.end) for i, r in enumerate(self._spool.pending())]
        self._head = 0  # backlog[_head] is the first entry not acknowledged
        self._next_index = len(self._backlog)
        self._send_at = 0  # the backlog position of the next entry to send on the current connection
        self._sent_before = 0  # entries [0, _sent_before) of the backlog were sent on an earlier connection
        self._acked: set[int] = set()
        self.stats.spooled = len(self._backlog)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="thunes-bus", daemon=True)
        self._wake = asyncio.Event()
        self._sleeping = False
        self._closing = False
        self._deadline = 0.0
        self._client: Client | None = None
        self._generation = 0
        self._last_progress = time.monotonic()
        self._pump: concurrent.futures.Future[None] | None = None
        self._inbox = ""
        self._closing_tasks: set[asyncio.Future[None]] = set()

    @property
    def run(self) -> str:
        """This publisher's run id, the prefix of its message ids."""
        return self._encoder.run

    def start(self) -> JetStreamPublisher:
        self._thread.start()
        self._pump = asyncio.run_coroutine_threadsafe(self._main(), self._loop)
        return self

    def attach(self, bus: Bus) -> None:
        """Receive everything ``bus`` delivers (a subscription to ``object``): attach before any other
        subscriber, so a message a subscriber publishes while handling one comes after it here too."""
        bus.subscribe(object, self.publish)

    def publish(self, message: object) -> None:
        """Queue ``message`` for JetStream; never blocks on I/O and never raises."""
        try:
            with self._lock:
                envelope = self._encoder.encode(message)
                self._incoming.append(envelope)
                self.stats.published += 1
        except Exception:
            self.stats.failures += 1
            _log.exception("bus_encode_failed", kind=type(message).__name__)
            return
        if self._sleeping:
            self._sleeping = False
            with contextlib.suppress(RuntimeError):  # the loop is closed: close() has returned
                self._loop.call_soon_threadsafe(self._wake.set)
        elif self.stats.published % _HAND_OVER_EVERY == 0:
            time.sleep(0)  # a burst: let the bus's thread, waiting for the interpreter after its I/O, take it

    def close(self, timeout_s: float = 10.0) -> bool:
        """Stop: send what is queued for at most ``timeout_s``; True when everything was acknowledged
        (otherwise the rest stays in the spool, sent first by the next publisher on this directory)."""
        if not self._thread.is_alive():
            self._spool.close()
            return self.pending == 0
        self._deadline = time.monotonic() + timeout_s
        self._closing = True
        self._loop.call_soon_threadsafe(self._wake.set)
        if self._pump is not None:
            with contextlib.suppress(Exception):
                self._pump.result(timeout_s + 5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s + 5.0)
        if not self._thread.is_alive():
            self._loop.close()
        self._spool.close()
        return self.pending == 0

    @property
    def pending(self) -> int:
        """Messages published or spooled and not yet acknowledged by JetStream."""
        return len(self._incoming) + len(self._backlog) - self._head

    # --- the bus's own thread ---

    async def _main(self) -> None:
        connector = asyncio.ensure_future(self._connector())
        try:
            await self._run()
        finally:
            connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connector
            self._commit(force=True)
            client, self._client = self._client, None
            self._generation += 1  # closing it is no outage
            self.stats.connected = False
            if client is not None:
                await wait_closed(client)
            await _cancel_the_rest()

    async def _run(self) -> None:
        last_commit = 0.0
        while True:
            self._take_incoming()
            if self._client is not None:
                await self._send()
                self._check_progress()
            now = time.monotonic()
            if now - last_commit >= _COMMIT_EVERY_S:
                self._commit()
                last_commit = now
            if self._closing and (self.pending == 0 or now >= self._deadline):
                return
            await self._sleep()

    async def _sleep(self) -> None:
        self._sleeping = True
        if self._incoming or (self._client is not None and self._send_at < len(self._backlog) and self._room()):
            self._sleeping = False
            await asyncio.sleep(0)
            return
        outstanding = self._head < len(self._backlog)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.1 if outstanding or self._closing else 1.0):
                await self._wake.wait()
        self._sleeping = False
        self._wake.clear()

    def _take_incoming(self) -> None:
        """Everything queued to the spool (one fsync) and the backlog, in publish order."""
        if not self._incoming:
            return
        with self._lock:
            batch, self._incoming = self._incoming, deque()
        first = self._next_index
        self._backlog.extend(map(_Entry, range(first, first + len(batch)), batch, self._spool.append(batch)))
        self._next_index += len(batch)
        self.stats.spooled += len(batch)

    def _room(self) -> bool:
        return self._send_at - self._head < self.config.max_in_flight

    async def _send(self) -> None:
        client, generation = self._client, self._generation
        if client is None:
            return
        inbox = self._inbox
        sent = 0
        while self._send_at < len(self._backlog) and self._room() and generation == self._generation:
            entry = self._backlog[self._send_at]
            if self._send_at == self._head:
                self._last_progress = time.monotonic()  # nothing was in flight: the wait starts now
            try:
                await client.publish(entry.envelope.subject, entry.envelope.payload, reply=f"{inbox}.{entry.number}",
                                     headers={_MSG_ID: entry.envelope.msg_id})  # fmt: skip
            except Exception as e:  # the connection is gone: the connector makes a new one
                self._lost(generation, e)
                return
            if self._send_at < self._sent_before:
                self.stats.resent += 1
            self._send_at += 1
            sent += 1
            if sent % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _check_progress(self) -> None:
        in_flight = self._send_at > self._head
        if in_flight and time.monotonic() - self._last_progress > self.config.ack_timeout_s:
            self._lost(self._generation, TimeoutError(f"no acknowledgement in {self.config.ack_timeout_s} s"))

    def _on_ack(self, generation: int) -> Any:
        async def handle(msg: Msg) -> None:
            data = msg.data
            if (msg.headers and msg.headers.get("Status") == "503") or b'"error"' in data:
                if generation == self._generation:
                    self._lost(generation, BusError(f"JetStream refused a message: {data[:200]!r}"))
                return
            index = int(msg.subject[msg.subject.rindex(".") + 1 :])
            head = self._head
            if head >= len(self._backlog) or index < self._backlog[head].number:
                return  # acknowledged already (a late answer from an earlier connection)
            if b'"duplicate"' in data:  # the server writes the key only when true
                self.stats.duplicates += 1
            else:
                self.stats.stored += 1
            if index == self._backlog[head].number and not self._acked:  # in order: the usual case
                self._head = head + 1
                self._last_progress = time.monotonic()
                self._wake.set()
                return
            self._acked.add(index)
            self._advance()

        return handle

    def _advance(self) -> None:
        backlog, acked = self._backlog, self._acked
        moved = False
        while self._head < len(backlog) and backlog[self._head].number in acked:
            acked.discard(backlog[self._head].number)
            self._head += 1
            moved = True
        if moved:
            self._last_progress = time.monotonic()
            self._wake.set()

    def _commit(self, *, force: bool = False) -> None:
        if self._head == 0:
            return
        self._spool.commit(self._backlog[self._head - 1].end)
        if force or self._head >= 4096:
            del self._backlog[: self._head]
            self._send_at -= self._head
            self._sent_before = max(0, self._sent_before - self._head)
            self._head = 0

    def _lost(self, generation: int, error: BaseException) -> None:
        """The connection of ``generation`` failed: re-send everything unacknowledged on the next one."""
        if generation != self._generation or self._client is None:
            return
        client, self._client = self._client, None
        self._generation += 1
        self._sent_before = max(self._sent_before, self._send_at)
        self._send_at = self._head
        self.stats.connected = False
        self.stats.outages += 1
        _log.warning("bus_connection_lost", url=self.config.url, error=str(error), unacknowledged=self.pending)
        closing = asyncio.ensure_future(wait_closed(client))
        self._closing_tasks.add(closing)
        closing.add_done_callback(self._closing_tasks.discard)
        self._wake.set()

    async def _connector(self) -> None:
        """Keep one connection up: connect, make sure the streams exist, listen for acknowledgements;
        after a failure, again with a doubling delay."""
        delay = self.config.retry_min_s
        reported = False
        while True:
            if self._client is not None:
                await self._wake_on_loss()
                continue
            try:
                await self._connect()
            except BusError as e:
                if not reported:
                    _log.warning("bus_unavailable", url=self.config.url, error=str(e), unacknowledged=self.pending)
                    reported = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.retry_max_s)
                continue
            delay, reported = self.config.retry_min_s, False

    async def _wake_on_loss(self) -> None:
        generation = self._generation
        while generation == self._generation and self._client is not None:
            await asyncio.sleep(0.05)

    async def _connect(self) -> None:
        generation = self._generation

        async def closed() -> None:
            self._lost(generation, BusError("connection closed"))

        client = await connect(self.config, on_closed=closed)
        try:
            await ensure_streams(client.jetstream(), self.config)
            inbox = client.new_inbox()
            await client.subscribe(f"{inbox}.*", cb=self._on_ack(generation), pending_msgs_limit=-1,
                                   pending_bytes_limit=-1)  # fmt: skip
        except BaseException:
            await wait_closed(client)
            raise
        if generation != self._generation:  # lost while setting up
            await wait_closed(client)
            return
        self._inbox = inbox
        self._client = client
        self._send_at = self._head
        self._last_progress = time.monotonic()
        self.stats.connected = True
        if self._sent_before or self._head < len(self._backlog):
            _log.info("bus_connected", url=self.config.url, unacknowledged=self.pending)
        self._wake.set()


async def _cancel_the_rest() -> None:
    """End what nats-py left running on the bus's loop (a dead connection's readers), before it closes."""
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


class JetStreamBus:
    """The engine's :class:`~thunes.engine.bus.Bus` with JetStream behind it: every message is delivered
    in-process (``local``) and shipped by ``publisher``; every type is wanted (it goes to the stream)."""

    def __init__(self, publisher: JetStreamPublisher, local: InMemoryBus | None = None) -> None:
        self.publisher = publisher
        self.local = local or InMemoryBus()

    def publish(self, message: object) -> None:
        self.publisher.publish(message)  # first: a message published by a local handler comes after it
        self.local.publish(message)

    def wants(self, message_type: type) -> bool:
        return True

    def subscribe(self, message_type: type[Any], handler: Any) -> None:
        self.local.subscribe(message_type, handler)
