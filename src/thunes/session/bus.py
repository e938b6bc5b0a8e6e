"""The session's bus beyond the process: with a NATS url (``thunes trade --bus``, or ``[bus] url``) every
command and event the engine publishes also goes to JetStream, through a spool in the session's data
directory (``bus/``); without one the in-process bus is all there is."""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from thunes.adapters.storage.session_dir import BUS_SPOOL_DIR
from thunes.app.config import BusSettings
from thunes.engine.bus import Bus

if TYPE_CHECKING:
    from thunes.adapters.bus import JetStreamPublisher

__all__ = ["publish_to_nats"]

_log = structlog.get_logger(__name__)


def publish_to_nats(settings: BusSettings, url: str | None, data_dir: Path, venue: str, bus: Bus,
                    closing: contextlib.ExitStack) -> JetStreamPublisher | None:  # fmt: skip
    """Ship everything ``bus`` carries to JetStream at ``url`` (else ``settings.url``; neither: do nothing)
    until ``closing`` closes, which waits ``settings.flush_timeout_s`` at most for NATS to take the rest.
    Subscribe this before anything else on ``bus`` (messages keep their publish order)."""
    url = url or settings.url
    if url is None:
        return None
    try:  # nats-py is an optional extra: a session without a bus never needs it
        from thunes.adapters.bus import BusConfig, JetStreamPublisher
    except ModuleNotFoundError as e:
        raise ValueError(f"the NATS bus needs the nats extra (pip install 'thunes[nats]'): {e}") from e
    config = BusConfig(url=url, prefix=settings.prefix, stream=settings.stream, inbound_stream=settings.inbound_stream,
                       duplicate_window_s=settings.duplicate_window_s)  # fmt: skip
    publisher = JetStreamPublisher(config, data_dir / BUS_SPOOL_DIR, venue)
    publisher.attach(bus)
    publisher.start()
    _log.info("bus_publishing", url=url, stream=config.stream, run=publisher.run, spooled=publisher.pending)

    def close() -> None:
        flushed = publisher.close(settings.flush_timeout_s)
        log = _log.info if flushed else _log.error
        log("bus_closed", url=url, run=publisher.run, flushed=flushed, left_in_spool=publisher.pending,
            **asdict(publisher.stats))  # fmt: skip

    closing.callback(close)
    return publisher
