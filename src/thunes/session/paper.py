"""A trading session, composed: paper trading on the embedded venue replaying a market, and the
same session on Binance's spot testnet or on Binance itself (live), through exactly the same client
code (ccxt REST + ccxt.pro streams) and the same engine core.

In a replay the clock is the market's: risk's UTC day, journal times and order ids follow the
candles, so an accelerated session behaves like the days it replays. A live session's clock is the
wall's, and it never wipes its ledger. A fresh paper session discards only what an earlier paper
session wrote in its data directory (``session_dir``): never a live one, nor one with other files.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from thunes.adapters.alerts import TelegramSettings
from thunes.adapters.clock import SystemClock
from thunes.adapters.storage.control_file import ControlFile
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.safety_state import RISK_FILE, SafetyReport, inspect_safety, set_aside
from thunes.adapters.storage.session_dir import SessionKind, prepare_session_dir
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig, BinanceStreams
from thunes.adapters.venues.simserver.server import RunningVenue, VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.app.audit_setup import audit_context, open_audit
from thunes.app.composition import kernel_spec, strategy_for
from thunes.app.config import Settings
from thunes.app.logging import session_log
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.control.operator import start_operator
from thunes.control.status import ControlApplied, PaperStatus
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.market import Bar, Timeframe
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import Clock, ManualClock
from thunes.engine.kernel import build_kernel
from thunes.engine.trader import Trader
from thunes.execution.order_manager import OrderManager
from thunes.execution.reconciliation import OrphanPolicy
from thunes.features.ohlcv import OHLCV
from thunes.governance import AuditRecorder
from thunes.governance.rodage import MarkKind
from thunes.risk import SAFETY_ACTOR, RiskEngine
from thunes.session.jobs import BarGate, Checkpoint, ControlInbox, SessionJobs, SessionMarks, patiently
from thunes.session.observability import SessionTelemetry
from thunes.session.recovery import last_close, recover_session, settle_in_doubt, settle_reservations
from thunes.simvenue.replay import bar_events

__all__ = ["Credentials", "PaperConfig", "PaperStatus", "run_paper"]

PAPER_ACCOUNT = "paper"
VENUE = VenueId("sim")
LIVE_VENUE = VenueId("binance")
_log = structlog.get_logger(__name__)
_CLOCK_LEAD_S = 1.0  # Binance takes a timestamp up to 1 s ahead of its clock (rest-api.md, timing security)


@dataclass(frozen=True, slots=True)
class Credentials:
    """API keys for a real venue; never in a repr, a log line or an error."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """A session: ``speed``, replay seconds per wall second; ``duration_s``, how long it trades
    (``None``: until ``stop``). ``credentials`` with ``venue`` in ``live`` mode make it a live
    session: real-time clock, ledger always resumed, risk limits capped to ``max_capital``."""

    duration_s: float | None = 30.0
    speed: float = 36_000.0
    warmup_bars: int = 100
    deposit: Decimal = Decimal(1000)
    data_dir: Path = Path("data/paper")
    fresh: bool = True
    venue_url: str | None = None  # an already running venue (``thunes venue serve``); else start one
    credentials: Credentials | None = None  # trade Binance with these keys instead (``venue``)
    venue: BinanceConfig | None = None  # which Binance the credentials trade (None: the spot testnet)
    max_capital: Decimal | None = None  # live: the risk limits are capped to it (composition.capped_limits)
    # Hourly in market time; in an accelerated replay that can be many times a second, so at most
    # once per this many wall seconds (the venue's request-weight budget is shared with trading).
    reconcile_min_interval_s: float = 2.0
    orphan_policy: OrphanPolicy = OrphanPolicy.CANCEL  # open venue orders the ledger does not know
    metrics_port: int | None = None  # Prometheus /metrics, /health, /ready here (0: any free port; None: off)
    metrics_host: str = "127.0.0.1"
    # Lockstep replay (embedded venue only): after each closed candle the venue waits for the trader,
    # and the session ends with the data; ``thunes parity`` compares it with a backtest.
    lockstep: bool = False
    bars: OHLCV | None = None  # the candles to replay instead of the configured data
    control_port: int | None = None  # the control API on 127.0.0.1 here (0: any free port; None: off)
    telegram: TelegramSettings | None = None  # Telegram alerts and commands (None: off)

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(f"duration_s must be positive or None, got {self.duration_s}")
        if self.venue is not None and self.credentials is None:
            raise ValueError("a Binance venue needs credentials")
        if not self.live:
            return
        if self.fresh:
            raise ValueError("a live session never wipes its ledger: fresh must be False")
        if self.max_capital is None:
            raise ValueError("a live session needs max_capital: its risk limits are capped to it")
        if self.lockstep or self.bars is not None or self.venue_url is not None:
            raise ValueError("a live session trades Binance's market: no lockstep, bars or venue_url")

    @property
    def live(self) -> bool:
        """Real money: Binance in live mode (wherever its endpoints point)."""
        return self.venue is not None and self.venue.mode == "live"

    @property
    def kind(self) -> SessionKind:
        """What the data directory is marked with: a paper or testnet one may be discarded, a live one never."""
        if self.live:
            return SessionKind.LIVE
        return SessionKind.PAPER if self.credentials is None else SessionKind.TESTNET


async def _equity(client: BinanceClient, quote: str, base: str, price: Decimal | None) -> Decimal:
    balances = await patiently(client.balances)
    free_q, locked_q = balances.get(quote, (Decimal(0), Decimal(0)))
    free_b, locked_b = balances.get(base, (Decimal(0), Decimal(0)))
    return free_q + locked_q + (free_b + locked_b) * (price or Decimal(0))


async def run_paper(
    settings: Settings,
    config: PaperConfig,
    on_bar: Callable[[PaperStatus], None],
    stop: asyncio.Event | None = None,
) -> PaperStatus:
    """Trade the configured strategy for ``config.duration_s`` (or until ``stop`` is set: SIGTERM)
    and return the final status; either way the stop is graceful (orders in doubt are settled).

    The venue is the embedded one (started here, replaying recorded candles), one already running
    (``venue_url``), or Binance (``credentials``: its spot testnet, or ``venue`` live): the trading
    code is the same. A live session must have passed ``live_safety``'s checks first.
    """
    bt = settings.backtest
    timeframe = Timeframe(bt.timeframe)
    gate = BarGate() if config.lockstep else None
    if config.credentials is None and config.venue_url is None and config.bars is None:
        # The embedded venue's candles are read and checked first: a bad file changes nothing on disk.
        source, _ = load_exchange_info_source(settings.rules, settings.data)
        loaded = load_bars(source.get(bt.symbol), timeframe, settings.data, path=bt.data_path)
        config = replace(config, bars=loaded.bars)
    prepare_session_dir(config.data_dir, config.kind, fresh=config.fresh)  # never deletes what it did not write
    with session_log(config.data_dir):  # every line from the configured level, as JSON, in the data directory
        return await _trade(settings, config, on_bar, stop, gate, timeframe)


async def _trade(settings: Settings, config: PaperConfig, on_bar: Callable[[PaperStatus], None],
                 stop: asyncio.Event | None, gate: BarGate | None, timeframe: Timeframe) -> PaperStatus:  # fmt: skip
    """The session itself, in its prepared data directory."""
    bt = settings.backtest
    safety = inspect_safety(config.data_dir)  # before this run writes its state: fresh, or whole, or not
    if safety.damaged:
        _log.error("risk_state_set_aside", kept=str(set_aside(config.data_dir / RISK_FILE)))
    client, running, first_ns, live_from_ns = await _connect(settings, config, gate)
    store = SqlStore(f"sqlite:///{config.data_dir / 'ledger.db'}")
    status = PaperStatus()
    closing = contextlib.ExitStack()  # the audit trail and the metrics endpoint, closed last
    try:
        telemetry = closing.enter_context(SessionTelemetry(config.metrics_host, config.metrics_port, status, on_bar))
        # The venue's own filters and request limits (the client budgets every call from them).
        instrument = (await patiently(client.exchange_info)).get(bt.symbol)
        status.tick_size, status.step_size = instrument.tick_size, instrument.step_size
        status.quote_precision = instrument.quote_precision
        if first_ns is None or live_from_ns is None:  # a market we did not start: what closed before now is history
            live_from_ns = (await patiently(lambda: client.forming_open_ms(instrument.symbol, timeframe))) * 1_000_000
            first_ns = live_from_ns - config.warmup_bars * timeframe.nanoseconds  # warm up on the latest candles
        clock: Clock = SystemClock() if config.live else ManualClock(first_ns)
        trader, orders, bus, recorder = _engine(settings, config, instrument, client, store, clock, closing,
                                                telemetry)  # fmt: skip
        inbox = ControlInbox(ControlFile(config.data_dir), trader, status)
        inbox.apply_pending()  # requests posted while no trader ran, before the start-up check's own
        _fail_closed(trader.risk, safety, recorder)
        start_operator(closing, bus, trader, store, status, config.data_dir, control_port=config.control_port,
                       telegram=config.telegram)  # fmt: skip
        await recover_session(trader, orders, store, lambda: last_close(client, instrument.symbol, timeframe))
        status.equity_start = telemetry.equity_baseline(
            await _equity(client, instrument.quote_asset, instrument.base_asset, None)
        )
        jobs = SessionJobs(trader, orders, client, store, status, config.data_dir, config.reconcile_min_interval_s,
                           config.orphan_policy)  # fmt: skip
        await jobs.reconcile()  # at start (SPEC §4), then hourly
        subscription = telemetry.trading(
            BinanceStreams(client).watch_klines(instrument.symbol, timeframe, since_ms=first_ns // 1_000_000)
        )
        marks = SessionMarks(config.data_dir, timeframe.nanoseconds, subscription.stats)
        marks.write(MarkKind.START, clock.now_ns(), status)
        loop = _Loop(trader, clock, status, telemetry, jobs, Checkpoint(config.data_dir / "checkpoint.json"),
                     inbox, gate, live_from_ns, marks,
                     clock.now_ns())  # fmt: skip
        finished = running.driver.finished if running is not None and config.lockstep else None
        await loop.run(subscription, stop, finished, config.duration_s)
        await subscription.aclose()
        await _settle(client, orders, trader, store, status)
        marks.write(MarkKind.STOP, clock.now_ns(), status)  # graceful only: a run without STOP crashed
        return status
    finally:
        await client.close()
        store.close()
        closing.close()
        if running is not None:
            await running.stop()


@dataclass(slots=True)
class _Loop:
    """The trading loop: one closed candle at a time, operator requests between candles."""

    trader: Trader
    clock: Clock  # a replay's ManualClock follows the candles; a live SystemClock, the wall
    status: PaperStatus
    telemetry: SessionTelemetry
    jobs: SessionJobs
    checkpoint: Checkpoint
    inbox: ControlInbox
    gate: BarGate | None
    live_from_ns: int  # candles opening before this are history: learned, never traded
    marks: SessionMarks
    jobs_from_ns: int  # the boundary jobs have run for every moment before this one

    async def run(self, bars: AsyncIterator[Bar], stop: asyncio.Event | None, finished: asyncio.Event | None,
                  duration_s: float | None) -> None:  # fmt: skip
        self.inbox.apply_pending()  # requests posted while no trader was running
        polling = asyncio.ensure_future(self.inbox.poll())
        try:
            await _until(self._consume(bars), [e for e in (stop, finished) if e is not None], duration_s)
        finally:
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling

    async def _consume(self, bars: AsyncIterator[Bar]) -> None:
        async for bar in bars:
            async with self.inbox.lock:  # operator requests land between bars, never inside one
                self.inbox.apply_pending()
                if isinstance(self.clock, ManualClock):  # a replay: the market's time is the candle's close
                    self.clock.set(max(self.clock.now_ns(), bar.close_time_ns))
                history = bar.open_time_ns < self.live_from_ns
                await _step(self.trader, bar, self.checkpoint, self.status, self.telemetry.on_bar, history=history)
                now = self.clock.now_ns()  # live: the wall, so the jobs cover the time between candles too
                await self.jobs.after_bar(self.jobs_from_ns, now)
                self.jobs_from_ns = now
                self.marks.write(MarkKind.BEAT, self.clock.now_ns(), self.status)
            if self.gate is not None:
                self.gate.done(bar.open_time_ns)


def _engine(
    settings: Settings,
    config: PaperConfig,
    instrument: Instrument,
    client: BinanceClient,
    store: SqlStore,
    clock: Clock,
    closing: contextlib.ExitStack,
    telemetry: SessionTelemetry,
) -> tuple[Trader, OrderManager, InMemoryBus, AuditRecorder]:
    """The engine core on a fresh bus: risk (persisted), execution (journaled), the trader, and the
    audit trail and the metrics subscribed to everything they publish; the bus, for the alerts."""
    venue = LIVE_VENUE if config.live else VENUE
    # live: the limits capped, so no order exceeds the capital cap; every call's outcome feeds the breaker
    spec = kernel_spec(settings, venue, max_capital=config.max_capital, remote=True,
                       settle_window_s=client.config.recv_window_ms / 1000 + _CLOCK_LEAD_S)  # fmt: skip
    kernel = build_kernel(spec, clock.now_ns, client, [(strategy_for(settings, instrument.tick_size), instrument)],
                          risk_store=JsonFileRiskStore(config.data_dir / "risk.json"), journal=store,
                          ledger=store)  # fmt: skip
    bus, risk, orders = kernel.bus, kernel.risk, kernel.orders
    trader = kernel.portfolio.trader(instrument.symbol)
    audit, audit_db = open_audit(config.data_dir)
    closing.callback(audit_db.close)
    closing.callback(audit.close)
    recorder = AuditRecorder(audit, audit_context(settings), risk.snapshot, clock.now_ns)
    recorder.attach(bus)
    bus.subscribe(ControlApplied, lambda _: recorder.record_switches())  # audited now, not at the next order
    telemetry.attach(bus, trader)
    return trader, orders, bus, recorder


def _fail_closed(risk: RiskEngine, safety: SafetyReport, recorder: AuditRecorder) -> None:
    """A missing, unreadable or contradictory safety state starts the session REDUCING, with the
    problems as the kill-switch's reason (audited, logged, shown by ``thunes status``): only a
    person turns it off."""
    if not safety.problems:
        return
    risk.activate_kill_switch(SAFETY_ACTOR, safety.reason)  # kept as is when it already was on
    recorder.record_switches()
    _log.error("safety_state_reducing", problems=list(safety.problems), trading_state=risk.trading_state.value)


async def _settle(
    client: BinanceClient, orders: OrderManager, trader: Trader, store: SqlStore, status: PaperStatus
) -> None:
    """A graceful stop settles orders left in doubt, then counts what the venue and ledger hold."""
    try:
        async with asyncio.timeout(10):
            await settle_in_doubt(trader, orders, store)
    except TimeoutError:  # the venue did not answer: the journal keeps them in doubt for the next start
        settle_reservations(trader, store)  # an entry the stop cut short holds no slot
        _log.error("orders_in_doubt_at_stop", client_order_ids=[str(e.request.client_order_id)
                                                                for e in store.unresolved()])  # fmt: skip
    instrument = trader.instrument
    status.equity_end = await _equity(client, instrument.quote_asset, instrument.base_asset, status.last_close)
    status.venue_trades = len(await patiently(lambda: client.my_trades(instrument.symbol, 0)))
    status.ledger_fills = len(store.fills(str(instrument.symbol)))


async def _connect(
    settings: Settings, config: PaperConfig, gate: BarGate | None
) -> tuple[BinanceClient, RunningVenue | None, int | None, int | None]:
    """The client for the session's venue, the embedded venue if this session runs it, the first
    candle to fetch and the first candle to trade (``None``, ``None``: a market we did not start)."""
    if config.credentials is not None:  # Binance: its spot testnet, or live
        keys, venue = config.credentials, config.venue or BinanceConfig("testnet")
        return BinanceClient(venue, keys.api_key, keys.api_secret), None, None, None
    if config.venue_url is not None:  # a venue already running: its history is whatever it has replayed
        rest_url = str(config.venue_url)
        client = BinanceClient(BinanceConfig("paper", rest_url, rest_url.replace("http", "ws", 1)),
                               PAPER_API_KEY, PAPER_API_SECRET)  # fmt: skip
        return client, None, None, None
    bt = settings.backtest
    source, _ = load_exchange_info_source(settings.rules, settings.data)
    bars = config.bars
    if bars is None:
        bars = load_bars(source.get(bt.symbol), Timeframe(bt.timeframe), settings.data, path=bt.data_path).bars
    first_ns = int(bars.open_time_ns[0])
    running = await _embedded_venue(source, source.get(bt.symbol), bars, config, gate, bt.fee_rate)
    client = BinanceClient(BinanceConfig("paper", running.rest_url, running.ws_url), PAPER_API_KEY, PAPER_API_SECRET)
    live_from = int(bars.open_time_ns[min(config.warmup_bars, len(bars) - 1)])  # the venue's history ends here
    return client, running, first_ns, live_from


async def _embedded_venue(
    source: ExchangeInfo,
    instrument: Instrument,
    bars: OHLCV,
    config: PaperConfig,
    gate: BarGate | None,
    fee_rate: Decimal,
) -> RunningVenue:
    """The venue on a free loopback port, replaying ``bars`` for the paper account, charging ``fee_rate``
    (``backtest.fee_rate``, what the backtests' venue charges: parity compares fees)."""
    single = ExchangeInfo({instrument.symbol: instrument}, source.rate_limits, None)
    state = build_state(single, bars.timeframe, fee_rate=fee_rate)
    state.add_api_key(PAPER_ACCOUNT, key=PAPER_API_KEY, secret=PAPER_API_SECRET)
    events = bar_events(bars, instrument.tick_size, instrument.step_size)
    speed = None if gate is not None else config.speed  # lockstep: as fast as the trader acts
    venue_config = VenueConfig(port=0, speed=speed, warmup_bars=config.warmup_bars)
    deposits = {PAPER_ACCOUNT: {instrument.quote_asset: config.deposit}}
    return await start(state, events, venue_config, deposits, gate=None if gate is None else gate.wait)


async def _step(
    trader: Trader,
    bar: Bar,
    checkpoint: Checkpoint,
    status: PaperStatus,
    on_bar: Callable[[PaperStatus], None],
    *,
    history: bool = False,
) -> None:
    if history or bar.open_time_ns <= checkpoint.last_bar_ns:
        trader.warm_up(bar)  # closed before the session, or traded before a restart: never decided on
        return
    await trader.on_bar(bar)
    checkpoint.save(bar.open_time_ns)
    _update(status, trader, bar)
    on_bar(status)


async def _until(work: Coroutine[Any, Any, None], stops: list[asyncio.Event], timeout_s: float | None) -> None:
    """Run ``work`` until it ends, one of ``stops`` is set, or ``timeout_s`` passes (``None``: never);
    then cancel it."""
    working = asyncio.ensure_future(work)
    stopping = [asyncio.ensure_future(e.wait()) for e in stops]
    await asyncio.wait({working, *stopping}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    for task in (working, *stopping):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
