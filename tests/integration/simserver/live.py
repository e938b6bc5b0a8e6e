"""The full venue (REST, streams, faults, paced replay) on a free port, run by a background loop."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from decimal import Decimal
from typing import Any

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.simserver.server import RunningVenue, VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import ApiKey
from thunes.domain.market import Timeframe
from thunes.simvenue.replay import bar_events

TIMEOUT = 10.0
FUNDS = {"trader": {"USDT": Decimal(100_000), "BTC": Decimal(1)}}


class LiveVenue:
    """Synthetic 1m BTCUSDT replayed at 240x (a bar every 0.25 s) after 120 warm-up bars."""

    def __init__(self, **config: Any) -> None:
        info = builtin_exchange_info()
        instrument = info.get("BTCUSDT")
        bars = generate_ohlcv("BTCUSDT", Timeframe.M1, 5_000, seed=5, tick_size=float(instrument.tick_size))
        self.state = build_state(info, Timeframe.M1)
        self.key: ApiKey = self.state.add_api_key("trader")
        events = bar_events(bars, instrument.tick_size, instrument.step_size)
        settings = VenueConfig(**{"port": 0, "speed": 240.0, "warmup_bars": 120, **config})
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: list[RunningVenue] = []
        failed: list[Exception] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                holder.append(self.loop.run_until_complete(start(self.state, events, settings, FUNDS)))
            except Exception as e:  # handed to the test, as the cause of "did not start"
                failed.append(e)
                return
            finally:
                ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(TIMEOUT) or failed:
            raise RuntimeError("venue did not start") from (failed[0] if failed else None)
        self.running = holder[0]
        self.base_url = self.running.rest_url
        self.ws_url = self.running.ws_url

    def admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST (or GET without a body) to an ``/admin`` endpoint with the venue's admin token; the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.running.admin_token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers,
                                         method="POST" if data else "GET")  # fmt: skip
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)

    def crash(self) -> None:
        """Stop dead, as a ``kill -9`` would: no clean stop, nothing saved; only what the journal holds
        survives. Its sockets stay open until the test process ends (a killed process's would close)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
