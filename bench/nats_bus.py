"""Bus publish throughput to JetStream (issue 18 target: >= 50,000 events/s batched), beside raw nats-py
loops measured in the same run on the same server and the same payloads.

Rows: nats-py's own ``js.publish_async`` loop (every message acknowledged, the library's batched API);
a raw pipelined loop (core ``publish`` with a reply subject, one subscription counting the acks: the
floor of what the adapter does); and THUNES's ``JetStreamPublisher`` from ``publish()`` of engine
events (``OrderFilled``) to the last acknowledgement, the on-disk spool (fsync'd) included: once with
the producer publishing while the bus's thread ships (both share one interpreter lock: the producer's
encoding and the shipping take turns), once with the events queued first (the shipping alone). Each row
publishes to a fresh stream of its own on a nats-server started here (its own port and store, so other
users of a shared server neither slow it nor see it). Wall-clock rates on a loaded machine vary; the CPU
column is this process's CPU time (the server's is not counted). Run: ``python bench/nats_bus.py``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from thunes.adapters.bus import BusConfig, Encoder, Envelope, JetStreamPublisher
from thunes.domain.enums import Liquidity, Side
from thunes.domain.identifiers import ClientOrderId, Symbol, VenueId
from thunes.domain.messages import OrderFilled
from thunes.domain.orders import Fill

N_EVENTS = 50_000
REPEAT = 3
TARGET = 50_000


def _events(n: int) -> list[OrderFilled]:
    out = []
    for i in range(n):
        cid = ClientOrderId(f"bench-{i}")
        fill = Fill(cid, str(i), Symbol("BTCUSDT"), Side.BUY, Decimal("29000.01"), Decimal("0.00042"),
                    Decimal("0.00000042"), "BTC", Liquidity.TAKER, 1_700_000_000_000_000_000 + i)  # fmt: skip
        out.append(OrderFilled(fill.ts_ns, VenueId("sim"), cid, fill, True))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = _free_port()
    proc = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"nats://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nats-server did not start")


async def _fresh_stream(url: str, name: str, prefix: str) -> tuple[Client, JetStreamContext]:
    client = await nats.connect(url, pending_size=64 * 1024 * 1024)
    js = client.jetstream(publish_async_max_pending=20_000)
    await js.add_stream(name=name, subjects=[f"{prefix}.*.*.*"])
    return client, js


async def _publish_async(url: str, envelopes: list[Envelope], run: int) -> None:
    client, js = await _fresh_stream(url, f"RAWA{run}", f"rawa{run}")
    futures = []
    for e in envelopes:
        subject = e.subject.replace("thunes.", f"rawa{run}.", 1)
        futures.append(await js.publish_async(subject, e.payload, headers={"Nats-Msg-Id": e.msg_id}))
    await asyncio.gather(*futures)
    await client.close()


async def _pipelined(url: str, envelopes: list[Envelope], run: int) -> None:
    client, _ = await _fresh_stream(url, f"RAWP{run}", f"rawp{run}")
    done = asyncio.Event()
    acks = 0

    async def on_ack(_msg: object) -> None:
        nonlocal acks
        acks += 1
        if acks == len(envelopes):
            done.set()

    inbox = client.new_inbox()
    await client.subscribe(f"{inbox}.*", cb=on_ack, pending_msgs_limit=-1, pending_bytes_limit=-1)
    for i, e in enumerate(envelopes):
        subject = e.subject.replace("thunes.", f"rawp{run}.", 1)
        await client.publish(subject, e.payload, reply=f"{inbox}.{i}", headers={"Nats-Msg-Id": e.msg_id})
        if i % 512 == 511:
            await asyncio.sleep(0)
    await done.wait()
    await client.close()


def _adapter(url: str, events: list[OrderFilled], name: str, spool: Path, *, queued_first: bool) -> tuple[float, float]:
    """``publish()`` of every event to the last acknowledgement. ``queued_first``: the events are queued
    before the publisher's thread starts, so only the shipping is timed (spool, send, acks) without a
    producer thread competing for the interpreter."""
    config = BusConfig(url=url, prefix=name.lower(), stream=name, inbound_stream=f"{name}_IN")
    publisher = JetStreamPublisher(config, spool / name, "sim")
    deadline = time.monotonic() + 150
    if queued_first:
        for event in events:
            publisher.publish(event)
    publisher.start()
    while not publisher.stats.connected and time.monotonic() < deadline:  # the streams exist: time sending only
        time.sleep(0.001)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    if not queued_first:
        for event in events:
            publisher.publish(event)
    while publisher.stats.acknowledged < len(events) and time.monotonic() < deadline:
        time.sleep(0.001)
    timed = (time.perf_counter() - start_wall, time.process_time() - start_cpu)
    if not publisher.close(10):
        raise RuntimeError("the adapter did not get every event acknowledged")
    return timed


def _timed(work: Coroutine[Any, Any, None]) -> tuple[float, float]:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    asyncio.run(work)
    return time.perf_counter() - start_wall, time.process_time() - start_cpu


def main(n: int = N_EVENTS) -> None:
    if shutil.which("nats-server") is None and not Path("/usr/sbin/nats-server").exists():
        print("\nBus publish to JetStream: skipped (no nats-server; apt-get install nats-server)")
        return
    events = _events(n)
    encoder = Encoder("sim")
    envelopes = [encoder.encode(e) for e in events]
    with tempfile.TemporaryDirectory(prefix="thunes-bench-nats-") as tmp:
        proc, url = _start_server(Path(tmp) / "store")
        try:
            raw_async, raw_pipe = (
                "nats-py js.publish_async loop (reference)",
                "raw pipelined publish + acks (reference)",
            )
            live, shipped = (
                "THUNES publisher, producer publishing meanwhile",
                "THUNES publisher, shipping only (queued)",
            )
            rows: dict[str, list[tuple[float, float]]] = {raw_async: [], raw_pipe: [], live: [], shipped: []}
            for run in range(REPEAT):
                rows[raw_async].append(_timed(_publish_async(url, envelopes, run)))
                rows[raw_pipe].append(_timed(_pipelined(url, envelopes, run)))
                rows[live].append(_adapter(url, events, f"LIVE{run}", Path(tmp), queued_first=False))
                rows[shipped].append(_adapter(url, events, f"SHIP{run}", Path(tmp), queued_first=True))
        finally:
            proc.terminate()
            proc.wait(10)
    payload = sum(len(e.payload) for e in envelopes) / len(envelopes)
    print(
        f"\nBus publish to JetStream: {n:,} events ({payload:.0f}-byte JSON), best of {REPEAT}; target >= {TARGET:,}/s"
    )
    print(f"{'path':<50} {'events/s (wall)':>16} {'events/s (CPU)':>16}")
    for name, times in rows.items():
        wall = min(t[0] for t in times)
        cpu = min(t[1] for t in times)
        print(f"{name:<50} {n / wall:>16,.0f} {n / cpu:>16,.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N_EVENTS)
