"""The metrics endpoint over a real socket: the three routes, the bound port, and a busy port."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from thunes.adapters.metrics import MetricsEndpointError, MetricsServer, TradingMetrics


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def test_server_when_port_zero_then_serves_metrics_health_and_ready_on_the_bound_port() -> None:
    metrics = TradingMetrics()
    metrics.kill_switch_active.set(1)
    ready = threading.Event()

    with MetricsServer(metrics.registry, ready.is_set, port=0) as server:
        before = _get(f"{server.url}/ready")
        ready.set()
        after = _get(f"{server.url}/ready")
        health = _get(f"{server.url}/health")
        status, content_type, body = _get(f"{server.url}/metrics")
        missing = _get(f"{server.url}/nothing")

    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert before[0] == 503
    assert after[0] == 200
    assert health[0] == 200
    assert status == 200
    assert content_type.startswith("text/plain")
    assert "thunes_kill_switch_active 1.0" in body.splitlines()
    assert "process_resident_memory_bytes" in body
    assert missing[0] == 404


def test_server_when_ready_probe_raises_then_not_ready_instead_of_an_error() -> None:
    def broken() -> bool:
        raise RuntimeError("status unavailable")

    with MetricsServer(TradingMetrics().registry, broken) as server:
        status, _, body = _get(f"{server.url}/ready")

    assert (status, body) == (503, "not ready\n")


def test_server_when_port_busy_then_error_says_what_to_do_and_port_freed_after_stop() -> None:
    registry = TradingMetrics().registry
    first = MetricsServer(registry, lambda: True)
    first.start()
    port = first.port

    with pytest.raises(MetricsEndpointError, match="choose another port, or 0 for any free one"):
        MetricsServer(registry, lambda: True, port=port).start()
    first.stop()
    again = MetricsServer(registry, lambda: True, port=port)
    again.start()
    served = _get(f"{again.url}/health")[0]
    again.stop()

    assert served == 200
