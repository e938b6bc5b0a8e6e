"""Latency of the trading path: the pre-trade gate alone, and signal to acknowledged order."""

from __future__ import annotations

import asyncio
import statistics
import time
from decimal import Decimal

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.simserver.server import VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.domain import ClientOrderId, OrderRequest, OrderType, Side, StrategyId, Symbol, Timeframe, VenueId
from thunes.engine.bus import InMemoryBus
from thunes.execution.order_manager import OrderManager
from thunes.risk import RiskEngine, RiskIntent, RiskLimits

N_GATE = 20_000
N_ORDERS = 300


def _percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49], q[98]


def gate_rows() -> list[tuple[str, int, float, float]]:
    """(name, n, p50 µs, p99 µs) of RiskEngine.check with the exchange filters, one intent at a time."""
    instrument = builtin_exchange_info().get("BTCUSDT")
    risk = RiskEngine(RiskLimits(), lambda: 1_700_000_000_000_000_000)
    samples = []
    for i in range(N_GATE):
        request = OrderRequest(ClientOrderId(f"g{i}"), Symbol("BTCUSDT"), Side.BUY, OrderType.MARKET,
                               quantity=Decimal("0.0003"))  # fmt: skip
        intent = RiskIntent(request, StrategyId("bench"), VenueId("sim"), Decimal(30_000), instrument)
        start_ns = time.perf_counter_ns()
        decision = risk.check(intent)
        samples.append((time.perf_counter_ns() - start_ns) / 1000)
        if decision.approved:
            risk.on_order_closed(request.client_order_id)  # keep the position slots free
    p50, p99 = _percentiles(samples)
    return [("pre-trade gate (risk + filters), µs", N_GATE, p50, p99)]


async def _round_trips() -> list[float]:
    info = builtin_exchange_info()
    state = build_state(info, Timeframe.M1)
    state.add_api_key("bench", key=PAPER_API_KEY, secret=PAPER_API_SECRET)
    state.venue.deposit("bench", "USDT", Decimal(10**7))
    state.venue.on_trade("BTCUSDT", Decimal(30_000), Decimal(1))
    state.venue.on_quote("BTCUSDT", Decimal("29999.99"), Decimal(10), Decimal(30_000), Decimal(10))
    rate = tuple(r for r in info.rate_limits if r.rate_limit_type != "ORDERS")  # the bench sends bursts
    state.exchange_info = type(info)(info.instruments, rate, None)
    running = await start(state, [], VenueConfig(port=0, speed=None))
    client = BinanceClient(BinanceConfig("paper", running.rest_url, running.ws_url), PAPER_API_KEY, PAPER_API_SECRET)
    store = SqlStore("sqlite://")
    manager = OrderManager(client, store, InMemoryBus(), time.time_ns, VenueId("sim"))
    risk = RiskEngine(RiskLimits(max_open_positions=10**6, one_position_per_symbol=False), time.time_ns)
    instrument = info.get("BTCUSDT")
    samples = []
    try:
        for i in range(N_ORDERS):
            request = OrderRequest(ClientOrderId(f"rt{i}"), Symbol("BTCUSDT"), Side.BUY, OrderType.LIMIT,
                                   Decimal("0.0003"), Decimal(29_000))  # fmt: skip
            start_ns = time.perf_counter_ns()
            decision = risk.check(RiskIntent(request, StrategyId("bench"), VenueId("sim"), Decimal(30_000), instrument))
            await manager.submit(decision.order, StrategyId("bench"))
            samples.append((time.perf_counter_ns() - start_ns) / 1e6)
            await client.cancel(Symbol("BTCUSDT"), request.client_order_id)
            risk.on_order_closed(request.client_order_id)
    finally:
        await client.close()
        store.close()
        await running.stop()
    return samples[20:]  # after warm-up


def latency_rows() -> list[tuple[str, int, float, float]]:
    """(name, n, p50 ms, p99 ms): signal -> risk -> journal -> REST -> acknowledged order."""
    samples = asyncio.run(_round_trips())
    p50, p99 = _percentiles(samples)
    return [("signal to acknowledged order (loopback), ms", len(samples), p50, p99)]
