"""Every market stream's payload has the keys and JSON types of the example in web-socket-streams.md."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.simserver.live import TIMEOUT, LiveVenue


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


def _doc_examples(shared_data: Path) -> list[Any]:
    """The JSON payload examples of the streams doc, comments stripped."""
    text = (shared_data / "reference/binance-spot-api-docs/web-socket-streams.md").read_text()
    examples = []
    for block in re.findall(r"\*\*Payload:\*\*\s*```javascript\n(.*?)```", text, flags=re.S):
        cleaned = re.sub(r"//[^\n]*", "", block)
        cleaned = re.sub(r",(\s*[}\]])", r"\1", cleaned)
        try:
            examples.append(json.loads(cleaned))
        except ValueError:
            continue
    return examples


def _example(examples: list[Any], predicate: Any) -> Any:
    return next(e for e in examples if predicate(e))


def _shape(value: Any) -> Any:
    """Keys and JSON types, recursively (first element of lists)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


async def _first(url: str, predicate: Any) -> Any:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = json.loads((await ws.receive()).data)
                if predicate(message):
                    return message


STREAMS = {
    "trade": lambda e: isinstance(e, dict) and e.get("e") == "trade",
    "aggTrade": lambda e: isinstance(e, dict) and e.get("e") == "aggTrade",
    "kline_1m": lambda e: isinstance(e, dict) and e.get("e") == "kline",
    "bookTicker": lambda e: isinstance(e, dict) and "u" in e and "B" in e and "e" not in e,
    "depth@100ms": lambda e: isinstance(e, dict) and e.get("e") == "depthUpdate",
    "depth5@100ms": lambda e: isinstance(e, dict) and "lastUpdateId" in e,
    "ticker": lambda e: isinstance(e, dict) and e.get("e") == "24hrTicker",
    "miniTicker": lambda e: isinstance(e, dict) and e.get("e") == "24hrMiniTicker",
}


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_stream_payload_when_received_then_shape_equals_documented_example(
    live: LiveVenue, shared_data: Path, stream: str
) -> None:
    documented = _example(_doc_examples(shared_data), STREAMS[stream])
    wanted = STREAMS[stream]

    ours = asyncio.run(_first(f"{live.ws_url}/ws/btcusdt@{stream}", lambda m: wanted(m) and m != {}))

    assert _shape(ours) == _shape(documented)
