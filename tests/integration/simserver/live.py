"""The full venue (REST, streams, faults, paced replay) on a free port, run by a background loop."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.simserver.server import RunningVenue, VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import ApiKey, ServerState
from thunes.domain.market import Timeframe
from thunes.simvenue.replay import ReplayEvent, bar_events, merged

TIMEOUT = 10.0
FUNDS = {"trader": {"USDT": Decimal(100_000), "BTC": Decimal(1)}}


START_PRICES = {"BTCUSDT": 40_000.0, "ETHUSDT": 2_500.0, "BNBUSDT": 300.0, "SOLUSDT": 100.0}


def synthetic_market(
    symbols: Sequence[str], timeframe: Timeframe = Timeframe.M1
) -> tuple[ServerState, Iterable[ReplayEvent]]:
    """A fresh venue state (every built-in instrument) and ``symbols``' synthetic candles merged on one
    clock (own seed each)."""
    info = builtin_exchange_info()
    streams = []
    for i, symbol in enumerate(symbols):
        instrument = info.get(symbol)
        bars = generate_ohlcv(symbol, timeframe, 5_000, seed=5 + i, start_price=START_PRICES[symbol],
                              tick_size=float(instrument.tick_size))  # fmt: skip
        streams.append(bar_events(bars, instrument.tick_size, instrument.step_size))
    return build_state(info, timeframe), merged(streams)


class LiveVenue:
    """Synthetic 1m BTCUSDT (or ``symbols`` on one clock) replayed at 240x (a bar every 0.25 s) after 120
    warm-up bars; or ``market``, a state and its events, with ``funds`` for its account "trader"."""

    def __init__(
        self,
        symbols: Sequence[str] = ("BTCUSDT",),
        *,
        market: tuple[ServerState, Iterable[ReplayEvent]] | None = None,
        funds: dict[str, dict[str, Decimal]] | None = None,
        **config: Any,
    ) -> None:
        self.state, events = market if market is not None else synthetic_market(symbols)
        self.key: ApiKey = self.state.add_api_key("trader")
        settings = VenueConfig(**{"port": 0, "speed": 240.0, "warmup_bars": 120, **config})
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: list[RunningVenue] = []
        failed: list[Exception] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                holder.append(self.loop.run_until_complete(start(self.state, events, settings, funds or FUNDS)))
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
