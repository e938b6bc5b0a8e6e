"""Paper trading, composed: the embedded venue replaying a market, and THUNES trading it through
exactly the client code that would trade the Binance testnet (ccxt REST + ccxt.pro streams).

The market clock is the replay's: risk's UTC day, journal times and order ids follow the candles,
so an accelerated session behaves like the days it replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig, BinanceStreams
from thunes.adapters.venues.simserver.server import RunningVenue, VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.app.config import Settings
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import ClientOrderId, VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.market import Bar, Timeframe
from thunes.domain.venue import RetryableVenueError
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.jobs import Job, due_jobs
from thunes.engine.trader import Trader, TraderConfig
from thunes.execution.order_manager import OrderManager
from thunes.execution.reconciliation import reconcile
from thunes.features.ohlcv import OHLCV
from thunes.risk import CircuitBreaker, FailureKind, RiskEngine, RiskLimits
from thunes.simvenue.replay import bar_events
from thunes.strategy import RsiReversion, SmaCross, Strategy

__all__ = ["PaperConfig", "PaperStatus", "run_paper"]

T = TypeVar("T")

PAPER_ACCOUNT = "paper"
VENUE = VenueId("sim")


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """``speed``: replay seconds per wall second; ``duration_s``: how long the session trades."""

    duration_s: float = 30.0
    speed: float = 36_000.0
    warmup_bars: int = 100
    deposit: Decimal = Decimal(1000)
    data_dir: Path = Path("data/paper")
    fresh: bool = True
    venue_url: str | None = None  # an already running venue (``thunes venue serve``); else start one
    # Hourly in market time; in an accelerated replay that can be many times a second, so at most
    # once per this many wall seconds (the venue's request-weight budget is shared with trading).
    reconcile_min_interval_s: float = 2.0


@dataclass(slots=True)
class PaperStatus:
    """What the live view and the final summary show."""

    bars: int = 0
    last_close: Decimal | None = None
    position: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    submitted: int = 0
    filled: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    rejected: Counter[int] = field(default_factory=Counter)
    kill_switch: bool = False
    equity_start: Decimal = Decimal(0)
    equity_end: Decimal = Decimal(0)
    venue_trades: int = 0
    ledger_fills: int = 0
    last_bar_ns: int | None = None
    missed_candles: int = 0  # holes in the closed-candle sequence the trader saw (should stay 0)
    reconciliations: int = 0
    mismatches: int = 0


def _strategy(settings: Settings, tick: Decimal) -> Strategy:
    s = settings.strategy
    if s.name == "sma_cross":
        return SmaCross(s.sma_fast, s.sma_slow, tick_size=tick)
    return RsiReversion(s.rsi_period, s.rsi_oversold, s.rsi_overbought, s.rsi_stop_loss, tick_size=tick)


def _limits(settings: Settings) -> RiskLimits:
    r = settings.risk
    return RiskLimits(max_order_notional=r.max_order_notional, max_daily_loss=r.max_daily_loss,
                      max_open_positions=r.max_open_positions, cool_down_s=r.cool_down_minutes * 60,
                      one_position_per_symbol=r.one_position_per_symbol)  # fmt: skip


async def _patiently(call: Callable[[], Awaitable[T]], attempts: int = 40) -> T:
    """Retry a read through a fault burst (the session summary must not die of a 5xx)."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except RetryableVenueError as e:
            await asyncio.sleep(max(0.25, e.delay_s))
    return await call()


async def _equity(client: BinanceClient, quote: str, base: str, price: Decimal | None) -> Decimal:
    balances = await _patiently(client.balances)
    free_q, locked_q = balances.get(quote, (Decimal(0), Decimal(0)))
    free_b, locked_b = balances.get(base, (Decimal(0), Decimal(0)))
    return free_q + locked_q + (free_b + locked_b) * (price or Decimal(0))


async def run_paper(
    settings: Settings,
    config: PaperConfig,
    on_bar: Callable[[PaperStatus], None],
    stop: asyncio.Event | None = None,
) -> PaperStatus:
    """Start the venue, trade it for ``config.duration_s`` (or until ``stop`` is set: SIGTERM) and
    return the final status; either way the stop is graceful (orders in doubt are settled)."""
    bt = settings.backtest
    source, _ = load_exchange_info_source(settings.rules, settings.data)
    instrument = source.get(bt.symbol)
    timeframe = Timeframe(bt.timeframe)
    bars = load_bars(instrument, timeframe, settings.data, path=bt.data_path).bars
    running = None if config.venue_url is not None else await _embedded_venue(source, instrument, bars, config)
    rest_url = running.rest_url if running is not None else str(config.venue_url)
    ws_url = running.ws_url if running is not None else rest_url.replace("http", "ws", 1)
    if config.fresh and config.data_dir.exists():
        shutil.rmtree(config.data_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlStore(f"sqlite:///{config.data_dir / 'ledger.db'}")
    client = BinanceClient(BinanceConfig("paper", rest_url, ws_url), PAPER_API_KEY, PAPER_API_SECRET)
    status = PaperStatus()
    try:
        clock = ManualClock(int(bars.open_time_ns[0]))
        bus = InMemoryBus()
        risk = RiskEngine(_limits(settings), clock.now_ns, JsonFileRiskStore(config.data_dir / "risk.json"))
        breaker = risk.breaker(VENUE)
        orders = OrderManager(client, store, bus, clock.now_ns, VENUE,
                              on_call=lambda ok: _record(breaker, ok))  # fmt: skip
        trader = Trader(_strategy(settings, instrument.tick_size), instrument, risk, orders, store, bus,
                        TraderConfig(VENUE, fee_rate=bt.fee_rate))  # fmt: skip
        for report in await orders.recover():  # orders whose answer a crash swallowed
            trader.book(report)
        trader.restore(store.fills(str(instrument.symbol)))
        checkpoint = Checkpoint(config.data_dir / "checkpoint.json")
        status.equity_start = await _equity(client, instrument.quote_asset, instrument.base_asset, None)
        first_ms = int(bars.open_time_ns[0]) // 1_000_000
        jobs = _Jobs(trader, client, store, status, config.reconcile_min_interval_s)
        subscription = BinanceStreams(client).watch_klines(instrument.symbol, timeframe, since_ms=first_ms)

        async def consume() -> None:
            async for bar in subscription:
                previous = clock.now_ns()
                clock.set(max(previous, bar.close_time_ns))
                await _step(trader, bar, checkpoint, status, on_bar)
                await jobs.after_bar(previous, clock.now_ns())

        await _until(consume(), stop, config.duration_s)
        await subscription.aclose()
        with contextlib.suppress(TimeoutError):  # a graceful stop settles orders left in doubt
            async with asyncio.timeout(10):
                for report in await orders.recover():
                    trader.book(report)
        status.equity_end = await _equity(client, instrument.quote_asset, instrument.base_asset, status.last_close)
        status.venue_trades = len(await _patiently(lambda: client.my_trades(instrument.symbol, 0)))
        status.ledger_fills = len(store.fills(str(instrument.symbol)))
        return status
    finally:
        await client.close()
        store.close()
        if running is not None:
            await running.stop()


async def _embedded_venue(
    source: ExchangeInfo, instrument: Instrument, bars: OHLCV, config: PaperConfig
) -> RunningVenue:
    """The venue on a free loopback port, replaying ``bars`` for the paper account."""
    state = build_state(ExchangeInfo({instrument.symbol: instrument}, source.rate_limits, None), bars.timeframe)
    state.add_api_key(PAPER_ACCOUNT, key=PAPER_API_KEY, secret=PAPER_API_SECRET)
    events = bar_events(bars, instrument.tick_size, instrument.step_size)
    venue_config = VenueConfig(port=0, speed=config.speed, warmup_bars=config.warmup_bars)
    return await start(state, events, venue_config, {PAPER_ACCOUNT: {instrument.quote_asset: config.deposit}})


async def _step(
    trader: Trader, bar: Bar, checkpoint: Checkpoint, status: PaperStatus, on_bar: Callable[[PaperStatus], None]
) -> None:
    if bar.open_time_ns <= checkpoint.last_bar_ns:
        trader.warm_up(bar)  # traded before the restart: never decide on it twice
        return
    await trader.on_bar(bar)
    checkpoint.save(bar.open_time_ns)
    _update(status, trader, bar)
    on_bar(status)


async def _until(work: Coroutine[Any, Any, None], stop: asyncio.Event | None, timeout_s: float) -> None:
    """Run ``work`` until it ends, ``stop`` is set, or ``timeout_s`` passes; then cancel it."""
    working = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future((stop or asyncio.Event()).wait())
    await asyncio.wait({working, stopping}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    for task in (working, stopping):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Jobs:
    """Runs the boundary jobs after each bar, reconciliation throttled in wall time."""

    def __init__(self, trader: Trader, client: BinanceClient, store: SqlStore, status: PaperStatus,
                 min_interval_s: float) -> None:  # fmt: skip
        self.trader, self.client, self.store, self.status = trader, client, store, status
        self.min_interval_s = min_interval_s
        self.last_reconcile = -float("inf")

    async def after_bar(self, previous_ns: int, now_ns: int) -> None:
        for job in due_jobs(previous_ns, now_ns):
            if job is Job.RECONCILE:
                if time.monotonic() - self.last_reconcile < self.min_interval_s:
                    continue
                self.last_reconcile = time.monotonic()
            await _run_job(job, self.trader, self.client, self.store, self.status)


async def _run_job(job: Job, trader: Trader, client: BinanceClient, store: SqlStore, status: PaperStatus) -> None:
    """00:00 UTC: the daily reset (never the kill-switch). Hourly: reconcile with the venue and
    switch to REDUCING on drift (SPEC §4)."""
    if job is Job.DAILY_RESET:
        trader.risk.daily_reset()
        return
    instrument = trader.instrument
    balances = await _patiently(client.balances)
    venue_open = await _patiently(lambda: client.open_orders(instrument.symbol))
    local_open = [ClientOrderId(r["client_order_id"]) for r in store.orders(open_only=True)]
    report = reconcile(
        {instrument.base_asset: trader.position.quantity},
        balances,
        local_open,
        venue_open,
        step_sizes={instrument.base_asset: instrument.step_size},
        ignore_assets=[instrument.quote_asset, "BNB"],
    )
    status.reconciliations += 1
    status.mismatches += len(report.mismatches)
    if report.drift:
        detail = "; ".join(f"{m.subject}: ledger {m.local} venue {m.venue}" for m in report.drift)
        trader.risk.on_reconciliation_drift(detail)


class Checkpoint:
    """The last bar the trader acted on, saved atomically after each one (resume point)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_bar_ns = json.loads(path.read_text())["last_bar_ns"] if path.is_file() else -1

    def save(self, bar_open_ns: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump({"last_bar_ns": bar_open_ns}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self.last_bar_ns = bar_open_ns


def _record(breaker: CircuitBreaker, ok: bool) -> None:
    if ok:
        breaker.record_success()
    else:
        breaker.record_failure(FailureKind.SERVER_ERROR)  # retryable = server-side (SPEC §2)


def _update(status: PaperStatus, trader: Trader, bar: Bar) -> None:
    if status.last_bar_ns is not None:
        status.missed_candles += max(0, (bar.open_time_ns - status.last_bar_ns) // bar.timeframe.nanoseconds - 1)
    status.last_bar_ns = bar.open_time_ns
    close = bar.close
    status.bars += 1
    status.last_close = close
    status.position = trader.position.quantity
    status.realized_pnl = trader.position.realized_pnl
    status.fees = trader.position.fees_quote
    status.submitted = trader.stats.submitted
    status.filled = trader.stats.filled
    status.denied = Counter(trader.stats.denied)
    status.rejected = Counter(trader.stats.rejected)
    status.kill_switch = trader.risk.kill_switch.active
