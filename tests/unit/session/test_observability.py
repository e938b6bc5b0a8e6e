"""``SessionTelemetry``: inert without a port; with one, ``/ready`` follows the session (reconciled and
its stream connected) and the bar callback sees refreshed gauges."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from thunes.adapters.venues.binance.feed import StreamStats
from thunes.control.status import PaperStatus
from thunes.session.observability import SessionTelemetry


@dataclass
class FakeStream:
    name: str
    stats: StreamStats = field(default_factory=StreamStats)


def _ready(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_telemetry_when_no_port_then_no_endpoint_and_callback_untouched() -> None:
    seen: list[int] = []
    status = PaperStatus()

    async def session() -> None:
        with SessionTelemetry("127.0.0.1", None, status, lambda s: seen.append(s.bars)) as telemetry:
            status.bars = 7
            telemetry.on_bar(status)
            assert telemetry.metrics is None

    asyncio.run(session())

    assert seen == [7]
    assert status.metrics_url is None


def test_ready_when_session_reconciles_connects_and_closes_then_503_200_503() -> None:
    status = PaperStatus()
    stream = FakeStream("klines:BTCUSDT:1h")
    codes: dict[str, int] = {}

    async def session() -> None:
        with SessionTelemetry("127.0.0.1", 0, status, lambda s: None) as telemetry:
            assert status.metrics_url is not None
            url = status.metrics_url
            codes["started"] = await asyncio.to_thread(_ready, url)
            telemetry.trading(stream)
            codes["not reconciled"] = await asyncio.to_thread(_ready, url)
            status.reconciliations = 1
            codes["not connected"] = await asyncio.to_thread(_ready, url)
            stream.stats.connected = True
            codes["trading"] = await asyncio.to_thread(_ready, url)
            stream.stats.connected = False  # the subscription closed: the session is stopping
            codes["closing"] = await asyncio.to_thread(_ready, url)

    asyncio.run(session())

    assert codes == {"started": 503, "not reconciled": 503, "not connected": 503, "trading": 200, "closing": 503}
