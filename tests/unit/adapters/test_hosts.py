"""Loopback detection and the listening socket the control API and the metrics endpoint bind."""

from __future__ import annotations

import pytest

from thunes.adapters.hosts import is_loopback_host, listening_socket


class _RefusedError(RuntimeError):
    pass


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True),
     ("10.0.0.1", False), ("api.binance.com", False), ("", False), ("0.0.0.0", False)],
)  # fmt: skip
def test_is_loopback_host_when_names_and_addresses_then_only_the_machine_itself(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_listening_socket_when_port_free_then_listens_and_when_taken_then_the_callers_error() -> None:
    first = listening_socket("127.0.0.1", 0, "metrics", _RefusedError)
    try:
        port = first.getsockname()[1]
        assert port > 0
        with pytest.raises(_RefusedError, match=rf"cannot serve metrics on 127.0.0.1:{port}: .*0 for any free one"):
            listening_socket("127.0.0.1", port, "metrics", _RefusedError)
    finally:
        first.close()
