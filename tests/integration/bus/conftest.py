"""A real NATS with JetStream for the bus tests: the one on 127.0.0.1:4222 (``.ci/run`` starts it), each
test on streams and subjects of its own (deleted after); or a server of the test's own (its own port
and store) for a test that kills it. Locally they skip when there is no server; in CI they fail."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.waiting import until
from thunes.adapters.bus import BusConfig

NATS_HOST, NATS_PORT = "127.0.0.1", int(os.environ.get("THUNES_TEST_NATS_PORT", "4222"))


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((NATS_HOST, port)) == 0


def _absent(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must have it: .ci/run starts nats-server)")
    pytest.skip(what)


@pytest.fixture
def nats_url() -> str:
    if not _listening(NATS_PORT):
        _absent(f"no NATS server on {NATS_HOST}:{NATS_PORT}")
    return f"nats://{NATS_HOST}:{NATS_PORT}"


async def _delete_streams(url: str, names: list[str]) -> None:
    client = await nats.connect(url)
    js = client.jetstream()
    for name in names:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)
    await client.close()


def own_names() -> dict[str, str]:
    """A prefix and stream names no other test uses."""
    tag = uuid.uuid4().hex[:10]
    return {"prefix": f"t{tag}", "stream": f"T{tag}", "inbound_stream": f"TIN{tag}"}


@pytest.fixture
def shared_names(nats_url: str) -> Iterator[dict[str, str]]:
    """Own prefix and stream names on the shared server, the streams deleted after the test."""
    names = own_names()
    yield names
    asyncio.run(_delete_streams(nats_url, [names["stream"], names["inbound_stream"]]))


@pytest.fixture
def bus_config(nats_url: str) -> Iterator[BusConfig]:
    config = BusConfig(url=nats_url, **own_names())  # type: ignore[arg-type]
    yield config
    asyncio.run(_delete_streams(nats_url, [config.stream, config.inbound_stream]))


class NatsServer:
    """A nats-server process with JetStream on a free port and a store in ``directory``: ``kill`` is
    SIGKILL (no goodbye to clients, nothing flushed), ``start`` brings it back on the same port and store."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary, self.directory = binary, directory
        with socket.socket() as s:
            s.bind((NATS_HOST, 0))
            self.port = int(s.getsockname()[1])
        self.url = f"nats://{NATS_HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.directory / "nats.log", "ab")  # noqa: SIM115 - the process holds it
        self.process = subprocess.Popen([self.binary, "-js", "-a", NATS_HOST, "-p", str(self.port),
                                         "-sd", str(self.directory / "store")], stdout=log, stderr=log)  # fmt: skip
        until(lambda: _listening(self.port), f"nats-server listening on {self.port}", process=self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    binary = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if binary is None:
        _absent("no nats-server binary")
    server = NatsServer(str(binary), tmp_path / "nats")
    server.directory.mkdir()
    server.start()
    yield server
    server.kill()
