"""A port for a server that a test starts as its own process on a number it must know beforehand, or
restarts on the same number after a kill.

A port from ``bind(("127.0.0.1", 0))`` that is closed again is only free for a moment: under
pytest-xdist the other workers bind port 0 and connect out all the time, and the kernel hands those
out of the ephemeral range, so one of them can take the port before the venue (1-2 s of imports)
binds it, or between a kill -9 and the restart. A port below that range is never handed out like
this; it is checked free when chosen."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def spare_port() -> int:
    """A loopback port that is free now and below the ephemeral range (else any free port)."""
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, low) if low > 20000 + 1000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = s.getsockname()[1]
            return chosen
    raise RuntimeError("no free loopback port below the ephemeral range")
