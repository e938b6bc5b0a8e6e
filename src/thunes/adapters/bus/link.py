"""The one place nats-py's connection and JetStream management are called, and its errors mapped:
a server that cannot be reached (or went away) is :class:`BusUnavailableError` (retry later), a
JetStream refusal is :class:`BusError`; both say where, in one line.

Two streams: ``THUNES`` holds what the engine publishes (``thunes.<venue>.<symbol>.<kind>``, four
tokens) and ``THUNES_IN`` what is published *to* the engine (``thunes.in.<venue>.<symbol>.<kind>``,
five tokens: RL actions), so a policy publishing actions never interleaves with the engine's events.
The ``thunes`` prefix and the stream names are settings (tests and benchmarks use their own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

__all__ = [
    "BusConfig",
    "BusError",
    "BusUnavailableError",
    "connect",
    "ensure_streams",
    "mapped",
    "wait_closed",
]

T = TypeVar("T")


class BusError(Exception):
    """JetStream refused a request (a stream's configuration, a bad consumer start...)."""


class BusUnavailableError(BusError):
    """The NATS server cannot be reached or went away; trying again later may succeed."""


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Where the bus is and how it behaves. ``duplicate_window_s``: how long JetStream remembers a
    message id (a re-send after an outage or a restart within it is dropped as a duplicate)."""

    url: str = "nats://127.0.0.1:4222"
    prefix: str = "thunes"  # the subjects' first token
    stream: str = "THUNES"
    inbound_stream: str = "THUNES_IN"
    duplicate_window_s: float = 600.0
    connect_timeout_s: float = 2.0
    ack_timeout_s: float = 5.0  # no acknowledgement for this long with messages in flight: reconnect
    max_in_flight: int = 20_000  # messages sent and not yet acknowledged
    retry_min_s: float = 0.05  # reconnect backoff, doubling to retry_max_s
    retry_max_s: float = 2.0
    segment_bytes: int = 64 * 1024 * 1024  # the spool's segment size

    def __post_init__(self) -> None:
        if not self.url.startswith(("nats://", "tls://")):
            raise ValueError(f"a NATS url starts with nats:// or tls://, got {self.url!r}")
        if self.duplicate_window_s <= 0 or self.ack_timeout_s <= 0 or self.max_in_flight < 1:
            raise ValueError("duplicate_window_s and ack_timeout_s must be positive, max_in_flight at least 1")
        if not self.prefix or any(c in self.prefix for c in ".*> \t"):
            raise ValueError(f"a subject prefix is one NATS token, got {self.prefix!r}")

    @property
    def events_subjects(self) -> str:
        """The events stream's subjects: ``<prefix>.<venue>.<symbol>.<kind>``."""
        return f"{self.prefix}.*.*.*"

    @property
    def inbound_prefix(self) -> str:
        return f"{self.prefix}.in"

    @property
    def inbound_subjects(self) -> str:
        """The inbound stream's subjects: ``<prefix>.in.<venue>.<symbol>.<kind>``."""
        return f"{self.inbound_prefix}.*.*.*"


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def mapped(url: str, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, with nats-py's and the socket's errors as :class:`BusUnavailableError`/:class:`BusError`."""
    try:
        return await call()
    except nats.js.errors.APIError as e:
        raise BusError(f"JetStream at {url} refused: {e.description or _reason(e)}") from e
    except (nats.errors.NoServersError, nats.errors.ConnectionClosedError, nats.errors.TimeoutError,
            nats.errors.NoRespondersError, nats.errors.OutboundBufferLimitError, nats.errors.StaleConnectionError,
            nats.errors.UnexpectedEOF, TimeoutError, OSError) as e:  # fmt: skip
        raise BusUnavailableError(f"NATS unreachable at {url} ({_reason(e)})") from e
    except nats.errors.Error as e:
        raise BusError(f"NATS at {url}: {_reason(e)}") from e


async def _quiet(_error: Exception) -> None:
    """nats-py reports connection errors here too; the caller sees them as exceptions already."""


async def connect(config: BusConfig, *, on_closed: Callable[[], Awaitable[None]] | None = None) -> Client:
    """A connection that does not reconnect by itself: the publisher re-sends from its spool on a new
    one, so nothing nats-py buffered for a dead server is ever sent after what the spool re-sends."""
    options: dict[str, Any] = {
        "servers": [config.url],
        "allow_reconnect": False,
        "connect_timeout": config.connect_timeout_s,
        "max_reconnect_attempts": 0,
        "error_cb": _quiet,
        "pending_size": 64 * 1024 * 1024,
    }
    if on_closed is not None:
        options["closed_cb"] = on_closed

    async def attempt() -> Client:
        try:
            async with asyncio.timeout(config.connect_timeout_s):  # nats-py retries a first connect forever
                return await nats.connect(**options)
        except TimeoutError as e:
            waited = f"no answer within {config.connect_timeout_s:g} s"
            raise BusUnavailableError(f"NATS unreachable at {config.url} ({waited}): is nats-server running?") from e

    return await mapped(config.url, attempt)


async def ensure_streams(js: JetStreamContext, config: BusConfig) -> None:
    """Create the events and inbound streams when missing (file storage, the configured duplicate
    window); an existing stream is used as it is."""
    wanted = [(config.stream, config.events_subjects), (config.inbound_stream, config.inbound_subjects)]
    for name, subjects in wanted:
        try:
            await mapped(config.url, lambda name=name: js.stream_info(name))  # type: ignore[misc]
        except BusError as e:
            if not isinstance(e.__cause__, nats.js.errors.NotFoundError):
                raise
            stream = StreamConfig(name=name, subjects=[subjects], storage=StorageType.FILE,
                                  duplicate_window=config.duplicate_window_s)  # fmt: skip
            await mapped(config.url, lambda stream=stream: js.add_stream(stream))  # type: ignore[misc]


async def wait_closed(client: Client, timeout_s: float = 2.0) -> None:
    """Close ``client`` (after sending what it holds: acknowledgements of a durable consumer) without
    waiting long for a server that is gone."""
    if client.is_closed:
        return
    try:
        async with asyncio.timeout(timeout_s):
            if client.is_connected:
                await client.flush(max(1, int(timeout_s)))
            await client.close()
    except (TimeoutError, nats.errors.Error, OSError):
        pass
