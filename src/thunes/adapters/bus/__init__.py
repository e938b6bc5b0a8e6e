"""The bus adapters: NATS JetStream behind the engine's bus port (the in-process bus is the engine's own).

nats-py is imported here and nowhere else (an import-linter contract holds it).
"""

from thunes.adapters.bus.codec import Encoder, Envelope
from thunes.adapters.bus.link import BusConfig, BusError, BusUnavailableError
from thunes.adapters.bus.publisher import BusStats, JetStreamBus, JetStreamPublisher
from thunes.adapters.bus.reader import (
    InboundMessage,
    Inbox,
    StoredEvent,
    inbound_subject,
    last_sequence,
    publish_inbound,
    read_events,
)
from thunes.adapters.bus.spool import Spool, SpoolCorruptError

__all__ = [
    "BusConfig",
    "BusError",
    "BusStats",
    "BusUnavailableError",
    "Encoder",
    "Envelope",
    "InboundMessage",
    "Inbox",
    "JetStreamBus",
    "JetStreamPublisher",
    "Spool",
    "SpoolCorruptError",
    "StoredEvent",
    "inbound_subject",
    "last_sequence",
    "publish_inbound",
    "read_events",
]
