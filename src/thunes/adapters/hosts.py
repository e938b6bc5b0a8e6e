"""Host-name checks shared by the adapters and the configuration that points them somewhere."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["is_loopback_host", "listening_socket"]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1): traffic that never leaves the machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_socket(host: str, port: int, what: str, error: type[Exception]) -> socket.socket:
    """A TCP socket listening on ``host:port`` (IPv6 for an IPv6 literal; port 0: any free one), bound
    here so that a taken or forbidden port fails at start, as ``error`` naming ``what`` is served."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise error(
            f"cannot serve {what} on {host}:{port}: {e.strerror or e}; choose another port, or 0 for any free one"
        ) from e
